"""``fedforget compare --seeds 0,1,2``: the comparison once per seed (training cached per
seed), then statistics over seeds per row and metric:

* mean, sample std and a t-based 95% confidence interval of the mean (fedforget.studies.stats);
* each method's paired difference to ``retrain`` on the same seeds (mean and 95% CI):
  with few seeds the paired difference is the sharper test of "close to retraining";
* ``comparison.csv`` holds the per-seed rows (one line per row and seed),
  ``comparison_stats.csv`` the statistics (one line per row and metric),
  ``comparison.md`` the mean ± std, CI and paired-difference tables, ``table.tex`` a
  booktabs table of mean ± std, ``comparison_bars.png`` bars with 95% CI error bars.

Metrics are the columns of :func:`fedforget.studies.compare.table_rows`, so every metric a row
carries flows through without changes here. Per-seed outputs stay in ``seed-<s>/``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from fedforget.config import ExperimentConfig, config_from_dict
from fedforget.report.latex import booktabs_table
from fedforget.studies.compare import BASELINE, _cell, table_rows
from fedforget.studies.stats import paired_difference, summarize
from fedforget.util.errors import ConfigError
from fedforget.util.io import atomic_write_json, atomic_write_text

HEADLINE = ("test_acc", "retain_acc", "forget_acc", "asr")  # shown in the CI / paired tables when present
_NAMES = {"test_acc": "test acc %", "retain_acc": "retain acc %", "forget_acc": "forget acc %", "asr": "ASR %",
          "distance_to_retrained": "L2 to retrain", "time_s": "time s", "bytes_sent": "MB sent"}


def seeds_of(cfg: ExperimentConfig) -> list[int]:
    seeds = list(cfg.runtime.seeds) or [cfg.runtime.seed]
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"runtime.seeds must not repeat a seed, got {seeds}")
    return seeds


def seed_config(cfg: ExperimentConfig, seed: int) -> ExperimentConfig:
    """``cfg`` with ``runtime.seed = seed`` (and no seed list): one seed's comparison."""
    d = cfg.to_dict()
    d["runtime"] = {**d["runtime"], "seed": int(seed), "seeds": []}
    return config_from_dict(d)


