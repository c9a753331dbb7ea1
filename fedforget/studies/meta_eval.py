"""``fedforget meta-eval``: which membership metrics can be trusted on this federation?
After OpenUnlearning's meta-evaluation of its metrics (2025): a metric is
*faithful* when it separates models that trained on a forget set from models that never saw
it, and *robust* when a transformation that should not change that answer (4-bit
post-training quantization; a few rounds of retain-only relearning) does not move it.

The reference models are the shadow federations LiRA trains (:mod:`fedforget.run.shadows`;
``evaluation.shadow_models``, 4 when the config has none; the same cache). Each shadow
trained on a seeded half of every client's pool, so the target's forget set splits, per
shadow k, into samples k trained on (IN) and samples it never saw (OUT). Both halves are cut
into ``GROUPS`` seeded groups: a group of IN samples is a "forget set the model trained
on" (positive), a group of OUT samples one it never saw (negative). For every threshold
attack ``a`` of the config (and ``confidence``) the metric of a group is the attack AUC of
the group's scores against shadow k's OUT held-out samples, as ``models.<m>.mia.<a>.auc``
reads a model's forget set. Reported per metric:

* ``faithfulness``: AUC of the metric separating positive from negative groups (1 = it
  always ranks a trained-on forget set above an unseen one; 0.5 = it cannot tell);
* ``faithfulness_q4``: the same on the shadows quantized to 4 bits (round-to-nearest per
  output channel, :mod:`fedforget.evaluation.evaluators.quant_recovery`);
* ``shift_q4``: mean |metric(4-bit) - metric(full precision)| over all groups;
* ``faithfulness_relearn`` / ``shift_relearn``: the same after each shadow is fine-tuned for
  ``evaluation.relearn_retain_rounds`` FedAvg rounds on the clients' retain data only (the
  forget set and the held-out samples are not trained on, so their IN/OUT labels still hold).

Not covered: the shadow-calibrated attacks (LiRA, RMIA), which would need leave-one-out
calibration on the shadows themselves.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from fedforget.compression.quant import QuantSpec
from fedforget.config import ExperimentConfig
from fedforget.evaluation.attacks.base import ATTACKS
from fedforget.evaluation.evaluators.quant_recovery import ptq_arrays
from fedforget.evaluation.metrics import mia_metrics
from fedforget.federation import Arrays, Federation
from fedforget.run.experiment import Experiment
from fedforget.run.mia import FederatedMIA
from fedforget.util.io import atomic_write_json, atomic_write_text
from fedforget.util.seeding import np_rng

log = logging.getLogger(__name__)

GROUPS = 5
DEFAULT_SHADOWS = 4


def group_metrics(sig: dict[str, dict[str, np.ndarray]], attack: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(metric values, labels: 1 = trained-on group) over every shadow and group."""
    f, h = sig["forget"], sig["heldout"]
    vals, labels = [], []
    for k in range(f["in"].shape[0]):
        out_h = h[f"sig.{attack}"][k][~h["in"][k]]
        for label, mask in ((1, f["in"][k]), (0, ~f["in"][k])):
            idx = np.flatnonzero(mask)
            np_rng(seed, "meta-eval", k, label).shuffle(idx)
            for g in np.array_split(idx, GROUPS):
                if len(g) and len(out_h):
                    vals.append(mia_metrics(f[f"sig.{attack}"][k][g], out_h, curve=False)["auc"])
                    labels.append(label)
    return np.asarray(vals, dtype=np.float64), np.asarray(labels)


def faithfulness_auc(vals: np.ndarray, labels: np.ndarray) -> float | None:
    return mia_metrics(vals[labels == 1], vals[labels == 0], curve=False)["auc"]


def relearn_on_retain(ex: Experiment, arrays: Arrays) -> Arrays:
    """``arrays`` after ``evaluation.relearn_retain_rounds`` FedAvg rounds on the retain
    clients' retain data only (phase ``meta-relearn``: clients train without their forget set)."""
    cfg = ex.cfg
    step = ex.fedavg_step("meta-relearn", ex.retainers, cfg.training.lr, observe=False)
    for r in range(cfg.evaluation.relearn_retain_rounds):
        arrays, _ = step(r, arrays)
    return arrays


def run_meta_eval(cfg: ExperimentConfig, fed: Federation, out_dir: str | Path) -> dict[str, Any]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if cfg.evaluation.shadow_models < 2:
        cfg = dataclasses.replace(cfg, evaluation=dataclasses.replace(cfg.evaluation, shadow_models=DEFAULT_SHADOWS))
    ex = Experiment(cfg, fed, out / "federation")
    ex.prepare()
    ex.setup()
    ex.delete()
    mia = FederatedMIA(cfg, fed, out, ex.test, ex.eval_model)
    mia.prepare(ex.everyone)  # the shadow federations (cached) and their signals
    assert mia.shadow is not None
    q4 = mia.shadow_signals([ptq_arrays(m, QuantSpec(4)) for m in mia.shadow_models])
    rl = mia.shadow_signals([relearn_on_retain(ex, m) for m in mia.shadow_models])
    metrics = [a for a in mia.signal_names if not ATTACKS.get(a).needs_shadows]
    table: dict[str, Any] = {}
    for a in metrics:
        v, lab = group_metrics(mia.shadow, a, cfg.runtime.seed)
        row: dict[str, Any] = {"faithfulness": faithfulness_auc(v, lab)}
        for key, sig in (("q4", q4), ("relearn", rl)):
            vt, labt = group_metrics(sig, a, cfg.runtime.seed)
            row[f"faithfulness_{key}"] = faithfulness_auc(vt, labt)
            row[f"shift_{key}"] = float(np.mean(np.abs(vt - v))) if len(v) == len(vt) and len(v) else None
        table[f"mia_auc_{a}"] = {**row, "groups": int(len(v))}
    summary = {"name": cfg.name, "shadows": mia.shadow_info, "groups_per_half": GROUPS, "metrics": table,
               "relearn_rounds": cfg.evaluation.relearn_retain_rounds,
               "time_s": time.perf_counter() - t0}
    atomic_write_json(out / "meta_eval.json", summary)
    atomic_write_text(out / "meta_eval.md", markdown(summary))
    return summary


def markdown(summary: dict[str, Any]) -> str:
    def f(v: Any) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    lines = [f"# fedforget meta-evaluation: {summary['name']}", "",
             f"Reference models: {summary['shadows'].get('k')} shadow federations; per shadow the forget set's "
             f"trained-on and unseen halves, {summary['groups_per_half']} groups each.", "",
             "| metric | faithfulness AUC | faithfulness AUC, 4-bit PTQ | mean shift under 4-bit PTQ "
             "| faithfulness AUC, retain-only relearning | mean shift under relearning | groups |",
             "|---|---|---|---|---|---|---|"]
    for m, r in summary["metrics"].items():
        lines.append(f"| {m} | {f(r['faithfulness'])} | {f(r['faithfulness_q4'])} | {f(r['shift_q4'])} "
                     f"| {f(r['faithfulness_relearn'])} | {f(r['shift_relearn'])} | {r['groups']} |")
    lines += ["", "Faithfulness: how often the metric ranks a forget set the model trained on above one it never "
              "saw (0.5 = it cannot tell). Robustness: how far 4-bit post-training quantization, or "
              f"{summary.get('relearn_rounds', '?')} rounds of retain-only FedAvg, move the metric (0 = not at all).",
              f"\nWall time: {summary['time_s']:.1f} s.", ""]
    return "\n".join(lines)
