"""Every experiment file in configs/ is valid and runs end to end with tiny overrides
(in process, a few rounds); compare sections are validated row by row."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fedforget.config import load_config
from fedforget.runtime import run_experiment

CONFIGS = sorted(p for p in Path("configs").glob("*.yaml") if "sweep" not in p.name)
TINY = [
    "runtime.backend=inprocess", "training.rounds=2", "unlearning.rounds=1", "unlearning.recovery_rounds=0",
    "evaluation.retrain=false", "evaluation.every_round=false",
]


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_runs_tiny(path, tmp_path):
    raw = yaml.safe_load(path.read_text())
    ov = list(TINY)
    if raw.get("evaluation", {}).get("shadow_models"):
        ov.append("evaluation.shadow_models=2")
    if "end_round" in raw.get("compression", {}).get("sparsity", {}):
        ov += ["compression.sparsity.start_round=0", "compression.sparsity.end_round=1"]
    streamed = bool(raw.get("deletion", {}).get("stream"))
    if streamed:  # requests on the timeline of a 2-round run
        ov += ["deletion.stream.start_round=0", "deletion.stream.rate=1"]
    cfg = load_config(path, ov)
    res = run_experiment(cfg, tmp_path, write_report=False)
    assert ({"unlearned"} if streamed else {"original", "unlearned"}) <= set(res["models"])
    if streamed:
        assert res["requests"] and all(r["served_round"] is not None for r in res["requests"])
    if "compare" in raw:
        from fedforget.config import compare_entry_config

        for entry in cfg.compare.methods:
            compare_entry_config(cfg, entry)  # every row validates


def test_sweep_config_validates():
    from fedforget.studies.sweep import load_sweep

    load_sweep("configs/sweep_compression.yaml")
