"""Run one experiment: Flower's simulation engine on Ray (default), or in process."""

from __future__ import annotations

import importlib
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from fedforget.config import ExperimentConfig

log = logging.getLogger(__name__)


def _state_root(cfg: ExperimentConfig, out_dir: Path) -> Path:
    return Path(cfg.runtime.state_dir) if cfg.runtime.state_dir else out_dir / "client-state"


def backend_config(cfg: ExperimentConfig, state_root: Path) -> dict[str, Any]:
    rt = cfg.runtime
    total = rt.total_cpus or (os.cpu_count() or 1)
    return {
        "client_resources": {"num_cpus": rt.cpus_per_client, "num_gpus": 0.0},
        "init_args": {
            "num_cpus": total,
            "include_dashboard": False,
            "object_store_memory": 256 * 1024 * 1024,
        },
    }


def run_experiment(cfg: ExperimentConfig, out_dir: str | Path, write_report: bool = True) -> dict[str, Any]:
    """Run ``cfg`` end to end and write results (and the report) into ``out_dir``."""
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    state_root = _state_root(cfg, out)
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
    log.info("starting Flower simulation: %d SuperNodes on Ray", cfg.partition.num_clients)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_simulation(
            server_app=server_app,
            client_app=client_mod.make_client_app(str(state_root)),
            num_supernodes=cfg.partition.num_clients,
            backend_config=backend_config(cfg, state_root),  # type: ignore[arg-type]
        )
    if not results_path.exists():
        from fedforget.errors import FedForgetError

        raise FedForgetError(f"the simulation ended without writing {results_path}; see the log above")
    return json.loads(results_path.read_text())
