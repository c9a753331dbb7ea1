"""Per-round time and peak memory against the number of clients: a plain PyTorch FedAvg
loop vs fedforget's in-process federation vs fedforget on Flower + Ray.

The same work at every size: synthetic data, 60 samples per client (64 features, 10
classes, iid), an MLP, ``--rounds`` FedAvg rounds with every client, one local epoch.
Each measurement runs in a fresh subprocess while this script samples the resident
memory of that process and all its children (Ray's raylet, GCS and actors included)
every 0.2 s; the peak is reported. Framework time per client message = (per-round time
- plain loop's per-round time) / clients per round.

Prints a table, writes ``docs/performance_scale.png`` (time per round vs clients) and one
JSON line with every figure. Usage: python benchmarks/scale.py [--clients 10 100 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODES = ("plain", "inprocess", "ray")


def scale_config(n_clients: int, rounds: int, backend: str):
    from fedforget.config import load_config

    ov = [
        "name=scale_bench", "data.name=synthetic", f"data.synthetic_samples={60 * n_clients + 6000}",
        "data.synthetic_features=64", "data.synthetic_classes=10", "data.test_fraction=0.05",
        "data.nonmember_fraction=0.05", f"partition.num_clients={n_clients}", "partition.scheme=iid",
        "partition.min_partition_size=1", "model.name=mlp", "model.hidden=64", f"training.rounds={rounds}",
        "training.local_epochs=1", "training.clients_per_round=1.0", "deletion.requests=[{granularity: client, client: 0}]",
        "deletion.backdoor.enabled=false", "unlearning.rounds=1", "unlearning.recovery_rounds=0",
        "evaluation.retrain=false", "evaluation.every_round=false", "evaluation.attacks=[loss]",
        f"runtime.backend={backend}",
    ]
    return load_config(ROOT / "configs" / "quickstart.yaml", ov)


def run_one(mode: str, n_clients: int, rounds: int) -> dict:
    """One measurement (in this process); returns per-round seconds and extras."""
    import torch

    torch.set_num_threads(1)
    cfg = scale_config(n_clients, rounds, "inprocess" if mode == "plain" else mode)
    if mode == "plain":
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from overhead import plain_loop

        s, acc = plain_loop(cfg)
        return {"round_s": s / rounds, "test_acc": acc}
    from fedforget.runtime import run_experiment

    with tempfile.TemporaryDirectory() as d:
        res = run_experiment(cfg, Path(d), write_report=False)
    ph = res["phases"]
    return {"round_s": ph["train"]["time_s"] / rounds, "test_acc": res["models"]["original"]["test_acc"],
            **{f"{k}_s": ph.get(k, {}).get("time_s") for k in ("ray_start", "engine_start", "connect", "setup", "ray_stop")},
            "final_evaluation_s": ph["final_evaluation"]["time_s"], "total_s": res["total_time_s"]}


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants (Linux /proc; 0 elsewhere)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            rss[int(d.name)] = int((d / "statm").read_text().split()[1]) * page
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d.name))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo += children.get(p, [])
    return total


def measure(mode: str, n_clients: int, rounds: int) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        cmd = [sys.executable, __file__, "--one", mode, str(n_clients), str(rounds), f.name]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, tree_rss(proc.pid))
            time.sleep(0.2)
        if proc.returncode != 0:
            raise SystemExit(f"{mode} at {n_clients} clients failed (exit {proc.returncode}); rerun: {' '.join(cmd)}")
        out = json.loads(Path(f.name).read_text())
    out.update(peak_rss_mb=peak / 2**20, process_wall_s=time.perf_counter() - t0)
    return out


def plot(results: dict, clients: list[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    labels = {"plain": "plain PyTorch loop", "inprocess": "in-process federation", "ray": "Flower + Ray"}
    for mode in MODES:
        ax.plot(clients, [results[mode][n]["round_s"] for n in clients], marker="o", label=labels[mode])
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("clients (all train every round)")
    ax.set_ylabel("seconds per FedAvg round")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, nargs="+", default=[10, 100, 1000])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    ap.add_argument("--plot", default=str(ROOT / "docs" / "performance_scale.png"))
    ap.add_argument("--one", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:  # child: one measurement, result to a file
        mode, n, rounds, path = args.one
        Path(path).write_text(json.dumps(run_one(mode, int(n), int(rounds))))
        return
    results: dict[str, dict[int, dict]] = {m: {} for m in args.modes}
    for n in args.clients:
        for mode in args.modes:
            results[mode][n] = measure(mode, n, args.rounds)
    print(f"\nFedAvg rounds with every client, 60 samples each (synthetic 64-d, MLP), {args.rounds} rounds\n")
    print("| clients | run | s / round | ratio to plain | framework ms / client msg | peak RSS all processes MB |")
    print("|---|---|---|---|---|---|")
    for n in args.clients:
        base = results["plain"][n]["round_s"] if "plain" in results else None
        for mode in args.modes:
            r = results[mode][n]
            ratio = f"{r['round_s'] / base:.2f}" if base else ""
            per_msg = f"{1000 * (r['round_s'] - base) / n:.2f}" if base and mode != "plain" else ""
            r["framework_ms_per_msg"] = float(per_msg) if per_msg else None
            print(f"| {n} | {mode} | {r['round_s']:.3f} | {ratio} | {per_msg} | {r['peak_rss_mb']:.0f} |")
    if set(MODES) <= set(args.modes) and args.plot:
        plot(results, args.clients, Path(args.plot))
        print(f"\nplot: {args.plot}")
    print(json.dumps({"rounds": args.rounds, "results": {m: {str(n): v for n, v in d.items()} for m, d in results.items()}}))


if __name__ == "__main__":
    main()
