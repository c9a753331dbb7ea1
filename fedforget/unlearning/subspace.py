"""The retain subspace as an object: retain directions are folded in as they arrive (client by
client), the forgetting update is projected onto its orthogonal complement, and the subspace
says how far from exact the projection is.

Two methods (``unlearning.subspace.method``):

* ``exact`` keeps every direction and projects with
  :func:`~fedforget.unlearning.projection.project_orthogonal` (float64 least squares): the
  projected update is orthogonal to every received direction up to rounding. Its memory grows
  with the number of directions ``k`` (about 5 x the float32 directions at the solve), so it is
  what small runs use.
* ``bounded`` keeps an orthonormal basis ``Q`` of at most ``rank`` rows (float32, on the
  model's device) built by incremental block Gram-Schmidt with re-orthogonalisation (CGS2,
  Giraud et al., "Rounding error analysis of the classical Gram-Schmidt orthogonalization
  process", Numer. Math. 2005) and rank-revealing drops: directions are buffered ``block`` at
  a time; each block is normalised, orthogonalised twice against ``Q``, and the eigenvectors
  of its residual Gram matrix whose residual norm exceeds ``tol`` (largest first) join the
  basis while it has room. What does not fit is dropped and counted. Memory:
  ``(rank + block) x p`` floats, whatever the number of clients. Chosen over Frequent
  Directions and a streaming randomized range finder from the figures of
  ``benchmarks/projection.py`` (docs/performance.md): the basis only grows, so the residual of
  a direction measured when it is folded bounds its residual against the final basis, which
  gives the error figures below without storing any direction.

Error figures (:meth:`RetainSubspace.error`), for the projected update ``d' = P d`` of the
unprojected update ``d`` (set with :meth:`RetainSubspace.set_reference` before folding) and
the received directions ``g_i`` (after the mask):

* ``max_abs_cos = max_i |g_i . d'| / (||g_i|| ||d'||)``;
* ``first_order_ratio = sum_i |g_i . d'| / sum_i |g_i . d|``: the first-order increase of the
  retain losses left by the projection, relative to the unprojected update's (0 = exact, 1 =
  no projection).

``exact`` computes both from its stored directions. ``bounded`` reports upper bounds from
running statistics: with ``r_i`` the residual of ``g_i / ||g_i||`` against the basis when it was
folded (the basis only grows, so ``|g_i . d'| <= ||g_i|| r_i ||d'||``),
``max_abs_cos <= max_i r_i`` and ``first_order_ratio <= ||d'|| sum_i ||g_i|| r_i / sum_i |g_i . d|``.
Once the basis is full a fold costs one GEMM: ``r_i = sqrt(1 - ||Q g_i||^2 / ||g_i||^2)``, exact up
to float32 rounding of the coordinates (about 1e-3 absolute where ``r_i`` is near 0); every
``r_i`` is floored at float32 rounding, ``4 eps sqrt(p)``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import torch

from fedforget.config import SubspaceConfig
from fedforget.unlearning.projection import max_abs_cosine, project_orthogonal
from fedforget.util.errors import ConfigError

Method = Literal["exact", "bounded"]


def exact_bytes(k: int, p: int) -> int:
    """Peak bytes of an exact projection of ``k`` float32 directions of size ``p``: the
    directions as received plus the float64 copy, its normalised copy and the solver's
    workspace (measured at about 5 x the float32 directions, docs/performance.md)."""
    return 5 * 4 * k * p + 64 * p


def bounded_bytes(rank: int, block: int, p: int) -> int:
    """Peak bytes of a bounded subspace: the basis, one block of directions and a few vectors."""
    return 4 * (rank + block) * p + 64 * p


def available_bytes() -> int:
    """The machine's available memory (``MemAvailable`` of /proc/meminfo; 0 when unknown)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def plan_method(sc: SubspaceConfig, k: int, p: int, max_server_memory_gb: float = 0.0) -> Method:
    """The method a round with up to ``k`` retain directions of size ``p`` uses: ``sc.method``,
    or for ``auto`` exact when its estimate fits, else bounded. Raises :class:`ConfigError`
    before the round when the rank cannot hold or the estimate exceeds the memory limit
    (``runtime.max_server_memory_gb``, or the machine's available memory when 0)."""
    limit = int(max_server_memory_gb * 2**30) if max_server_memory_gb > 0 else available_bytes()
    exact, bounded = exact_bytes(k, p), bounded_bytes(min(sc.rank, p), sc.block, p)
    method: Method = "exact" if sc.method == "exact" or (sc.method == "auto" and (not limit or exact <= limit)) \
        else "bounded"
    if method == "bounded" and not 1 <= sc.rank <= p:
        raise ConfigError(f"unlearning.subspace.rank must be an int in [1, {p}] (the model's parameter count), "
                          f"got {sc.rank}")
    need = exact if method == "exact" else bounded
    if limit and need > limit:
        where = (f"runtime.max_server_memory_gb = {max_server_memory_gb:g}" if max_server_memory_gb > 0
                 else "the machine's available memory")
        fix = ("set unlearning.subspace.method: bounded (or auto)" if method == "exact" else
               f"lower unlearning.subspace.rank ({sc.rank}) or unlearning.subspace.block ({sc.block})")
        fit = max(1, int((limit - 64 * p) / (4 * p)) - sc.block)
        raise ConfigError(
            f"the {method} retain projection of {k} directions x {p:,} parameters needs an estimated "
            f"{need / 2**30:.2f} GB, more than {where} ({limit / 2**30:.2f} GB): {fix}"
            + (f" (rank <= {fit} fits)" if method == "bounded" else "") + ", or raise runtime.max_server_memory_gb"
        )
    return method


