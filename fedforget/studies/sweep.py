"""``fedforget sweep SWEEP.yaml``: bits x sparsity x method, one trade-off figure.

A sweep file names a base experiment, the compression grid and the compared methods::

    base: configs/quickstart.yaml        # relative to the sweep file
    set: [runtime.backend=inprocess]     # overrides applied to every cell
    bits: [0, 8, 4, 2]                   # compression.quantization.bits (0 = float)
    sparsity: [0.0, 0.5, 0.9]            # compression.sparsity.target
    methods:                             # compare rows (see configs/compare.yaml)
      - {method: gradient_ascent, set: [unlearning.combiner=mean]}
      - {method: qmul}

Each (bits, sparsity) cell is one ``fedforget compare`` run (the cell's federation is
trained once and every method starts from it, plus the retrain baseline). Every cell's
config is built and validated before any work starts. Results: ``sweep.json``,
``sweep.csv`` and ``sweep_tradeoff.png`` (forget accuracy vs retain accuracy, one panel
per cell) in the output folder.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fedforget.config import ExperimentConfig, config_from_dict
from fedforget.run.validate import validate_experiment
from fedforget.util.errors import ConfigError
from fedforget.util.io import atomic_write_json

log = logging.getLogger(__name__)

KEYS = ("base", "set", "bits", "sparsity", "methods")


@dataclass(frozen=True)
class Cell:
    bits: int
    sparsity: float
    cfg: ExperimentConfig

    @property
    def name(self) -> str:
        q = f"int{self.bits}" if self.bits else "fp32"
        return f"{q}-sparse{int(round(self.sparsity * 100))}"


def load_sweep(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> list[Cell]:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"sweep file {str(p)!r} does not exist")
    spec = yaml.safe_load(p.read_text()) or {}
    if not isinstance(spec, dict):
        raise ConfigError(f"sweep file {str(p)!r} must be a mapping with keys {', '.join(KEYS)}")
    unknown = sorted(set(spec) - set(KEYS))
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r} in sweep file; allowed keys: {', '.join(KEYS)}")
    if "base" not in spec:
        raise ConfigError("sweep file must name a base experiment config: base: configs/quickstart.yaml")
    base_path = (p.parent / str(spec["base"])) if not Path(str(spec["base"])).is_absolute() else Path(str(spec["base"]))
    if not base_path.is_file():
        base_path = Path(str(spec["base"]))
    if not base_path.is_file():
        raise ConfigError(f"sweep base config {spec['base']!r} does not exist")
    base = yaml.safe_load(base_path.read_text())
    base.pop("compare", None)
    bits = spec.get("bits", [0])
    sparsity = spec.get("sparsity", [0.0])
    methods = spec.get("methods") or []
    if not isinstance(bits, list) or not isinstance(sparsity, list) or not isinstance(methods, list) or not methods:
        raise ConfigError("sweep bits and sparsity must be lists and methods a non-empty list of compare rows")
    sets = list(spec.get("set") or []) + list(overrides)
    cells = []
    for b in bits:
        for s in sparsity:
            data = dict(base)
            data["compare"] = {"methods": methods}
            data["name"] = f"{base.get('name', 'sweep')}"
            cfg = validate_experiment(config_from_dict(
                data, [*sets, f"compression.quantization.bits={b}", f"compression.sparsity.target={s}"]))
            cells.append(Cell(int(b), float(s), cfg))
    return cells


def run_sweep(
    path: str | Path, out_dir: str | Path, overrides: list[str] | tuple[str, ...] = (), *,
    run_compare: Callable[[ExperimentConfig, Path], dict[str, Any]],
) -> list[dict[str, Any]]:
    """Every cell of the sweep through ``run_compare(cfg, out)`` (the backend's comparison,
    ``fedforget.runtime.compare.run_compare`` from the CLI: studies sit below the runtime)."""
    cells = load_sweep(path, overrides)  # everything validated before any work starts
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table: list[dict[str, Any]] = []
    for i, cell in enumerate(cells):
        log.info("sweep cell %d/%d: %s", i + 1, len(cells), cell.name)
        summary = run_compare(cell.cfg, out / cell.name)
        for method, r in summary["rows"].items():
            mia = r.get("mia", {})
            table.append({
                "cell": cell.name, "bits": cell.bits, "sparsity": cell.sparsity, "method": method,
                **{k: r.get(k) for k in ("test_acc", "retain_acc", "forget_acc", "asr", "bytes_sent")},
                **{f"mia_{a}_auc": (m or {}).get("auc") for a, m in mia.items()},
            })
        atomic_write_json(out / "sweep.json", table)  # after every cell: a partial sweep is kept
    cols = sorted({k for row in table for k in row}, key=lambda k: list(table[0]).index(k) if k in table[0] else 99)
    with (out / "sweep.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(table)
    plot_sweep(table, out / "sweep_tradeoff.png")
    return table


def plot_sweep(table: list[dict[str, Any]], path: Path) -> None:
    """Forget accuracy (x) vs retain accuracy (y) per method, one panel per cell."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = list(dict.fromkeys(r["cell"] for r in table))
    methods = list(dict.fromkeys(r["method"] for r in table))
    ncol = min(3, len(cells))
    nrow = -(-len(cells) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4 * ncol, 3.5 * nrow), squeeze=False)
    colors = {m: f"C{i % 10}" for i, m in enumerate(methods)}
    for ax, cell in zip(axes.flat, cells, strict=False):
        for r in table:
            if r["cell"] == cell and r["forget_acc"] is not None and r["retain_acc"] is not None:
                ax.scatter(r["forget_acc"], r["retain_acc"], color=colors[r["method"]], label=r["method"])
        ax.set_title(cell)
        ax.set_xlabel("forget accuracy")
        ax.set_ylabel("retain accuracy")
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
    for ax in list(axes.flat)[len(cells):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), fontsize="small")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)
