"""Run ``fedforget compare`` on a backend: in process, or Flower's simulation engine."""

from __future__ import annotations

import importlib
import json
import logging
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

from fedforget.config import ExperimentConfig
from fedforget.run.validate import validate_experiment
from fedforget.runtime.engine import patched_engine, pipeline_depth
from fedforget.runtime.simulation import _state_root, backend_config
from fedforget.studies.seeds import seed_config, seeds_of, write_latex, write_seed_comparison
from fedforget.util.errors import FedForgetError

log = logging.getLogger(__name__)


def run_compare(cfg: ExperimentConfig, out_dir: str | Path) -> dict[str, Any]:
    """One comparison, or with ``runtime.seeds`` one per seed plus statistics over seeds
    (fedforget.studies.seeds). Writes ``table.tex`` (booktabs) beside ``comparison.md``."""
    validate_experiment(cfg)  # registered names of every row, before any work
    out = Path(out_dir).resolve()
    if not cfg.runtime.seeds:
        summary = _run_one(cfg, out)
        write_latex(out)
        return summary
    seeds = seeds_of(cfg)  # ConfigError on duplicates, before any work
    t0 = time.perf_counter()
    per_seed = {}
    for s in seeds:
        log.info("==== seed %d (%d of %d)", s, len(per_seed) + 1, len(seeds))
        per_seed[s] = _run_one(seed_config(cfg, s), out / f"seed-{s}")
        write_latex(out / f"seed-{s}")
    return write_seed_comparison(out, cfg.name, per_seed, time.perf_counter() - t0)


def _run_one(cfg: ExperimentConfig, out: Path) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    state_root = _state_root(cfg, out)
    if cfg.runtime.backend == "inprocess":
        from fedforget.client.inprocess import InProcessFederation
        from fedforget.studies.compare import run_comparison

        summary = run_comparison(cfg, InProcessFederation(cfg.partition.num_clients, state_root), out)
    else:
        from flwr.simulation import run_simulation

        server_mod = importlib.import_module("strategies.server_app")
        client_mod = importlib.import_module("clients.client_app")
        path = out / "comparison.json"
        path.unlink(missing_ok=True)
        # The engine's latency fixes and pipelined actor pool, as for `fedforget run`
        # (fedforget.runtime.engine); no warm actors here: Flower starts Ray itself.
        with warnings.catch_warnings(), patched_engine(depth=pipeline_depth(cfg.runtime)):
            warnings.simplefilter("ignore")
            run_simulation(
                server_app=server_mod.make_compare_server_app(cfg, out),
                client_app=client_mod.make_client_app(str(state_root)),
                num_supernodes=cfg.partition.num_clients,
                backend_config=backend_config(cfg, state_root),  # type: ignore[arg-type]
            )
        if not path.exists():
            raise FedForgetError(f"the simulation ended without writing {path}; see the log above")
        summary = json.loads(path.read_text())
    if not cfg.runtime.state_dir:
        shutil.rmtree(state_root, ignore_errors=True)
    return summary
