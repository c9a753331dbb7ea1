"""Client faults: a federation where clients fail at random still serves every deletion.

The quickstart federation (digits, 10 clients, in process) runs twice from the same seed:
without faults, and with a random fault schedule (each client raises in each training,
unlearning and recovery round with probability ``--p``; half of those also fail their
retry and are left out of the round) plus the forget client hanging past
``runtime.client_timeout_s`` twice in the first unlearning round (left out, served by a
make-up round). Prints faults injected / attempts failed / clients left out / make-up
rounds / requests lost (must be 0), wall time and the ratio to the fault-free run (the
faster of two fault-free runs, one before and one after), and the unlearned model's
numbers next to the fault-free ones; then one JSON line. Left-out clients do no work, so
the ratio is the hang's cost (2 x 5.5 s) less the skipped work.

Usage: python benchmarks/faults.py [--p 0.1] [--seed 0] [--rounds 10]
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from fedforget.config import load_config
from fedforget.runtime import run_experiment

ROOT = Path(__file__).resolve().parents[1]


def fault_schedule(num_clients: int, rounds: dict[str, int], p: float, seed: int, forget_client: int,
                   hang_s: float) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    faults: list[dict[str, Any]] = []
    for phase, n in rounds.items():
        for r in range(1, n + 1):
            for c in range(num_clients):
                if (phase, r, c) == ("unlearn", 1, forget_client):
                    continue
                if rng.random() < p:
                    faults.append({"client": c, "phase": phase, "round": r, "kind": "raise",
                                   "times": int(rng.integers(1, 3))})
    faults.append({"client": forget_client, "phase": "unlearn", "round": 1, "kind": "hang", "hang_s": hang_s, "times": 2})
    return faults


def run(overrides: list[str]) -> tuple[dict[str, Any], float]:
    cfg = load_config(ROOT / "configs" / "quickstart.yaml", overrides)
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        res = run_experiment(cfg, Path(d), write_report=False)
        return res, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--p", type=float, default=0.1, help="per client and round probability of a fault")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=10, help="training rounds")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    base = [f"training.rounds={args.rounds}", "runtime.backend=inprocess", "evaluation.retrain=false",
            "evaluation.attacks=[loss]", "runtime.client_timeout_s=5"]
    cfg = load_config(ROOT / "configs" / "quickstart.yaml", base)
    uc = cfg.unlearning
    forget_client = cfg.deletion.requests[0].client
    rounds = {"train": args.rounds, "unlearn": uc.rounds, "recover": uc.recovery_rounds}
    faults = fault_schedule(cfg.partition.num_clients, rounds, args.p, args.seed, forget_client, hang_s=5.5)
    clean, t_clean = run(base)  # also warms the process-wide data cache
    faulty, t_faulty = run([*base, "runtime.faults=" + json.dumps(faults)])
    t_clean = min(t_clean, run(base)[1])  # the fault-free run again, after the faulty one
    f = faulty["faults"]
    messages = cfg.partition.num_clients * sum(rounds.values())
    print(f"{len(faults)} fault specs over {messages} client-rounds (p={args.p}), forget client {forget_client}\n")
    print("| run | wall s | ratio | injected | failed attempts | retried ok | left out | make-up rounds | requests lost "
          "| test acc | forget acc |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, res, t in (("no faults", clean, t_clean), ("faults", faulty, t_faulty)):
        g = res["faults"]
        u = res["models"]["unlearned"]
        print(f"| {name} | {t:.1f} | {t / t_clean:.2f} | {g['injected']} | {g['failed_attempts']} | {g['retried_ok']} "
              f"| {g['left_out']} | {g['makeup_rounds']} | {g['requests_lost']} | {u['test_acc']:.3f} | {u['forget_acc']:.3f} |")
    print(json.dumps({"benchmark": "faults", "p": args.p, "seed": args.seed, "fault_specs": len(faults), **f,
                      "wall_s_clean": round(t_clean, 2), "wall_s_faults": round(t_faulty, 2),
                      "ratio": round(t_faulty / t_clean, 3), "served": faulty["forget"]["clients"],
                      "forget_acc_clean": clean["models"]["unlearned"]["forget_acc"],
                      "forget_acc_faults": faulty["models"]["unlearned"]["forget_acc"]}))


if __name__ == "__main__":
    main()
