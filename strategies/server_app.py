"""The ServerApp: runs one fedforget experiment over the connected SuperNodes.

``fedforget run`` builds it with :func:`make_server_app` (config in hand); ``flwr run .``
uses the module-level ``app``, which reads ``config-file``, ``overrides`` and ``out-dir``
from the run config (``[tool.flwr.app.config]`` in pyproject.toml or ``--run-config``).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from fedforget.config import ExperimentConfig, load_config
from fedforget.run.experiment import Experiment
from strategies.flower_federation import FlowerFederation

log = logging.getLogger(__name__)


def run_experiment_on_grid(grid: Grid, cfg: ExperimentConfig, out_dir: str | Path,
                           marks: dict[str, float] | None = None) -> dict:
    """``marks`` (optional) receives ``time.perf_counter()`` when the ServerApp starts,
    when every SuperNode is connected (the ``partition`` query answered) and when the
    results are written: ``fedforget run`` reports the fixed costs between them."""
    marks = {} if marks is None else marks
    marks["server_start"] = time.perf_counter()
    fed = FlowerFederation(grid, expected_nodes=cfg.partition.num_clients)
    marks["connected"] = time.perf_counter()
    results = Experiment(cfg, fed, out_dir).run()
    marks["server_end"] = time.perf_counter()
    return results


def make_server_app(cfg: ExperimentConfig, out_dir: str | Path, marks: dict[str, float] | None = None) -> ServerApp:
    server = ServerApp()

    @server.main()
    def main(grid: Grid, context: Context) -> None:
        run_experiment_on_grid(grid, cfg, out_dir, marks)

    return server


def make_compare_server_app(cfg: ExperimentConfig, out_dir: str | Path) -> ServerApp:
    """A ServerApp running ``fedforget compare`` (fedforget.studies.compare) over the Grid."""
    server = ServerApp()

    @server.main()
    def main(grid: Grid, context: Context) -> None:
        from fedforget.studies.compare import run_comparison

        run_comparison(cfg, FlowerFederation(grid, expected_nodes=cfg.partition.num_clients), out_dir)

    return server


def _resolve(path: str) -> Path:
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    return Path(__file__).resolve().parent.parent / p  # relative to the app directory


app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    rc = context.run_config
    overrides = [s for s in str(rc.get("overrides", "")).split(";") if s.strip()]
    cfg = load_config(_resolve(str(rc.get("config-file", "configs/quickstart.yaml"))), overrides)
    out = Path(str(rc.get("out-dir", "runs/flwr-run")))
    out = out if out.is_absolute() else Path.cwd() / out
    log.info("fedforget: running %s, results in %s", cfg.name, out)
    run_experiment_on_grid(grid, cfg, out)
    from fedforget.report import write_report

    write_report(out)