def _orthonormalize_rows_(y: torch.Tensor, scratch: torch.Tensor) -> None:
    """Make the rows of ``y`` (n, p), already nearly orthonormal, orthonormal in place:
    Cholesky QR twice, through ``scratch`` (at least n rows of p; overwritten)."""
    n = y.shape[0]
    for _ in range(2):
        t = torch.linalg.inv(torch.linalg.cholesky((y @ y.T).double())).to(y.dtype)
        torch.mm(t, y, out=scratch[:n])
        y.copy_(scratch[:n])


class RetainSubspace:
    """Retain directions folded in as they arrive; see the module docstring."""

    def __init__(
        self, p: int, method: Method = "exact", rank: int = 64, block: int = 16, tol: float = 1e-3,
        device: torch.device | str = "cpu", mask: torch.Tensor | None = None,
    ) -> None:
        if method not in ("exact", "bounded"):
            raise ValueError(f"method must be 'exact' or 'bounded', got {method!r}")
        if not 1 <= rank <= p:
            raise ValueError(f"rank must be an int in [1, {p}] (the number of parameters), got {rank}")
        self.p, self.method, self.rank, self.block, self.tol = p, method, rank, max(1, block), tol
        self.device = torch.device(device)
        self.mask = None if mask is None else mask.reshape(-1).to(self.device, torch.float32)
        self._ref: torch.Tensor | None = None  # the unprojected update (float32), for the figures
        self._stored: list[torch.Tensor] = []  # exact: every direction as received
        self._buf: torch.Tensor | None = None  # bounded: the pending block (block, p), allocated once
        self._n = 0  # rows pending in _buf
        self._q: torch.Tensor | None = None  # bounded: (rank, p) basis, first self.m rows in use
        self.m = 0
        self.received = 0  # directions folded (nonzero after the mask)
        self.dropped = 0  # directions not fully inside the basis (residual > tol after their fold)
        self._max_res = 0.0  # running statistics of the bounded method (module docstring)
        self._sum_norm_res = 0.0
        self._sum_abs_ref = 0.0

    # -- folding ---------------------------------------------------------------------------
    def set_reference(self, d: torch.Tensor) -> None:
        """The unprojected update ``d``: its dot products with each direction are recorded as
        directions arrive (the denominator of ``first_order_ratio``)."""
        self._ref = self._masked(d.reshape(-1).to(self.device, torch.float32))

    def add(self, directions: torch.Tensor) -> None:
        """Fold in one client's directions (rows, or one flat vector). The caller may release
        them afterwards: ``bounded`` keeps at most ``block`` of them until the next fold."""
        g = directions.reshape(-1, self.p).to(self.device, torch.float32)
        if self.method == "exact":  # as received: project_orthogonal applies the mask
            self.received += g.shape[0]
            if self._ref is not None:  # the reference is masked: g . ref = (g * mask) . ref
                self._sum_abs_ref += float((g @ self._ref).abs().sum())
            self._stored.append(g)
            return
        if self._buf is None:
            self._buf = torch.empty(self.block, self.p, device=self.device, dtype=torch.float32)
        for row in g:  # copied into the preallocated block: no allocation per direction
            dst = self._buf[self._n]
            dst.copy_(row)
            if self.mask is not None:
                dst.mul_(self.mask)
            if not float(dst.norm()) > 0:
                continue
            self.received += 1
            if self._ref is not None:
                self._sum_abs_ref += abs(float(dst @ self._ref))
            self._n += 1
            if self._n == self.block:
                self._fold()

    def _masked(self, v: torch.Tensor) -> torch.Tensor:
        return v if self.mask is None else v * self.mask

    def _fold(self) -> None:
        """Fold the pending block into the basis (CGS2, rank-revealing drops)."""
        if not self._n:
            return
        b = self._buf[: self._n]  # type: ignore[index]
        self._n = 0
        norms = b.norm(dim=1)
        b.div_(norms.unsqueeze(1))
        if self.m == self.rank:  # full: nothing joins, so only the residual norms (one GEMM)
            c = (b @ self._q.T).double()  # type: ignore[union-attr]
            res = (1.0 - (c * c).sum(dim=1)).clamp_min(0.0).sqrt().to(torch.float32)
            self._account(norms, res)
            return
        if self.m:
            q = self._q[: self.m]  # type: ignore[index]
            for _ in range(2):  # twice is enough (Giraud et al. 2005)
                b.addmm_(b @ q.T, q, alpha=-1.0)
        res = b.norm(dim=1)
        room = self.rank - self.m
        if room > 0:
            gram = (b @ b.T).double()
            lam, vec = torch.linalg.eigh(gram)
            order = torch.argsort(lam, descending=True)
            sel = [int(j) for j in order if math.sqrt(max(float(lam[j]), 0.0)) > self.tol][:room]
            if sel:  # written straight into the basis rows: no (n, p) temporaries
                if self._q is None:
                    self._q = torch.empty(self.rank, self.p, device=self.device, dtype=torch.float32)
                new = self._q[self.m : self.m + len(sel)]
                torch.mm((vec[:, sel] / lam[sel].sqrt()).T.to(torch.float32), b, out=new)
                # each direction's residual against the new rows, from the eigenpairs left out:
                # b_i = sum_j sqrt(lam_j) vec_ij y_j, so |residual_i|^2 = sum_(j not kept) lam_j vec_ij^2
                out = [j for j in range(len(lam)) if j not in sel]
                res = (lam[out].clamp_min(0) * vec[:, out] ** 2).sum(dim=1).sqrt().to(torch.float32)
                if self.m:  # once more against the basis, then orthonormal among themselves
                    new.addmm_(new @ q.T, q, alpha=-1.0)
                _orthonormalize_rows_(new, scratch=b)  # the block is no longer needed
                self.m += len(sel)
        self._account(norms, res)

    def _account(self, norms: torch.Tensor, res: torch.Tensor) -> None:
        self.dropped += int((res > self.tol).sum())
        # float32 rounding floor: residuals computed as exactly 0 still carry rounding
        res = res.clamp_min(4 * torch.finfo(torch.float32).eps * math.sqrt(self.p))
        self._max_res = max(self._max_res, float(res.max()))
        self._sum_norm_res += float((norms * res).sum())

    # -- projecting ------------------------------------------------------------------------
    def project(self, d: torch.Tensor) -> torch.Tensor:
        """``d`` projected onto the orthogonal complement of the subspace (inside the mask),
        in ``d``'s dtype and device."""
        if self.method == "exact":
            g = torch.cat(self._stored) if self._stored else None
            out = project_orthogonal(d.reshape(-1), g, mask=self.mask)
            return out.to(d.device)
        self._fold()
        v = self._masked(d.reshape(-1).to(self.device, torch.float32))
        if self.m:
            q = self._q[: self.m]  # type: ignore[index]
            for _ in range(2):
                v = v - q.T @ (q @ v)
        return v.to(d.device, d.dtype)

    def error(self, d_proj: torch.Tensor) -> dict[str, float | int | bool]:
        """How far from exact the projection ``d_proj`` is (module docstring): exact figures
        for ``exact``, upper bounds (``bound: True``) for ``bounded``."""
        out: dict[str, float | int | bool] = {
            "directions": self.received, "rank": self.m if self.method == "bounded" else self.received,
            "bound": self.method == "bounded",
        }
        if self.received == 0:
            return out
        v = d_proj.reshape(-1).to(self.device)
        if self.method == "exact":
            g = torch.cat(self._stored)
            out["max_abs_cos"] = max_abs_cosine(v, g)
            if self._ref is not None and self._sum_abs_ref > 0:
                out["first_order_ratio"] = float((g.to(torch.float64) @ v.to(torch.float64)).abs().sum()) / self._sum_abs_ref
            return out
        v = v.to(torch.float32)
        out["dropped"] = self.dropped
        out["max_abs_cos"] = min(1.0, self._max_res)
        if self._ref is not None and self._sum_abs_ref > 0:
            out["first_order_ratio"] = float(v.norm()) * self._sum_norm_res / self._sum_abs_ref
        return out

    def nbytes(self) -> int:
        """Bytes the subspace holds now (basis and pending or stored directions)."""
        held = sum(t.numel() for t in self._stored) * 4 + (0 if self._buf is None else self._buf.numel() * 4)
        return held + (0 if self._q is None else self.m * self.p * 4)


