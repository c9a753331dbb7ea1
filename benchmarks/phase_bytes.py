"""Bytes on the wire per phase, compressed clients vs float32, on the quickstart federation.

Runs the quickstart (in process: bytes do not depend on the backend) as float32 and as
each compressed variant, and prints every phase's bytes per round (down + up) as a share
of the float32 run's same phase (per round: the calibrated float32 quickstart runs 8
unlearning rounds, the compressed ones 5). Targets (issue 9): int8 <= 30%, int4 <= 16%, 90% sparse <= 25%
in every phase (sparse50 is shown without a target). Prints a table and one JSON line,
which also holds each variant's training rounds as shares of a float32 round (a gradual
pruning schedule sends its first rounds nearly dense). Usage: python benchmarks/phase_bytes.py
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

from fedforget.config import load_config
from fedforget.runtime import run_experiment

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = {  # the repository's compressed quickstarts (same federation, seeds, rounds)
    "int8": ("quickstart_int8.yaml", 0.30),
    "int4": ("quickstart_int4.yaml", 0.16),
    "sparse90": ("quickstart_sparse90.yaml", 0.25),
    "sparse50": ("quickstart_sparse50.yaml", None),
}
PHASES = ("train", "unlearn", "recover", "retrain")
BASE = ["runtime.backend=inprocess", "evaluation.every_round=false", "evaluation.attacks=[loss]"]


def phase_bytes(config: str) -> tuple[dict[str, float], list[int]]:
    """Bytes (down + up) per round of each phase, and of each training round."""
    cfg = load_config(ROOT / "configs" / config, BASE)
    with tempfile.TemporaryDirectory() as d:
        res = run_experiment(cfg, Path(d), write_report=False)
        rows = [json.loads(x) for x in (Path(d) / "metrics.jsonl").read_text().splitlines()]
    rounds = [r["bytes_down"] + r["bytes_up"] for r in rows if r["phase"] == "train"]
    per = {p: (v["bytes_down"] + v["bytes_up"]) / max(v["rounds"], 1) for p, v in res["phases"].items() if p in PHASES}
    return per, rounds


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    fp32, fp32_rounds = phase_bytes("quickstart.yaml")
    out: dict[str, dict[str, float]] = {}
    per_round: dict[str, list[float]] = {}
    print("\n| variant | target | " + " | ".join(PHASES) + " | all met |")
    print("|---|---|" + "---|" * len(PHASES) + "---|")
    for name, (config, target) in VARIANTS.items():
        b, rounds = phase_bytes(config)
        ratios = {p: b[p] / fp32[p] for p in PHASES if fp32.get(p)}
        out[name] = ratios
        per_round[name] = [round(x / f, 4) for x, f in zip(rounds, fp32_rounds, strict=False)]
        cells = " | ".join(f"{100 * ratios[p]:.1f}%" for p in PHASES if p in ratios)
        met = "-" if target is None else all(r <= target for r in ratios.values())
        print(f"| {name} | {'-' if target is None else f'<= {100 * target:.0f}%'} | {cells} | {met} |")
    print(json.dumps({"fp32_bytes_per_round": fp32, "ratios": out, "train_rounds": per_round}))


if __name__ == "__main__":
    main()