def _numeric(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def per_seed_columns(summary: dict[str, Any]) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """``(metric columns, {row: {column: value}})`` of one seed's comparison."""
    head, body = table_rows(summary["rows"])
    cols = [h for h in head if h not in ("row", "method")]
    return cols, {r[0]: dict(zip(head, r, strict=True)) for r in body}


def aggregate(per_seed: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Statistics over seeds of the comparison summaries ``{seed: summary}``."""
    seeds = sorted(per_seed)
    cols: list[str] = []
    values: dict[int, dict[str, dict[str, Any]]] = {}
    rows: list[str] = []
    for s in seeds:
        c, v = per_seed_columns(per_seed[s])
        cols += [x for x in c if x not in cols]
        rows += [r for r in v if r not in rows]
        values[s] = v
    stats: dict[str, dict[str, Any]] = {}
    paired: dict[str, dict[str, Any]] = {}
    for r in rows:
        stats[r], paired[r] = {}, {}
        for c in cols:
            xs = [values[s].get(r, {}).get(c) for s in seeds]
            xs = [x if _numeric(x) else None for x in xs]
            summ = summarize(xs)
            stats[r][c] = summ.as_dict() if summ else None
            if r not in (BASELINE, "original"):
                base = [values[s].get(BASELINE, {}).get(c) for s in seeds]
                d = paired_difference(xs, [b if _numeric(b) else None for b in base])
                paired[r][c] = d.as_dict() if d else None
        stats[r]["diverged_seeds"] = [s for s in seeds if per_seed[s]["rows"].get(r, {}).get("diverged")]
    method = {r: next((values[s][r].get("method") for s in seeds if r in values[s]), "") for r in rows}
    return {"seeds": seeds, "columns": cols, "rows_order": rows, "method": method, "stats": stats,
            "paired_vs_retrain": paired, "per_seed": values}


# ---------------------------------------------------------------------------- outputs


def _pm(st: dict[str, Any] | None, col: str, tex: bool = False) -> str:
    if not st:
        return "n/a"
    m, s = _cell(st["mean"], col), _cell(st["std"], col)
    return f"{m} $\\pm$ {s}" if tex else f"{m} ± {s}"


def _ci(st: dict[str, Any] | None, col: str) -> str:
    if not st:
        return "n/a"
    return f"{_cell(st['mean'], col)} [{_cell(st['ci_low'], col)}, {_cell(st['ci_high'], col)}]"


def _delta(st: dict[str, Any] | None, col: str) -> str:
    if not st:
        return "n/a"
    pct = _cell(1.0, col) == "100.0"  # accuracy-like: points
    f = (lambda v: f"{100 * v:+.1f}") if pct else (lambda v: f"{v:+.3g}")
    return f"{f(st['mean'])} [{f(st['ci_low'])}, {f(st['ci_high'])}]"


def stats_tables(agg: dict[str, Any]) -> str:
    cols, rows, st = agg["columns"], agg["rows_order"], agg["stats"]
    name = lambda c: _NAMES.get(c, c.replace("mia_auc_", "MIA AUC "))  # noqa: E731
    lines = [f"## Mean ± std over {len(agg['seeds'])} seeds ({', '.join(map(str, agg['seeds']))})", "",
             "| row | " + " | ".join(name(c) for c in cols) + " |", "|" + "---|" * (len(cols) + 1)]
    lines += [f"| **{r}** | " + " | ".join(_pm(st[r].get(c), c) for c in cols) + " |" for r in rows]
    head = [c for c in HEADLINE if c in cols] + [c for c in cols if c.startswith("mia_auc_")]
    lines += ["", "## 95% confidence intervals of the mean (Student's t, n - 1 degrees of freedom)", "",
              "| row | " + " | ".join(name(c) for c in head) + " |", "|" + "---|" * (len(head) + 1)]
    lines += [f"| **{r}** | " + " | ".join(_ci(st[r].get(c), c) for c in head) + " |" for r in rows]
    pr = agg["paired_vs_retrain"]
    lines += ["", "## Paired difference to retrain (same seed): mean [95% CI]", "",
              "Accuracies in points. An interval containing 0 means no detectable difference from retraining.", "",
              "| row | " + " | ".join(name(c) for c in head) + " |", "|" + "---|" * (len(head) + 1)]
    lines += [f"| **{r}** | " + " | ".join(_delta(pr[r].get(c), c) for c in head) + " |" for r in rows if pr.get(r)]
    div = {r: st[r]["diverged_seeds"] for r in rows if st[r].get("diverged_seeds")}
    if div:
        lines += ["", *[f"- **{r}** diverged on seeds {s} (left out of its statistics)" for r, s in div.items()]]
    return "\n".join(lines)


def latex_table(agg: dict[str, Any], caption: str = "") -> str:
    cols = [c for c in agg["columns"] if c not in ("time_s", "bytes_sent")] + [
        c for c in ("time_s", "bytes_sent") if c in agg["columns"]]
    head = ["Method", *[_NAMES.get(c, c.replace("mia_auc_", "MIA AUC ")) for c in cols]]
    body = [[r, *[_pm(agg["stats"][r].get(c), c, tex=True) for c in cols]] for r in agg["rows_order"]]
    cap = caption or f"Mean $\\pm$ std over {len(agg['seeds'])} seeds ({', '.join(map(str, agg['seeds']))})."
    return booktabs_table(head, body, caption=cap, raw_cells=True)


def write_seed_comparison(out: Path, name: str, per_seed: dict[int, dict[str, Any]], total_time_s: float) -> dict[str, Any]:
    agg = aggregate(per_seed)
    summary = {"name": name, "seeds": agg["seeds"], "total_time_s": total_time_s, **agg,
               "per_seed_dirs": {s: f"seed-{s}" for s in agg["seeds"]}}
    atomic_write_json(out / "comparison.json", summary)
    cols = agg["columns"]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["row", "seed", *cols])
    for s in agg["seeds"]:
        for r, v in agg["per_seed"][s].items():
            w.writerow([r, s, *[v.get(c) for c in cols]])
    atomic_write_text(out / "comparison.csv", buf.getvalue())
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["row", "metric", "n", "mean", "std", "ci95_low", "ci95_high",
                "diff_to_retrain_mean", "diff_ci95_low", "diff_ci95_high"])
    for r in agg["rows_order"]:
        for c in cols:
            st, d = agg["stats"][r].get(c), agg["paired_vs_retrain"][r].get(c)
            if st:
                w.writerow([r, c, st["n"], st["mean"], st["std"], st["ci_low"], st["ci_high"],
                            *((d["mean"], d["ci_low"], d["ci_high"]) if d else ("", "", ""))])
    atomic_write_text(out / "comparison_stats.csv", buf.getvalue())
    atomic_write_text(out / "table.tex", latex_table(agg))
    from fedforget.report.compare_plots import plot_seed_bars

    plot_seed_bars(agg["stats"], agg["rows_order"], cols, out / "comparison_bars.png")
    text = [
        f"# fedforget comparison: {name} ({len(agg['seeds'])} seeds)", "",
        "Each seed trains its own federation (cached per seed) and runs every method from it; `retrain` is the "
        "retrain-from-scratch baseline of the same seed. Per-seed results: `seed-<s>/comparison.md`.", "",
        stats_tables(agg), "", "![per-method metrics, 95% CI error bars](comparison_bars.png)", "",
        "Files: `comparison.csv` (per-seed rows), `comparison_stats.csv`, `table.tex` (booktabs), "
        f"`comparison.json`. Total wall time: {total_time_s:.1f} s.", "",
    ]
    atomic_write_text(out / "comparison.md", "\n".join(text))
    return summary


def write_latex(out_dir: str | Path) -> Path:
    """``fedforget report --latex DIR``: ``table.tex`` from ``DIR/comparison.json``
    (one seed or several)."""
    import json

    from fedforget.util.errors import FedForgetError

    out = Path(out_dir)
    path = out / "comparison.json"
    if not path.exists():
        raise FedForgetError(f"{path} does not exist; run `fedforget compare` with --out {out} first")
    summary = json.loads(path.read_text())
    if "stats" in summary:
        text = latex_table(summary)
    else:
        head, body = table_rows(summary["rows"])
        keep = [i for i, h in enumerate(head) if h not in ("row", "method")]
        text = booktabs_table(["Method", *[_NAMES.get(head[i], head[i].replace("mia_auc_", "MIA AUC ")) for i in keep]],
                              [[r[0], *[_cell(r[i], head[i]) for i in keep]] for r in body],
                              caption=f"{summary.get('name', '')}: one seed.")
    atomic_write_text(out / "table.tex", text)
    return out / "table.tex"
