"""Bytes on the wire per phase, compressed clients vs float32, on the quickstart federation.

Runs the quickstart (in process: bytes do not depend on the backend) as float32 and as
each compressed variant, and prints every phase's bytes (down + up) as a share of the
float32 run's same phase. Targets (issue 9): int8 <= 30%, int4 <= 16%, 90% sparse <= 25%
in every phase. Prints a table and one JSON line. Usage: python benchmarks/phase_bytes.py
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
}
PHASES = ("train", "unlearn", "recover", "retrain")
BASE = ["runtime.backend=inprocess", "evaluation.every_round=false", "evaluation.attacks=[loss]"]


def phase_bytes(config: str) -> dict[str, int]:
    cfg = load_config(ROOT / "configs" / config, BASE)
    with tempfile.TemporaryDirectory() as d:
        res = run_experiment(cfg, Path(d), write_report=False)
    return {p: v["bytes_down"] + v["bytes_up"] for p, v in res["phases"].items() if p in PHASES}


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    fp32 = phase_bytes("quickstart.yaml")
    out: dict[str, dict[str, float]] = {}
    print("\n| variant | target | " + " | ".join(PHASES) + " | all met |")
    print("|---|---|" + "---|" * len(PHASES) + "---|")
    for name, (config, target) in VARIANTS.items():
        b = phase_bytes(config)
        ratios = {p: b[p] / fp32[p] for p in PHASES if fp32.get(p)}
        out[name] = ratios
        cells = " | ".join(f"{100 * ratios[p]:.1f}%" for p in PHASES if p in ratios)
        print(f"| {name} | <= {100 * target:.0f}% | {cells} | {all(r <= target for r in ratios.values())} |")
    print(json.dumps({"fp32_bytes": fp32, "ratios": out}))


if __name__ == "__main__":
    main()
