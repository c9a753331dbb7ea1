"""Run one experiment: Flower's simulation engine on Ray (default), or in process."""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fedforget.config import ExperimentConfig
from fedforget.io import atomic_write_json
from fedforget.runtime import ray_cluster
from fedforget.runtime.engine import patched_engine

log = logging.getLogger(__name__)


def _state_root(cfg: ExperimentConfig, out_dir: Path) -> Path:
    return Path(cfg.runtime.state_dir) if cfg.runtime.state_dir else out_dir / "client-state"


def backend_config(cfg: ExperimentConfig, state_root: Path) -> dict[str, Any]:
    """Flower's Ray backend config. Ray itself is started (or joined) by
    :func:`fedforget.runtime.ray_cluster.start_or_join` before Flower sees it, so
    ``init_args`` only matter when Flower is run on its own."""
    from fedforget.runtime.ray_cluster import client_resources

    rt = cfg.runtime
    total = rt.total_cpus or (os.cpu_count() or 1)
    init_args: dict[str, Any] = (
        {"address": rt.ray_address} if rt.ray_address
        else {"num_cpus": total, "include_dashboard": False, "object_store_memory": 256 * 1024 * 1024}
    )
    return {"client_resources": client_resources(cfg), "init_args": init_args}


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Torch intra-op threads for this process during a run, restored after. A client's
    model is small, and torch's default of one thread per core made the threads spin-wait
    for each other on a busy 2-core machine: 23-50 s per 100-client in-process round of
    configs/scale_1000.yaml, against 1.1-1.8 s on Ray's one-thread actors
    (docs/performance.md, finding 7)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_experiment(cfg: ExperimentConfig, out_dir: str | Path, write_report: bool = True) -> dict[str, Any]:
    """Run ``cfg`` end to end and write results (and the report) into ``out_dir``."""
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    state_root = _state_root(cfg, out)
    from fedforget.device import check_device_config, device_for

    check_device_config(cfg.runtime)
    # The server (this process) evaluates on runtime.device too: a requested accelerator
    # it cannot see fails here, before Ray starts. Each client resolves for itself.
    device_for(cfg.runtime.device)
    if cfg.runtime.backend == "ray" and cfg.runtime.ray_address:
        ray_cluster.check_reachable(cfg.runtime.ray_address)  # seconds, before any work starts
    with torch_threads(max(1, int(cfg.runtime.cpus_per_client))):
        if cfg.runtime.backend == "inprocess":
            from fedforget.experiment import Experiment
            from fedforget.federation import InProcessFederation

            results = Experiment(cfg, InProcessFederation(cfg.partition.num_clients, state_root), out).run()
        else:
            results = _run_flower_simulation(cfg, out, state_root)
    if not cfg.runtime.state_dir:
        shutil.rmtree(state_root, ignore_errors=True)  # client-private scratch of this run
    if write_report:
        from fedforget.report import write_report as _write

        _write(out)
    return results


def _run_flower_simulation(cfg: ExperimentConfig, out: Path, state_root: Path) -> dict[str, Any]:
    import json
    import warnings

    from flwr.simulation import run_simulation

    # strategies/ and clients/ are the Flower adapters; loaded by name so that the core
    # library has no import-time dependency on them.
    server_mod = importlib.import_module("strategies.server_app")
    client_mod = importlib.import_module("clients.client_app")
    results_path = out / "results.json"
    results_path.unlink(missing_ok=True)
    server_app = server_mod.make_server_app(cfg, out)
    t0 = time.perf_counter()
    session = ray_cluster.start_or_join(cfg)  # fails fast: unreachable address, missing resources
    ray_start = time.perf_counter() - t0
    log.info("starting Flower simulation: %d SuperNodes on Ray (%s, %.1fs to start)",
             cfg.partition.num_clients, session.address, ray_start)
    # run_simulation is deprecated in flwr 1.42 in favour of `flwr run`, which needs a
    # SuperLink process and a run config; it stays the only in-process entry point
    # (docs/performance.md). patched_engine: see fedforget.runtime.engine.
    try:
        with warnings.catch_warnings(), patched_engine():
            warnings.simplefilter("ignore")
            run_simulation(
                server_app=server_app,
                client_app=client_mod.make_client_app(str(state_root), cfg.runtime.client_state),
                num_supernodes=cfg.partition.num_clients,
                backend_config=backend_config(cfg, state_root),  # type: ignore[arg-type]
            )
    finally:
        ray_cluster.stop(session)  # Flower's backend already disconnected; a joined cluster keeps running
    t_end = time.time()
    if not results_path.exists():
        from fedforget.errors import FedForgetError

        raise FedForgetError(f"the simulation ended without writing {results_path}; see the log above")
    results = json.loads(results_path.read_text())
    # Ray start-up and tear-down (Flower's engine threads, actors, ray.shutdown): the run's
    # fixed cost, reported apart from the phases' work. Tear-down = from results.json
    # being written (the experiment's last act) to the engine's return.
    results.setdefault("phases", {})["ray_start"] = {"time_s": ray_start}
    results["phases"]["ray_stop"] = {"time_s": max(0.0, t_end - results_path.stat().st_mtime)}
    atomic_write_json(results_path, results)
    return results
