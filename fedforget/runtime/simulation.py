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
from fedforget.runtime import ray_cluster
from fedforget.runtime.engine import patched_engine, pipeline_depth
from fedforget.util.io import atomic_write_json

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
    from fedforget.util.device import check_device_config, device_for

    check_device_config(cfg.runtime)
    # The server (this process) evaluates on runtime.device too: a requested accelerator
    # it cannot see fails here, before Ray starts. Each client resolves for itself.
    device_for(cfg.runtime.device)
    if cfg.runtime.backend == "ray" and cfg.runtime.ray_address:
        ray_cluster.check_reachable(cfg.runtime.ray_address)  # seconds, before any work starts
    with torch_threads(max(1, int(cfg.runtime.cpus_per_client))):
        if cfg.runtime.backend == "inprocess":
            from fedforget.client.inprocess import InProcessFederation
            from fedforget.run.experiment import Experiment

            results = Experiment(cfg, InProcessFederation(cfg.partition.num_clients, state_root), out).run()
        else:
            results = _run_flower_simulation(cfg, out, state_root)
    if not cfg.runtime.state_dir:
        shutil.rmtree(state_root, ignore_errors=True)  # client-private scratch of this run
    if write_report:
        from fedforget.report import write_report as _write

        _write(out)
    return results


SHARE_DATA_MAX_BYTES = 64 * 1024 * 1024  # the driver's data build goes to the actors up to this size


def simulate_server_app(cfg: ExperimentConfig, out_dir: str | Path, server_app: Any) -> dict[str, Any]:
    """Run another ``server_app`` (a Flower ``ServerApp`` that writes ``results.json``
    into ``out_dir``) on the simulated federation of ``cfg``, as ``fedforget run`` runs an
    experiment's: Ray, the warm client actors, the engine fixes, the ClientApp and its
    client state, the fixed-cost phases. For benchmarks (benchmarks/overhead.py, the
    paired rounds) and tools that drive a federation their own way."""
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    state_root = _state_root(cfg, out)
    with torch_threads(max(1, int(cfg.runtime.cpus_per_client))):
        results = _run_flower_simulation(cfg, out, state_root, server_app)
    if not cfg.runtime.state_dir:
        shutil.rmtree(state_root, ignore_errors=True)
    return results


def _run_flower_simulation(cfg: ExperimentConfig, out: Path, state_root: Path, server_app: Any = None) -> dict[str, Any]:
    """Flower's simulation engine on Ray. Every fixed cost of the run is a phase of its
    own in ``results.json`` (docs/performance.md, "Fixed costs"): ``ray_start`` (import
    ray, ``ray.init`` or joining a cluster, the resource check), ``engine_start`` (importing
    Flower and the adapters, starting the warm client actors, building the apps, Flower's
    engine and actor pool, until the ServerApp starts), ``connect`` (waiting for the
    SuperNodes and the ``partition`` query), then the experiment's own ``setup`` and work
    phases, and ``ray_stop`` (from ``results.json`` being written to Ray being shut down)."""
    import json
    import warnings

    from fedforget.runtime import warm
    from fedforget.runtime.ray_cluster import client_resources

    results_path = out / "results.json"
    results_path.unlink(missing_ok=True)
    marks: dict[str, float] = {}  # perf_counter() at the ServerApp's milestones (strategies/server_app.py)
    t0 = time.perf_counter()
    session = ray_cluster.start_or_join(cfg)  # fails fast: unreachable address, missing resources
    t_ray = time.perf_counter()
    log.info("starting Flower simulation: %d SuperNodes on Ray (%s, %.1fs to start)",
             cfg.partition.num_clients, session.address, t_ray - t0)
    actors: list[Any] = []
    try:
        import ray

        from fedforget.data.federation import build_federated_data

        # The run's data, built once here (the server's side reuses it) and shared with
        # the clients through Ray's object store instead of derived again by every actor;
        # a large dataset (beyond SHARE_DATA_MAX_BYTES) is derived by each actor instead,
        # so that it never has to fit the object store (runtime.ray_address clusters size
        # it themselves; a private instance gets 256 MB).
        fd = build_federated_data(cfg)
        nbytes = sum(d.x.nbytes + d.y.nbytes for d in (fd.train, fd.test, fd.nonmember))
        data = ray.put(fd) if nbytes <= SHARE_DATA_MAX_BYTES else None
        # Client actors start now and warm up (imports, data) while the driver goes on
        # starting; Flower's pool adopts them (fedforget.runtime.warm, engine.patched_engine).
        actors = warm.start(min(session.capacity, cfg.partition.num_clients), client_resources(cfg), cfg.to_yaml(), data)
        from flwr.simulation import run_simulation
        # strategies/ and clients/ are the Flower adapters; loaded by name so that the core
        # library has no import-time dependency on them.
        client_mod = importlib.import_module("clients.client_app")
        if server_app is None:
            server_app = importlib.import_module("strategies.server_app").make_server_app(cfg, out, marks=marks)
        # run_simulation is deprecated in flwr 1.42 in favour of `flwr run`, which needs a
        # SuperLink process and a run config; it stays the only in-process entry point
        # (docs/performance.md). patched_engine: see fedforget.runtime.engine.
        with warnings.catch_warnings(), patched_engine(actors, pipeline_depth(cfg.runtime)):
            warnings.simplefilter("ignore")
            run_simulation(
                server_app=server_app,
                client_app=client_mod.make_client_app(str(state_root), cfg.runtime.client_state),
                num_supernodes=cfg.partition.num_clients,
                backend_config=backend_config(cfg, state_root),  # type: ignore[arg-type]
            )
    finally:
        warm.kill(actors)  # none left unless the engine never started
        ray_cluster.stop(session)  # Flower's backend already disconnected; a joined cluster keeps running
    t_end = time.perf_counter()
    if not results_path.exists():
        from fedforget.util.errors import FedForgetError

        raise FedForgetError(f"the simulation ended without writing {results_path}; see the log above")
    results = json.loads(results_path.read_text())
    t_server = marks.get("server_start", t_ray)
    t_connected = marks.get("connected", t_server)
    results["phases"] = {  # in the order they ran
        "ray_start": {"time_s": t_ray - t0},
        "engine_start": {"time_s": t_server - t_ray},
        "connect": {"time_s": t_connected - t_server},
        **results.get("phases", {}),
        "ray_stop": {"time_s": t_end - marks.get("server_end", t_end)},
    }
    results["wall_time_s"] = t_end - t0  # the whole run: ray start to ray stop
    atomic_write_json(results_path, results)
    return results
