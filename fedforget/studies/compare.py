"""``fedforget compare``: every listed method from the same trained federation.

    train once (cached by config hash) -> for each method: setup, delete, unlearn, evaluate
                                       -> one table (CSV + Markdown) + figures

The training cache (``compare.cache_dir``, default ``<out>/train-cache/<key>``) holds the
initial, trained and retrained models, their phase costs and whatever the listed methods
store during training (FedEraser's client updates, projected GA's last-round models). Its
key hashes every config section that shapes training (everything except ``name``,
``unlearning``, ``evaluation``, ``compare`` and ``runtime`` other than the seed) plus the
storage the methods need, so a re-run with other methods or unlearning settings reuses it.

The retrain-from-scratch baseline is always a row (``retrain``). Every row's time and
bytes are those of the phases its method ran (for ``retrain``: the retraining rounds),
without evaluation. Works over any :class:`~fedforget.federation.Federation`; the
runtime layer (:mod:`fedforget.runtime.compare`) picks in-process or Flower.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from fedforget.config import CompareEntry, ExperimentConfig, compare_entry_config
from fedforget.evaluation.adversary_columns import (
    HEADERS,
    PERCENT,
    adversary_cells,
    adversary_columns,
)
from fedforget.evaluation.evaluators.relearn import add_steps_to_recover
from fedforget.evaluation.indistinguishability import QUALITY_COLUMNS, quality_columns
from fedforget.federation import Arrays, Federation
from fedforget.run.experiment import Experiment, PhaseRecord
from fedforget.unlearning.procedure import resolve_procedure
from fedforget.util.errors import ConfigError, DivergenceError
from fedforget.util.io import atomic_save_npz, atomic_write_json, atomic_write_text, load_npz
from fedforget.util.seeding import derive_seed

log = logging.getLogger(__name__)

BASELINE = "retrain"
_NOT_TRAINING = ("name", "unlearning", "evaluation", "compare", "runtime")


def training_key(cfg: ExperimentConfig, storage: list[str]) -> str:
    d = {k: v for k, v in cfg.to_dict().items() if k not in _NOT_TRAINING}
    d["seed"] = cfg.runtime.seed
    d["storage"] = sorted(storage)
    return f"{derive_seed(0, json.dumps(d, sort_keys=True)):016x}"


def _rec(d: dict[str, Any]) -> PhaseRecord:
    return PhaseRecord(float(d["time_s"]), int(d["bytes_down"]), int(d["bytes_up"]), int(d["rounds"]))


def _rec_dict(r: PhaseRecord) -> dict[str, Any]:
    return {"time_s": r.time_s, "bytes_down": r.bytes_down, "bytes_up": r.bytes_up, "rounds": r.rounds}


def entries(cfg: ExperimentConfig) -> list[CompareEntry]:
    """The compared rows (the retrain baseline is added separately and always)."""
    rows = [e for e in cfg.compare.methods if not (e.method == BASELINE and not e.set)]
    if not cfg.compare.methods:
        raise ConfigError("compare.methods must list at least one method to compare, e.g. [{method: oeu}]")
    return rows


def run_comparison(cfg: ExperimentConfig, fed: Federation, out_dir: str | Path) -> dict[str, Any]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.yaml", cfg.to_yaml())
    t_start = time.perf_counter()
    rows = entries(cfg)
    cfgs = {e.name: compare_entry_config(cfg, e) for e in rows}
    procs = {n: resolve_procedure(c.unlearning.method)(c) for n, c in cfgs.items()}
    storage = sorted({p.stores_during_training() for p in procs.values()} - {""})
    key = training_key(cfg, storage)
    cache = (Path(cfg.compare.cache_dir) if cfg.compare.cache_dir else out / "train-cache") / key

    # ---- training (once; reused from the cache when present)
    base_cfg = cfgs[rows[0].name] if rows else cfg
    base = Experiment(base_cfg, fed, out / "training")
    base.prepare()
    base.storage = cache / "storage"
    base.setup()
    meta_path = cache / "meta.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        original, retrained = load_npz(cache / "original.npz"), load_npz(cache / "retrained.npz")
        log.info("training cache hit: %s", cache)
        cached = True
    else:
        log.info("training the federation once (cache %s)", cache)
        base.train_observers = list(procs.values())
        original = base.train()
        base.delete()
        retrained = base.retrain()
        atomic_save_npz(cache / "original.npz", original)
        atomic_save_npz(cache / "retrained.npz", retrained)
        meta = {"train": _rec_dict(base.loop.phases["train"]), "retrain": _rec_dict(base.loop.phases["retrain"]),
                "storage": storage, "config": {k: v for k, v in cfg.to_dict().items() if k not in _NOT_TRAINING}}
        atomic_write_json(meta_path, meta)  # written last: marks the entry complete
        cached = False
    train_rec, retrain_rec = _rec(meta["train"]), _rec(meta["retrain"])

    # ---- every method from the same starting point
    table: dict[str, dict[str, Any]] = {}
    per_method: dict[str, Any] = {}
    for e in rows:
        mcfg = cfgs[e.name]
        log.info("== %s (method %s)", e.name, mcfg.unlearning.method)
        ex = Experiment(mcfg, fed, out / "methods" / e.name)
        ex.prepare()
        ex.storage = cache / "storage"
        ex.retrained = retrained
        t0 = time.perf_counter()
        ex.setup()
        ex.delete()
        try:
            unlearned, rec = ex.unlearn(original)
        except DivergenceError as err:  # fedforget.unlearning.stability: fail this row, keep going
            log.warning("%s failed: %s", e.name, err)
            table[e.name] = {"method": mcfg.unlearning.method, "diverged": True, "failed": str(err)}
            per_method[e.name] = {"diverged": True, "failed": str(err), "overrides": list(e.set)}
            continue
        if not all(np.isfinite(np.asarray(v)).all() for v in unlearned.values()):
            log.warning("%s diverged (non-finite weights); its row is marked diverged, not evaluated", e.name)
            table[e.name] = {"method": mcfg.unlearning.method, "diverged": True, "time_s": rec.time_s,
                             "bytes_sent": rec.bytes_down + rec.bytes_up}
            per_method[e.name] = {"diverged": True, "overrides": list(e.set)}
            continue
        first = "original" not in table  # the shared rows are evaluated once, with the first method
        res = ex.evaluation.finish(original if first else None, unlearned, rec, retrained, t0, train_rec, retrain_rec,
                                   before=original)
        if first:
            table["original"] = {**res["models"]["original"], "method": "(trained model)"}
            table[BASELINE] = {**res["models"]["retrained"], "method": BASELINE}
        table[e.name] = {**res["models"]["unlearned"], "method": mcfg.unlearning.method}
        add_steps_to_recover({e.name: table[e.name]}, mcfg, table["original"].get("forget_acc"))
        per_method[e.name] = {"results": str(out / "methods" / e.name / "results.json"), "overrides": list(e.set)}

    summary = {
        "name": cfg.name,
        "training_cache": {"path": str(cache), "key": key, "hit": cached},
        "rows": table,
        "methods": per_method,
        "total_time_s": time.perf_counter() - t_start,
    }
    write_comparison(out, summary)
    return summary


# ---------------------------------------------------------------------------- outputs

COLUMNS = ("method", "test_acc", "retain_acc", "forget_acc", "asr", "distance_to_retrained", "time_s", "bytes_sent")


def _attacks(rows: dict[str, dict[str, Any]]) -> list[str]:
    return sorted({a for r in rows.values() for a in r.get("mia", {})})


def table_rows(rows: dict[str, dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    attacks = _attacks(rows)
    low = [a for a in attacks if a.startswith("rmia")]  # RMIA: TPR at 0.1% FPR as well
    adv = adversary_columns(rows)
    head = ["row", *COLUMNS, *[f"mia_auc_{a}" for a in attacks], *[f"mia_tpr01_{a}" for a in low], *QUALITY_COLUMNS, *adv]
    body = []
    for name, r in rows.items():
        body.append([name, *[r.get(c) for c in COLUMNS], *[r.get("mia", {}).get(a, {}).get("auc") for a in attacks],
                     *[r.get("mia", {}).get(a, {}).get("tpr_at_0.1pct_fpr") for a in low],
                     *quality_columns(r), *adversary_cells(r, adv)])
    return head, body


def _cell(v: Any, col: str) -> str:
    if v is None:
        return "n/a"
    if col in ("test_acc", "retain_acc", "forget_acc", "asr", "relearn_acc", "probe_acc", *PERCENT):
        return f"{100 * v:.1f}"
    if col == "bytes_sent":
        return f"{v / 1e6:.2f}"
    if col == "time_s":
        return f"{v:.2f}"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def markdown_table(rows: dict[str, dict[str, Any]]) -> str:
    head, body = table_rows(rows)
    names = {"test_acc": "test acc %", "retain_acc": "retain acc %", "forget_acc": "forget acc %", "asr": "ASR %",
             "distance_to_retrained": "L2 to retrain", "time_s": "time s", "bytes_sent": "MB sent",
             "indistinguishability": "indist.", "mia_efficacy": "MIA-eff.", "relearn_acc": "relearn acc %",
             "relearn_steps": "relearn steps", "probe_acc": "probe acc %", **HEADERS}
    lines = ["| " + " | ".join(names.get(h, h.replace("mia_auc_", "MIA AUC ").replace("mia_tpr01_", "TPR@0.1% "))
                               for h in head) + " |",
             "|" + "---|" * len(head)]
    for row in body:
        lines.append("| " + " | ".join(_cell(v, h) if h != "row" else f"**{v}**" for v, h in zip(row, head, strict=True)) + " |")
    return "\n".join(lines)


def write_comparison(out: Path, summary: dict[str, Any]) -> None:
    rows = summary["rows"]
    atomic_write_json(out / "comparison.json", summary)
    head, body = table_rows(rows)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(head)
    w.writerows(body)
    atomic_write_text(out / "comparison.csv", buf.getvalue())
    from fedforget.report.compare_plots import plot_comparison_bars, plot_tradeoff

    plot_comparison_bars(rows, out / "comparison_bars.png")
    plot_tradeoff(rows, out / "comparison_tradeoff.png")
    c = summary["training_cache"]
    text = [
        f"# fedforget comparison: {summary['name']}",
        "",
        f"Every method starts from the same trained federation (training cache `{c['key']}`, "
        f"{'reused' if c['hit'] else 'trained in this run'}); `retrain` is the retrain-from-scratch baseline.",
        "Read each row against `retrain`: a good method is close to it in forget accuracy, ASR and MIA AUC "
        "while keeping test/retain accuracy, at a fraction of its time and bytes. Time and bytes count the "
        "method's own phases (no evaluation).",
        "",
        markdown_table(rows),
        "",
        *[f"- **{n}** failed: {r['failed']}" for n, r in rows.items() if r.get("failed")],
        "",
        "![per-method metrics](comparison_bars.png)",
        "",
        "![privacy-utility-efficiency](comparison_tradeoff.png)",
        "",
        f"Total wall time: {summary['total_time_s']:.1f} s. Per-method results: `methods/<row>/results.json`.",
        "",
    ]
    atomic_write_text(out / "comparison.md", "\n".join(text))


def load_arrays(path: Path) -> Arrays:
    return load_npz(path)