class PerLayerSubspace:
    """``unlearning.projection: per_layer``: one :class:`RetainSubspace` per parameter tensor
    (``segments``: its ``(start, end)`` in the flat vector); each slice of the update is
    projected onto the complement of the same slices of the directions. Orthogonal to every
    whole direction too (``g . d' = sum_l g_l . d'_l = 0``), and a stronger constraint than the
    global projection. Bounded memory: ``rank`` rows per tensor, at most ``(rank + block) x p``."""

    def __init__(self, segments: list[tuple[int, int]], method: Method = "exact", rank: int = 48, block: int = 16,
                 tol: float = 1e-3, device: torch.device | str = "cpu", mask: torch.Tensor | None = None) -> None:
        self.segments, self.method = segments, method
        self.p = segments[-1][1] if segments else 0
        self.parts = [
            RetainSubspace(b - a, method, min(rank, b - a), block, tol, device, None if mask is None else mask[a:b])
            for a, b in segments
        ]
        self.device = torch.device(device)
        self._ref: torch.Tensor | None = None
        self._sum_abs_ref = 0.0
        self.received = 0

    def set_reference(self, d: torch.Tensor) -> None:
        for part, (a, b) in zip(self.parts, self.segments, strict=True):
            part.set_reference(d.reshape(-1)[a:b])
        self._ref = torch.cat([part._ref for part in self.parts])  # type: ignore[misc]

    def add(self, directions: torch.Tensor) -> None:
        g = directions.reshape(-1, self.p).to(self.device, torch.float32)
        self.received += g.shape[0]
        if self._ref is not None:
            mask = None if self.parts[0].mask is None else torch.cat([part.mask for part in self.parts])  # type: ignore[misc]
            self._sum_abs_ref += float(((g if mask is None else g * mask) @ self._ref).abs().sum())
        for part, (a, b) in zip(self.parts, self.segments, strict=True):
            part.add(g[:, a:b])

    def project(self, d: torch.Tensor) -> torch.Tensor:
        flat = d.reshape(-1)
        return torch.cat([part.project(flat[a:b]) for part, (a, b) in zip(self.parts, self.segments, strict=True)])

    def error(self, d_proj: torch.Tensor) -> dict[str, float | int | bool]:
        """The module's figures for the whole update (bounds for ``bounded``: ``max_abs_cos``
        <= the largest per-tensor residual, ``first_order_ratio`` <= ``sum_l ||d'_l||
        sum_i ||g_il|| r_il / sum_i |g_i . d|``)."""
        v = d_proj.reshape(-1)
        out: dict[str, float | int | bool] = {
            "directions": self.received, "rank": sum(part.m if self.method == "bounded" else part.received
                                                     for part in self.parts), "bound": self.method == "bounded"}
        if self.received == 0:
            return out
        if self.method == "exact":
            dots = torch.zeros(self.received, dtype=torch.float64)
            sq = torch.zeros(self.received, dtype=torch.float64)
            for part, (a, b) in zip(self.parts, self.segments, strict=True):
                g = torch.cat(part._stored).to(torch.float64)
                dots += g @ v[a:b].to(g.device, torch.float64)
                sq += (g * g).sum(dim=1)
            nv = float(v.to(torch.float64).norm())
            out["max_abs_cos"] = 0.0 if nv == 0 else float((dots.abs() / (sq.sqrt().clamp_min(1e-300) * nv)).max())
            num = float(dots.abs().sum())
        else:
            out["max_abs_cos"] = min(1.0, max(part._max_res for part in self.parts))
            num = sum(float(v[a:b].norm()) * part._sum_norm_res
                      for part, (a, b) in zip(self.parts, self.segments, strict=True))
        if self._ref is not None and self._sum_abs_ref > 0:
            out["first_order_ratio"] = num / self._sum_abs_ref
        return out


