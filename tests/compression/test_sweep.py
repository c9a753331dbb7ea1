"""``fedforget sweep``: bits x sparsity x method, validated up front, one row per method and cell."""

from __future__ import annotations

import json

import pytest
import yaml

from fedforget.studies.sweep import load_sweep, run_sweep
from fedforget.util.errors import ConfigError
from tests.conftest import tiny_config


def _write(tmp_path, **spec):
    base = tiny_config("deletion.backdoor.enabled=false", "evaluation.every_round=false").to_dict()
    base.pop("compare", None)
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump({"base": "base.yaml", **spec}))
    return tmp_path / "sweep.yaml"


def test_sweep_validates_every_cell_first(tmp_path):
    path = _write(tmp_path, bits=[8, 3], sparsity=[0.0], methods=[{"method": "qmul"}])
    with pytest.raises(ConfigError, match="compression.quantization.bits"):
        load_sweep(path)
    with pytest.raises(ConfigError, match="unknown key"):
        load_sweep(_write(tmp_path, bits=[8], grid=[1], methods=[{"method": "qmul"}]))


@pytest.mark.slow  # trains a federation + the retrain baseline (~15 s idle, minutes on a busy box)
def test_tiny_sweep_writes_table_and_figure(tmp_path):
    path = _write(tmp_path, bits=[4], sparsity=[0.5],
                  methods=[{"method": "gradient_ascent", "set": ["unlearning.combiner=mean"]}, {"method": "sau"}],
                  set=["training.rounds=2", "unlearning.rounds=1", "unlearning.recovery_rounds=0"])
    from fedforget.runtime.compare import run_compare

    table = run_sweep(path, tmp_path / "out", run_compare=run_compare)
    methods = {r["method"] for r in table}
    assert {"gradient_ascent", "sau"} <= methods
    assert all(r["cell"] == "int4-sparse50" for r in table)
    assert json.loads((tmp_path / "out" / "sweep.json").read_text()) == table
    assert (tmp_path / "out" / "sweep_tradeoff.png").stat().st_size > 0
