"""A real loopback deployment (SuperLink + two SuperNodes on 127.0.0.1, ``flwr run``) in
which the forget client's SuperNode is killed mid-training and restarted: the server
retries it under its new node id (fedforget.run.faults), the run completes and the deletion
is served. Every process is torn down in a ``finally``."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from fedforget.config import load_config
from fedforget.runtime.deploy import LocalDeployment, alive, export_device_data, process_tree

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "deploy_local.yaml"
OVERRIDES = ["training.rounds=2", "unlearning.rounds=1", "unlearning.recovery_rounds=0", "evaluation.retrain=false",
             "runtime.client_timeout_s=40", "evaluation.attacks=[loss]"]


def _rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_supernode_killed_mid_run_and_restarted(tmp_path: Path) -> None:
    dep = LocalDeployment(tmp_path / "deploy")
    try:
        with dep:
            dep.start_superlink()
            folders = export_device_data(load_config(CONFIG, OVERRIDES), tmp_path / "device-data")
            procs = [dep.start_supernode(c, folder) for c, folder in enumerate(folders)]
            out = tmp_path / "out"
            run_id = dep.run({"config-file": str(CONFIG), "overrides": ";".join(OVERRIDES), "out-dir": str(out)})
            deadline = time.monotonic() + 300
            while not any(r["phase"] == "train" for r in _rows(out / "metrics.jsonl")):
                assert time.monotonic() < deadline, f"no training round after 300 s; logs in {dep.workdir / 'logs'}"
                time.sleep(0.5)
            victim = procs[1]  # device 1 holds the deletion request (its forget.json)
            victim.expect_exit = True
            tree = process_tree(victim.popen.pid)
            for pid in tree:
                os.kill(pid, signal.SIGKILL)
            victim.popen.wait(timeout=10)
            gone = time.monotonic() + 10
            while any(alive(p) for p in tree) and time.monotonic() < gone:
                time.sleep(0.1)
            assert not any(alive(p) for p in tree), "the killed SuperNode's processes are still alive"
            time.sleep(2)
            dep.start_supernode(1, folders[1])  # same device: same data folder and state dir
            assert dep.wait_for_run(run_id, out / "results.json", timeout=420) == "finished:completed"
    finally:
        dep.close()
        assert dep.leftover() == [], f"processes left behind: {dep.leftover()}"
    res = json.loads((out / "results.json").read_text())
    rows = _rows(out / "metrics.jsonl")
    assert res["phases"]["train"]["rounds"] == 2
    assert res["faults"]["failed_attempts"] >= 1 and res["faults"]["requests_lost"] == 0
    hit = [r for r in rows if "1" in r.get("missing_clients", {}) or 1 in r.get("retried_clients", [])]
    assert hit, "no metrics row reports the killed client"
    assert res["forget"]["clients"] == [1] and res["phases"]["unlearn"]["rounds"] == 1
    assert res["models"]["unlearned"]["forget_acc"] is not None
