"""The README's bring-your-own example, end to end: a user's model factory
(``package.module:factory``) trained on a user's own ``.npz`` file through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def test_own_model_on_own_data(tmp_path: Path) -> None:
    from fedforget.cli import main

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=300)
    x = (np.eye(3)[y] @ rng.normal(size=(3, 12)) + 0.3 * rng.normal(size=(300, 12))).astype(np.float32)
    np.savez(tmp_path / "mydata.npz", x=x, y=y)
    out = tmp_path / "run"
    rc = main(["run", "configs/quickstart.yaml", "--out", str(out),
               "--set", "model.name=tests.usermods.models:tiny_net",
               "--set", "data.name=local", "--set", f"data.path={tmp_path / 'mydata.npz'}",
               "--set", "data.normalize=standard", "--set", "partition.num_clients=4",
               "--set", "deletion.requests=[{granularity: client, client: 1}]",
               "--set", "runtime.backend=inprocess", "--set", "training.rounds=3", "--set", "unlearning.rounds=1",
               "--set", "evaluation.retrain=false", "--set", "evaluation.every_round=false"])
    assert rc == 0
    res = json.loads((out / "results.json").read_text())
    assert res["models"]["original"]["test_acc"] > 0.6  # 3 separable classes: the user's model learned
    assert res["num_clients"] == 4
