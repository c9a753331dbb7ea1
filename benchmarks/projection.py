"""Exact vs bounded projection of a forgetting update onto the complement of the retain
directions, at research model sizes, side by side (issue 25).

Directions with the geometry of real ones. A real small model (the quickstart's MLP, hidden
128, p_real = 9,610, on the embedded digits, trained 3 epochs) gives 400 real retain
directions (``fedforget.unlearning.retain_directions``, 4 per client: the client's full-data
gradient and 3 mini-batch gradients of batch size 4 (digits gives each of the 100 IID clients
only ~17 samples)) and a real forgetting update (the ``oeu`` objective, 20 steps, on 60 samples).
With ``G = U S V^T`` (SVD of the 400 x p_real directions) and ``d``'s coordinates ``c = V^T d``
plus its residual norm ``rho``, directions of any size p are synthesised as
``g_i = (U S)_i Z`` and ``d = c Z + rho z_perp`` where the rows of ``Z`` (and ``z_perp``) are
unit vectors on disjoint coordinate blocks with Gaussian values. ``Z`` is orthonormal, so the
synthetic directions have exactly the real ones' Gram matrix (norms, pairwise cosines,
singular-value decay) and the update's exact angles to them; projection figures are invariant
under such an isometry. The first k directions (k/4 clients) are used for each k.

Each case runs in its own process (peak RSS from ``ru_maxrss``); directions are streamed one
client (4 directions) at a time, as the server receives them, and released. ``seconds`` counts
folding and projecting (wall clock), not building the directions; ``cpu_seconds`` is the
process's CPU time over the same span (both of its threads), which other work on a shared
machine does not inflate. ``max_abs_cos`` and ``first_order_ratio``
(definitions in :mod:`fedforget.unlearning.subspace`) are measured exactly after the timed
part, by streaming the same directions again; ``bound_*`` are the subspace's own upper bounds.
``fd`` (Frequent Directions, Liberty 2013) and ``rrf`` (a one-pass randomized range finder,
Halko et al. 2011) are the alternatives measured before choosing ``bounded`` (Gram-Schmidt).

Usage: python benchmarks/projection.py [--quick] [--rank 48] [--block 16] [--exact-limit-gb 10]
[--exact-limit-pk2 5e10] [--no-alternatives]
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from fedforget.config import ModelConfig, UnlearningConfig
from fedforget.data.datasets import load_digits_data
from fedforget.models.base import build_model
from fedforget.training.local import local_sgd
from fedforget.unlearning import UNLEARNERS, retain_directions
from fedforget.unlearning.subspace import RetainSubspace, exact_bytes
from fedforget.util.seeding import torch_gen

PER_CLIENT = 4


def real_geometry(k: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Coefficients of ``k`` real retain directions and a real forgetting update (module doc)."""
    data = load_digits_data()
    x = data.x.reshape(len(data), -1)
    data = type(data)(x, data.y, data.ids, data.num_classes)
    model = build_model(ModelConfig(name="mlp", hidden=128), (64,), 10, seed)
    local_sgd(model, data, lr=0.05, batch_size=32, gen=torch_gen(seed, "train"), epochs=3, momentum=0.9)
    order = torch.randperm(len(data), generator=torch_gen(seed, "split")).numpy()
    forget = data.take(order[:60])
    rows = []
    clients = np.array_split(order[60:], max(1, k // PER_CLIENT))
    for c, idx in enumerate(clients):
        rows.append(retain_directions(model, data.take(idx), PER_CLIENT, 4, torch_gen(seed, "retain", c)))
    g = torch.cat(rows)[:k].to(torch.float64)
    unl = UNLEARNERS.get("oeu")(UnlearningConfig(local_steps=20, lr=0.2))
    d = unl.forget_update(build_model(ModelConfig(name="mlp", hidden=128), (64,), 10, seed), forget, None,
                          torch_gen(seed, "forget")).to(torch.float64)
    u, s, vt = torch.linalg.svd(g, full_matrices=False)
    keep = s > s[0] * 1e-10
    coef, vt = (u[:, keep] * s[keep]), vt[keep]
    c = vt @ d
    rho = float((d - vt.T @ c).norm())
    return {"coef": coef.numpy(), "c": c.numpy(), "rho": np.array(rho), "s": s.numpy()}


class Synth:
    """Directions of size ``p`` with the real ones' Gram matrix (module docstring)."""

    def __init__(self, geom: dict[str, np.ndarray], p: int, seed: int = 0) -> None:
        self.coef = torch.from_numpy(geom["coef"]).to(torch.float32)
        n = self.coef.shape[1] + 1  # one block per component, the last for d's residual
        if p < n:
            raise ValueError(f"p must be >= {n} (one coordinate block per component), got {p}")
        self.p, self.n, self.s = p, n, p // n
        w = torch.randn(p, generator=torch_gen(seed, "basis"))
        blocks = w[: (n - 1) * self.s].view(n - 1, self.s)
        blocks /= blocks.norm(dim=1, keepdim=True)
        tail = w[(n - 1) * self.s :]
        tail /= tail.norm()
        self.w = w
        self.d = self._vec(torch.from_numpy(geom["c"]).to(torch.float32), float(geom["rho"]))

    def _vec(self, coef: torch.Tensor, last: float) -> torch.Tensor:
        cut = (self.n - 1) * self.s
        out = torch.empty(self.p)
        out[:cut].view(self.n - 1, self.s).copy_(self.w[:cut].view(self.n - 1, self.s) * coef.unsqueeze(1))
        out[cut:] = self.w[cut:] * last
        return out

    def client(self, c: int, k: int) -> torch.Tensor:
        lo, hi = c * PER_CLIENT, min(k, (c + 1) * PER_CLIENT)
        return torch.stack([self._vec(self.coef[i], 0.0) for i in range(lo, hi)])

    def clients(self, k: int) -> range:
        return range((k + PER_CLIENT - 1) // PER_CLIENT)


class FrequentDirections:
    """Frequent Directions (Liberty 2013) keeping ``rank`` rows: measured as an alternative."""

    def __init__(self, p: int, rank: int, block: int) -> None:
        self.rank, self.block, self.b = rank, block, torch.zeros(0, p)
        self.pending: list[torch.Tensor] = []

    def add(self, g: torch.Tensor) -> None:
        self.pending.extend(g / g.norm(dim=1, keepdim=True))
        if len(self.pending) >= self.block:
            self._fold()

    def _fold(self) -> None:
        if not self.pending:
            return
        a = torch.cat([self.b, torch.stack(self.pending)])
        self.pending = []
        lam, vec = torch.linalg.eigh((a @ a.T).double())
        lam, vec = lam.flip(0)[: self.rank].clamp_min(0), vec.flip(1)[:, : self.rank]
        delta = float(lam[-1]) if a.shape[0] > self.rank else 0.0
        keep = lam > 1e-12 * float(lam[0])
        rows = (vec[:, keep] / lam[keep].sqrt()).T.to(torch.float32) @ a  # right singular vectors
        self.b = rows * (lam[keep] - delta).clamp_min(0).sqrt().to(torch.float32).unsqueeze(1)
        self.q = torch.linalg.qr(rows.T).Q.T

    def project(self, d: torch.Tensor) -> torch.Tensor:
        self._fold()
        v = d.to(torch.float32)
        for _ in range(2):
            v = v - self.q.T @ (self.q @ v)
        return v


class RangeFinder:
    """One-pass randomized range finder (Halko et al. 2011): ``Y = sum_i omega_i g_i``."""

    def __init__(self, p: int, rank: int, seed: int = 0) -> None:
        self.y, self.gen = torch.zeros(rank, p), torch_gen(seed, "rrf")

    def add(self, g: torch.Tensor) -> None:
        g = g / g.norm(dim=1, keepdim=True)
        self.y.addmm_(torch.randn(self.y.shape[0], g.shape[0], generator=self.gen), g)

    def project(self, d: torch.Tensor) -> torch.Tensor:
        q = torch.linalg.qr(self.y.T).Q.T
        v = d.to(torch.float32)
        for _ in range(2):
            v = v - q.T @ (q @ v)
        return v


def run_case(geom_path: str, p: int, k: int, method: str, rank: int, block: int) -> dict[str, object]:
    """One case, in this process: stream, fold, project (timed), then exact figures."""
    geom = dict(np.load(geom_path))
    syn = Synth(geom, p)
    if method in ("exact", "bounded"):
        sub: object = RetainSubspace(p, method, rank=min(rank, p), block=block)  # type: ignore[arg-type]
        sub.set_reference(syn.d)  # type: ignore[attr-defined]
    else:
        sub = FrequentDirections(p, rank, block) if method == "fd" else RangeFinder(p, rank)
    seconds = cpu = 0.0
    for c in syn.clients(k):
        g = syn.client(c, k)
        t0, c0 = time.perf_counter(), time.process_time()
        sub.add(g)  # type: ignore[attr-defined]
        seconds, cpu = seconds + time.perf_counter() - t0, cpu + time.process_time() - c0
        del g
    t0, c0 = time.perf_counter(), time.process_time()
    dp = sub.project(syn.d).to(torch.float32)  # type: ignore[attr-defined]
    seconds, cpu = seconds + time.perf_counter() - t0, cpu + time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    num = den = mx = 0.0
    nd = float(dp.norm())
    for c in syn.clients(k):
        g = syn.client(c, k)
        num += float((g @ dp).abs().sum())
        den += float((g @ syn.d).abs().sum())
        mx = max(mx, float(((g @ dp).abs() / (g.norm(dim=1) * nd)).max()))
    row: dict[str, object] = {"p": p, "k": k, "method": method, "seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3),
                              "peak_rss_gb": round(peak, 3), "max_abs_cos": mx, "first_order_ratio": num / den}
    if isinstance(sub, RetainSubspace):
        err = sub.error(dp)
        row["rank"] = err["rank"]
        if method == "bounded":
            row["bound_max_abs_cos"] = err.get("max_abs_cos")
            row["bound_first_order_ratio"] = err.get("first_order_ratio")
    return row


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes (a test runs it in seconds)")
    ap.add_argument("--rank", type=int, default=48)
    ap.add_argument("--block", type=int, default=16)
    ap.add_argument("--exact-limit-gb", type=float, default=10.0, help="skip exact above this memory estimate")
    ap.add_argument("--exact-limit-pk2", type=float, default=5e10,
                    help="skip exact when p * k^2 exceeds this (its SVD solve: 54 s at p=0.1M, k=400 here)")
    ap.add_argument("--no-alternatives", action="store_true", help="skip fd and rrf (measured at p=1.2M)")
    ap.add_argument("--case", nargs=4, metavar=("GEOM", "P", "K", "METHOD"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.case:
        print(json.dumps(run_case(a.case[0], int(a.case[1]), int(a.case[2]), a.case[3], a.rank, a.block)))
        return []
    logging.basicConfig(level=logging.WARNING)
    ps, ks = ([20_000], [8, 40]) if a.quick else ([100_000, 1_200_000, 11_200_000], [8, 40, 400])
    rank = 16 if a.quick else a.rank
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        geom_path = str(Path(tmp) / "geom.npz")
        np.savez(geom_path, **real_geometry(max(ks)))
        for p in ps:
            for k in ks:
                methods = ["exact", "bounded"] + (["fd", "rrf"] if p == 1_200_000 and not a.no_alternatives else [])
                for m in methods:
                    est = exact_bytes(k, p) / 2**30
                    if m == "exact" and est > a.exact_limit_gb:
                        rows.append({"p": p, "k": k, "method": m, "skipped": f"memory estimate {est:.1f} GB > "
                                     f"--exact-limit-gb {a.exact_limit_gb:g}"})
                        continue
                    if m == "exact" and p * k * k > a.exact_limit_pk2:
                        rows.append({"p": p, "k": k, "method": m, "skipped": f"time: p k^2 = {p * k * k:.1e} > "
                                     f"--exact-limit-pk2 {a.exact_limit_pk2:.0e} (~{54 * p * k * k / 1.6e10:.0f} s)"})
                        continue
                    if a.quick:  # in this process: the peak RSS column is then the whole run's
                        rows.append(run_case(geom_path, p, k, m, rank, a.block))
                        continue
                    cmd = [sys.executable, __file__, "--case", geom_path, str(p), str(k), m,
                           "--rank", str(rank), "--block", str(a.block)]
                    proc = subprocess.run(cmd, capture_output=True, text=True)
                    if proc.returncode:
                        raise RuntimeError(f"case p={p} k={k} {m} failed:\n{proc.stderr}")
                    rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
                    logging.getLogger("projection").warning("%s", rows[-1])
    print("\n| p | k | method | seconds | CPU s | peak RSS GB | max abs cos | first-order ratio | bound cos | bound ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "skipped" in r:
            print(f"| {r['p']:,} | {r['k']} | {r['method']} | skipped: {r['skipped']} | | | | | | |")
            continue
        b1, b2 = r.get("bound_max_abs_cos"), r.get("bound_first_order_ratio")
        print(f"| {r['p']:,} | {r['k']} | {r['method']} | {r['seconds']:.2f} | {r.get('cpu_seconds', '-')} | "
              f"{r['peak_rss_gb']:.2f} | "
              f"{r['max_abs_cos']:.2e} | {r['first_order_ratio']:.2e} | "
              f"{'-' if b1 is None else f'{b1:.2e}'} | {'-' if b2 is None else f'{b2:.2e}'} |")
    print(json.dumps({"rank": rank, "block": a.block, "rows": rows}))
    return rows


if __name__ == "__main__":
    main()
