"""Integration: the same ServerApp/ClientApp on a real Flower SuperLink and two SuperNodes
on 127.0.0.1 (``flwr run``), insecure and with TLS + SuperNode authentication.

Each SuperNode reads its own device folder (exported from the config, deletion request
included); the experiment is train -> deletion request -> unlearn -> evaluate. Flower
polls every 3 s on both sides and starts a fresh ClientApp process per message, so even
this tiny experiment takes about a minute. Every process is torn down in a ``finally``.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from fedforget.config import load_config
from fedforget.runtime.deploy import LocalDeployment, export_device_data

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "deploy_local.yaml"
# Few messages: each one costs a ClientApp process start and up to two 3 s polls.
TINY = ["training.rounds=1", "unlearning.rounds=1", "unlearning.recovery_rounds=0", "evaluation.retrain=false"]


@pytest.fixture
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LocalDeployment]:
    dep = LocalDeployment(tmp_path / "deploy", secure=bool(getattr(request, "param", False)))
    try:
        with dep:
            yield dep
    finally:
        dep.close()
        assert dep.leftover() == [], f"processes left behind: {dep.leftover()}"


def _run_experiment(dep: LocalDeployment, tmp_path: Path, keys: list | None = None) -> dict:
    """Two SuperNodes, each on its own device folder; ``flwr run``; the results."""
    cfg = load_config(CONFIG, TINY)
    folders = export_device_data(cfg, tmp_path / "device-data")
    for c, folder in enumerate(folders):
        dep.start_supernode(c, folder, keys[c] if keys else None)
    out = tmp_path / "out"
    run_id = dep.run({"config-file": str(CONFIG), "overrides": ";".join(TINY), "out-dir": str(out)})
    assert dep.wait_for_run(run_id, out / "results.json", timeout=240) == "finished:completed"
    return json.loads((out / "results.json").read_text())


def _check_results(res: dict, tmp_path: Path) -> None:
    cfg = load_config(CONFIG, TINY)
    assert res["num_clients"] == 2
    # the deletion request came from device 1's forget.json: the server knows its size only
    forget_json = json.loads((tmp_path / "device-data" / "partition-1" / "forget.json").read_text())
    assert res["forget"]["n_forget"] == len(forget_json["ids"]) > 0
    assert res["forget"]["clients"] == [1]
    assert not (tmp_path / "device-data" / "partition-0" / "forget.json").exists()
    models = res["models"]
    assert set(models) == {"original", "unlearned"}
    assert models["original"]["test_acc"] > 0.5  # one round of FedAvg on digits learns something
    assert models["unlearned"]["forget_acc"] is not None
    assert models["unlearned"]["method"] == cfg.unlearning.method
    assert res["phases"]["unlearn"]["rounds"] == 1 and res["phases"]["unlearn"]["bytes_up"] > 0
    # client state persisted on the device's disk across the per-message ClientApp processes
    state = list((tmp_path / "deploy" / "devices" / "supernode-1" / "state").glob("run-*/partition-1/forget.npz"))
    assert len(state) == 1


def test_deploy_insecure_end_to_end(deployment: LocalDeployment, tmp_path: Path) -> None:
    deployment.start_superlink()
    res = _run_experiment(deployment, tmp_path)
    _check_results(res, tmp_path)


@pytest.mark.parametrize("deployment", [True], indirect=True)
def test_deploy_tls_and_node_auth(deployment: LocalDeployment, tmp_path: Path) -> None:
    dep = deployment
    assert dep.tls is not None
    dep.start_superlink()
    assert "Uvicorn running on https://" in (dep.workdir / "logs" / "superlink.log").read_text(errors="replace")
    keys = [dep.node_keys(f"supernode-{c}") for c in range(2)]
    node_ids = [dep.register(k.public_key) for k in keys]  # the devices' public keys, registered
    assert len(set(node_ids)) == 2
    # an unregistered device (a fresh key pair) is refused and gives up
    intruder = dep.start_supernode(0, None, dep.node_keys("intruder"), name="intruder",
                                   extra=["--max-retries", "1", "--max-wait-time", "20"])
    intruder.expect_exit = True  # wait_for_run must not trip over it
    try:
        rc = intruder.popen.wait(timeout=90)
    except subprocess.TimeoutExpired:
        rc = None
    assert rc not in (None, 0), f"the unregistered SuperNode was not refused:\n{intruder.tail()}"
    assert "Failed to initialize the connection" in intruder.log_path.read_text(errors="replace")
    res = _run_experiment(dep, tmp_path, keys)
    _check_results(res, tmp_path)