def make_subspace(
    sc: SubspaceConfig, projection: str, method: Method, segments: list[tuple[int, int]],
    device: torch.device | str = "cpu", mask: torch.Tensor | None = None,
) -> RetainSubspace | PerLayerSubspace:
    """The subspace a round folds its retain directions into (``unlearning.subspace`` and
    ``unlearning.projection``; ``method`` from :func:`plan_method`)."""
    if projection == "per_layer":
        return PerLayerSubspace(segments, method, sc.rank, sc.block, sc.tol, device, mask)
    p = segments[-1][1]
    return RetainSubspace(p, method, min(sc.rank, p), sc.block, sc.tol, device, mask)


def projection_metrics(sub: RetainSubspace | PerLayerSubspace, update: torch.Tensor) -> dict[str, Any]:
    """The round's projection figures for metrics.jsonl: ``proj_max_cos`` and
    ``proj_first_order_ratio`` (exact, or upper bounds when ``proj_bound``), the directions
    received and the rank kept (the module docstring)."""
    err = sub.error(update)
    out: dict[str, Any] = {"proj_method": sub.method, "proj_directions": err["directions"], "proj_rank": err["rank"]}
    if "max_abs_cos" in err:
        out["proj_max_cos"] = err["max_abs_cos"]
    if "first_order_ratio" in err:
        out["proj_first_order_ratio"] = err["first_order_ratio"]
    if err["bound"]:
        out["proj_bound"] = True
    return out
