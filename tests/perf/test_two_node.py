"""Issue 16: the simulation on a two-node Ray cluster (Ray's own ``cluster_utils.Cluster``
on this machine), clients on both nodes, each node with its own state root, client state
carried in Flower's Context: the same results.json numbers as the single-node run."""

import dataclasses
import shutil

import pytest

from fedforget.runtime import run_experiment
from tests.conftest import tiny_config

pytestmark = [pytest.mark.slow, pytest.mark.ray]

NUMBERS = ("test_acc", "retain_acc", "forget_acc", "asr", "bytes_down", "bytes_up")


def test_two_node_cluster_gives_single_node_numbers(tmp_path, monkeypatch) -> None:
    import tempfile

    from ray.cluster_utils import Cluster

    # The test cluster records its address under Ray's temp folder; a private one keeps
    # other Ray users on this machine (ray.init() joins a recorded cluster) out of it.
    # Short: Ray's Unix socket paths live under it.
    ray_tmp = tempfile.mkdtemp(prefix="ff2n", dir="/tmp")
    monkeypatch.setenv("RAY_TMPDIR", ray_tmp)

    cfg = tiny_config("runtime.backend=ray", "runtime.cpus_per_client=1", "runtime.client_state=context",
                      "training.rounds=2", "unlearning.rounds=1", "unlearning.recovery_rounds=0",
                      "evaluation.attacks=[loss]")
    single = run_experiment(cfg, tmp_path / "one", write_report=False)

    roots = [tmp_path / "node-a", tmp_path / "node-b"]
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "env_vars": {"FEDFORGET_STATE_DIR": str(roots[0])}})
    try:
        cluster.add_node(num_cpus=1, env_vars={"FEDFORGET_STATE_DIR": str(roots[1])})
        cluster.wait_for_nodes()
        two_cfg = dataclasses.replace(cfg, runtime=dataclasses.replace(cfg.runtime, ray_address=cluster.address))
        two = run_experiment(two_cfg, tmp_path / "two", write_report=False)
        assert cluster.head_node.remaining_processes_alive()  # a cluster we joined keeps running
    finally:
        cluster.shutdown()
        shutil.rmtree(ray_tmp, ignore_errors=True)
    for root in roots:  # clients ran on both nodes, each keeping its cache in its own root
        assert any(root.rglob("config.yaml")), root
    for model in single["models"]:
        for k in NUMBERS:
            assert two["models"][model][k] == single["models"][model][k], (model, k)
    assert "ray_start" in two["phases"] and "ray_stop" in two["phases"]
