"""The quickstart end to end under Flower's simulation engine (Ray backend), tiny."""

from __future__ import annotations

import json

import pytest

from fedforget.cli import main as cli_main

pytestmark = [pytest.mark.slow, pytest.mark.ray]


def test_quickstart_under_flower_simulation(tmp_path):
    out = tmp_path / "qs"
    rc = cli_main([
        "run", "configs/quickstart.yaml", "--out", str(out),
        "--set", "partition.num_clients=4", "--set", "training.rounds=3", "--set", "unlearning.rounds=2",
        "--set", "unlearning.recovery_rounds=1", "--set", "evaluation.every_round=false",
        "--set", "deletion.requests=[{granularity: client, client: 2}]",
    ])
    assert rc == 0
    res = json.loads((out / "results.json").read_text())
    assert set(res["models"]) >= {"original", "unlearned", "retrained"}
    assert res["num_clients"] == 4 and res["forget"]["clients"] == [2]
    assert res["models"]["unlearned"]["bytes_sent"] > 0
    assert (out / "report.md").exists() and (out / "accuracy.png").exists()
    # client-private scratch state is removed after the run
    assert not (out / "client-state").exists()
