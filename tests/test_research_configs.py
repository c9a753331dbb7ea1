"""configs/research/*.yaml validate and run end to end with tiny overrides (in process,
one round, shrunk data and widths): the offline synthetic pipelines of the research configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from fedforget.config import load_config
from fedforget.run.validate import validate_experiment
from fedforget.runtime import run_experiment

CONFIGS = sorted(Path("configs/research").glob("*.yaml"))
TINY = [
    "runtime.backend=inprocess", "training.rounds=1", "unlearning.rounds=1", "unlearning.recovery_rounds=0",
    "evaluation.retrain=false", "evaluation.every_round=false", "data.synthetic_samples=240",
    "partition.num_clients=4", "partition.min_partition_size=2", "model.width=4", "model.embed_dim=16", "model.heads=2",
]


def test_research_configs_exist() -> None:
    assert {p.stem for p in CONFIGS} >= {"resnet18_cifar10", "lenet5_mnist", "text_transformer"}


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_research_config_runs_tiny(path: Path, tmp_path: Path) -> None:
    full = validate_experiment(load_config(path))  # the config as shipped is valid
    assert full.runtime.device == "auto"
    ov = list(TINY)
    for r in full.deletion.requests:
        if r.client >= 4:
            ov.append("deletion.requests=[{granularity: client, client: 1}]")
    cfg = validate_experiment(load_config(path, ov))
    res = run_experiment(cfg, tmp_path, write_report=False)
    assert {"original", "unlearned"} <= set(res["models"])
    assert res["models"]["original"]["test_acc"] is not None
