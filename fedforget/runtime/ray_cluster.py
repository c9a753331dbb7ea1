"""Ray for the simulation: start a private instance sized to this machine, or join an
existing cluster (``runtime.ray_address``), and check before any work that the cluster
can host a client. fedforget stops only an instance it started (docs/scale-out.md)."""

from __future__ import annotations

import logging
import os
import socket
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fedforget.config import ExperimentConfig
from fedforget.util.errors import ConfigError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0


def current_cluster_file() -> Path:
    """Where `ray start --head` records its address (as Ray resolves its temp folder)."""
    return Path(os.environ.get("RAY_TMPDIR") or tempfile.gettempdir()) / "ray" / "ray_current_cluster"
HOW_TO_START = (
    "start a cluster with `ray start --head --port 6379` (then `ray start --address <head-ip>:6379` "
    "on every other node), or leave runtime.ray_address empty to start a private one"
)


@dataclass
class RaySession:
    started: bool  # True: we started this Ray instance (and stop it); False: we joined a cluster
    address: str
    capacity: int = 0  # clients the cluster runs at once (Flower's actor pool size)


def client_resources(cfg: ExperimentConfig) -> dict[str, float]:
    rt = cfg.runtime
    return {"num_cpus": float(rt.cpus_per_client), "num_gpus": float(rt.gpus_per_client)}


def check_reachable(address: str) -> None:
    """Fail within seconds, naming the address, when nothing listens there."""
    if address == "auto":  # as Ray resolves it: $RAY_ADDRESS, else the cluster `ray start` recorded here
        found = os.environ.get("RAY_ADDRESS", "")
        if not found and current_cluster_file().exists():
            found = current_cluster_file().read_text().strip()
        if not found or found == "auto":
            raise ConfigError(
                f"runtime.ray_address='auto': no running Ray cluster on this machine ($RAY_ADDRESS unset, "
                f"no {current_cluster_file()}); {HOW_TO_START}"
            )
        address = found
    hostport = address.split("://", 1)[-1]
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"runtime.ray_address must be 'auto', 'host:port' or 'ray://host:port', got {address!r}")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as e:
        raise ConfigError(
            f"runtime.ray_address={address!r}: no Ray cluster reachable there ({e.strerror or e}); {HOW_TO_START}"
        ) from None


def _pythonpath() -> str:
    """Ray workers inherit env vars, not this driver's sys.path: pass it on (as Flower
    does) so that actors import fedforget, strategies/ and clients/ from this checkout."""
    path = os.pathsep.join(p for p in sys.path if p)
    extra = os.environ.get("PYTHONPATH")
    return f"{path}{os.pathsep}{extra}" if extra else path


def start_or_join(cfg: ExperimentConfig) -> RaySession:
    """``ray.init`` for this run; raises :class:`ConfigError` on an unreachable address or
    a cluster that cannot host one client."""
    import ray

    rt = cfg.runtime
    env = {"env_vars": {"PYTHONPATH": _pythonpath()}}
    if ray.is_initialized():  # someone else's session (e.g. a test's cluster): use it, never stop it
        session = RaySession(started=False, address="<already connected>")
    elif rt.ray_address:
        check_reachable(rt.ray_address)
        try:
            ray.init(address=rt.ray_address, runtime_env=env, logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise ConfigError(f"runtime.ray_address={rt.ray_address!r}: could not join ({e}); {HOW_TO_START}") from None
        session = RaySession(started=False, address=rt.ray_address)
    else:
        ray.init(  # address="local": a new private instance, even when `ray start` left a cluster here
            address="local", num_cpus=rt.total_cpus or (os.cpu_count() or 1), include_dashboard=False,
            object_store_memory=256 * 1024 * 1024, runtime_env=env, logging_level=logging.WARNING,
        )
        session = RaySession(started=True, address="local")
    try:
        session.capacity = check_resources(cfg, ray.nodes())
    except ConfigError:
        stop(session)
        raise
    return session


def check_resources(cfg: ExperimentConfig, nodes: list[dict[str, Any]]) -> int:
    """How many clients the cluster runs at once (Flower's per-node actor count); a
    :class:`ConfigError` naming what is missing when no node can host one."""
    need = client_resources(cfg)
    total = 0
    seen: list[str] = []
    for node in nodes:
        res = node.get("Resources") or {}
        if not node.get("Alive", True) or not res:
            continue
        cpus, gpus = float(res.get("CPU", 0)), float(res.get("GPU", 0))
        seen.append(f"{node.get('NodeManagerAddress', '?')}: {cpus:g} CPU, {gpus:g} GPU")
        n = int(cpus // need["num_cpus"]) if need["num_cpus"] > 0 else 0
        if need["num_gpus"] > 0:
            n = min(n, int(gpus // need["num_gpus"])) if gpus else 0
        total += n
    if total == 0:
        raise ConfigError(
            f"no Ray node can host a client needing runtime.cpus_per_client={need['num_cpus']:g} CPU and "
            f"runtime.gpus_per_client={need['num_gpus']:g} GPU; the cluster has "
            f"[{'; '.join(seen) or 'no live nodes'}]. Lower those fields or add nodes with the missing resources"
        )
    return total


def stop(session: RaySession) -> None:
    """Disconnect; shut Ray down only when this run started it. (``ray.shutdown`` in a
    driver that joined a cluster only disconnects that driver: the cluster keeps running.)"""
    import ray

    if ray.is_initialized() and (session.started or session.address != "<already connected>"):
        ray.shutdown()
