"""Ray cluster checks (issue 16) that need no Ray: unreachable addresses and missing
resources fail fast, naming what is wrong."""

import socket
import time

import pytest

from fedforget.runtime import ray_cluster
from fedforget.util.errors import ConfigError
from tests.conftest import tiny_config


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_address_fails_within_seconds_naming_it() -> None:
    addr = f"127.0.0.1:{_free_port()}"
    t0 = time.monotonic()
    with pytest.raises(ConfigError, match=addr) as e:
        ray_cluster.check_reachable(addr)
    assert time.monotonic() - t0 < ray_cluster.CONNECT_TIMEOUT_S + 1
    assert "ray start --head" in str(e.value)


def test_auto_without_cluster_fails(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))  # no ray/ray_current_cluster there
    with pytest.raises(ConfigError, match="'auto'"):
        ray_cluster.check_reachable("auto")


def test_malformed_address() -> None:
    with pytest.raises(ConfigError, match="host:port"):
        ray_cluster.check_reachable("no-port-here")


def test_missing_resources_named() -> None:
    cfg = tiny_config("runtime.gpus_per_client=0.5")
    nodes = [{"Alive": True, "NodeManagerAddress": "10.0.0.1", "Resources": {"CPU": 8.0}}]
    with pytest.raises(ConfigError, match=r"gpus_per_client=0.5 GPU.*10.0.0.1: 8 CPU, 0 GPU"):
        ray_cluster.check_resources(cfg, nodes)
    nodes.append({"Alive": True, "NodeManagerAddress": "10.0.0.2", "Resources": {"CPU": 4.0, "GPU": 1.0}})
    assert ray_cluster.check_resources(cfg, nodes) == 2  # two half-GPU clients fit on the GPU node
    assert ray_cluster.check_resources(tiny_config("runtime.cpus_per_client=2"), nodes[:1]) == 4
