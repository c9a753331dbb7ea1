"""A run writes its deletion ledger and one signed receipt per request; ``fedforget ledger``
prints it and ``fedforget verify`` checks a receipt, on the device too."""

from __future__ import annotations

import json

import pytest

from fedforget.cli import main
from fedforget.client.inprocess import InProcessFederation
from fedforget.deletion.ledger import Ledger
from fedforget.run.experiment import Experiment
from tests.conftest import tiny_config


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    cfg = tiny_config("training.rounds=2", "unlearning.rounds=2", "unlearning.recovery_rounds=1",
                      "evaluation.every_round=false")
    Experiment(cfg, InProcessFederation(cfg.partition.num_clients, out / "devices"), out).run()
    return out


def test_run_writes_ledger_and_a_verifying_receipt(run_dir, capsys):
    with Ledger.open_readonly(run_dir) as led:
        [e] = led.entries()
        events = [ev["status"] for ev in led.events(e["request_id"])]
    assert e["status"] == "served" and e["clients"] == [1] and e["size"] > 0
    assert events[:3] == ["received", "unlearning", "served"]
    assert e["commitment"]["1"]["count"] == e["size"] and e["commitment"]["1"]["root"].startswith("sha256:")
    assert e["model_hash_before"] != e["model_hash_after"]
    receipt = json.loads((run_dir / "receipts" / f"{e['request_id']}.json").read_text())
    body = receipt["body"]
    phases = [m["phase"] for m in body["chain"]["models"]]
    assert phases[0] == "before" and "unlearn" in phases and "retrain" not in phases
    assert "final" in body["evidence"] and "retrained" in body["evidence"]["final"]
    assert "salt" not in json.dumps(receipt)
    from fedforget.util.hashing import model_hash
    from fedforget.util.io import load_npz

    assert model_hash(load_npz(run_dir / body["model_file"])) == body["model_hash_after"]  # the published model

    assert main(["ledger", str(run_dir)]) == 0
    assert "served" in capsys.readouterr().out
    path = str(run_dir / "receipts" / f"{e['request_id']}.json")
    pub = str(run_dir / "keys" / "receipt_ed25519.pub")
    assert main(["verify", path, "--public-key", pub, "--device", str(run_dir / "devices")]) == 0
    out = capsys.readouterr().out
    assert "OK   signature" in out and "OK   chain" in out and "OK   commitment[1]" in out

    body["evidence"]["final"]["unlearned"]["forget_acc"] = 0.0  # a server that lies about the evidence
    bad = run_dir / "tampered.json"
    bad.write_text(json.dumps(receipt))
    assert main(["verify", str(bad)]) == 1
    assert "FAIL signature" in capsys.readouterr().out


def test_streamed_requests_get_one_receipt_each(tmp_path):
    """Requests served at different rounds: one ledger entry and one verifying receipt each,
    each chain starting at the model its unlearning started from."""
    cfg = tiny_config("training.rounds=3", "unlearning.rounds=1", "unlearning.recovery_rounds=0",
                      'deletion.requests=[{"granularity": "samples", "client": 0, "fraction": 0.3, "at_round": 1},'
                      '{"granularity": "client", "client": 2, "at_round": 2}]', "evaluation.retrain=false")
    Experiment(cfg, InProcessFederation(cfg.partition.num_clients, tmp_path / "devices"), tmp_path / "out").run()
    with Ledger.open_readonly(tmp_path / "out") as led:
        entries = {e["request_id"]: e for e in led.entries()}
    assert {k: (e["status"], e["clients"], e["served_round"]) for k, e in entries.items()} == {
        "r0": ("served", [0], 1), "r1": ("served", [2], 2)}
    assert entries["r0"]["model_hash_after"] != entries["r1"]["model_hash_before"]  # a training round between
    for rid in entries:
        assert main(["verify", str(tmp_path / "out" / "receipts" / f"{rid}.json"), "--device", str(tmp_path / "devices")]) == 0
