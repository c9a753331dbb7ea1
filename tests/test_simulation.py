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
    # every fixed cost is a phase of its own, in the order they ran, and together with the
    # work they account for the whole run (what no phase covers is the remainder)
    ph = res["phases"]
    assert list(ph)[:4] == ["ray_start", "engine_start", "connect", "setup"] and list(ph)[-1] == "ray_stop"
    assert all(v["time_s"] >= 0 for v in ph.values())
    assert sum(v["time_s"] for v in ph.values()) <= res["wall_time_s"] + 1e-6
    assert "| engine_start | Flower's engine start" in (out / "report.md").read_text()
    # client-private scratch state is removed after the run
    assert not (out / "client-state").exists()
