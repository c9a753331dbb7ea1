"""Can an auditor tell the unlearned model from the retrained one on the forget set?

Per attack, :class:`~fedforget.run.mia.FederatedMIA` compares the forget-set
attack scores of a model with those of the retrained-from-scratch model (AUC between the
two score samples, KS statistic, MIA-efficacy gap). This module turns them into

* the headline **indistinguishability** of a model (:func:`headline`):
  ``1 - 2 * mean_a |AUC_a(model scores vs retrained scores) - 0.5|`` over the configured
  attacks ``a``: 1 = the two forget-set score distributions cannot be told apart by any
  threshold on any attack's score, 0 = they are perfectly separated (the model is either
  far more member-like, e.g. not unlearned, or far less, over-unlearned). It is symmetric:
  over-unlearning (the "Streisand effect") costs as much as under-unlearning;
* with LiRA shadow models, a **U-LiRA-style per-example test** (:func:`ulira`; after Hayes
  et al., "Inexact unlearning needs more careful evaluations", SaTML 2025): for each
  forget example, the one-sided p-value of the model's LiRA statistic ``phi`` under the
  Gaussian fitted to the shadow models that never trained on it (OUT; the pooled OUT
  variance where an example has fewer than two OUT models); the example is
  flagged when p < ``alpha`` (the model keeps more membership signal on it than models
  that never saw it). A retrained model is flagged on about ``alpha`` of the examples by
  construction; the report gives both rates and their gap.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import norm


def headline(per_attack: dict[str, Any]) -> float | None:
    """1 - 2 * mean |AUC - 0.5| over the attacks with an ``auc_vs_retrained_scores``."""
    aucs = [v["auc_vs_retrained_scores"] for v in per_attack.values()
            if isinstance(v, dict) and v.get("auc_vs_retrained_scores") is not None]
    if not aucs:
        return None
    return float(1.0 - 2.0 * np.mean([abs(a - 0.5) for a in aucs]))


def ulira(phi: np.ndarray, shadow_phi: np.ndarray, shadow_in: np.ndarray, alpha: float = 0.05) -> dict[str, Any]:
    """Per-example test of ``phi`` (n,) against the OUT shadows (``shadow_phi``/``shadow_in``
    of shape (K, n)). Returns the flagged share and the per-example p-values' median."""
    phi = np.asarray(phi, np.float64)
    out = ~np.asarray(shadow_in, bool)
    sp = np.asarray(shadow_phi, np.float64)
    n_out = out.sum(0)
    ok = n_out >= 1
    if not ok.any():
        return {"flagged": None, "n": 0}
    mu = np.where(out, sp, 0.0).sum(0) / np.maximum(n_out, 1)
    dev = np.where(out, (sp - mu) ** 2, 0.0)
    # fewer than 2 OUT models for an example: the pooled OUT variance (LiRA's fixed variance)
    dof = int((n_out[n_out >= 2] - 1).sum())
    pooled = dev.sum() / dof if dof else float(np.var(sp[out]))
    var = np.where(n_out >= 2, dev.sum(0) / np.maximum(n_out - 1, 1), pooled)
    sd = np.sqrt(np.maximum(var, 1e-12))
    p = norm.sf((phi - mu) / sd)  # P(OUT phi >= phi): small = more member-like than OUT
    return {"flagged": float((p[ok] < alpha).mean()), "median_p": float(np.median(p[ok])),
            "alpha": alpha, "n": int(ok.sum())}


# ---------------------------------------------------------------------------- table columns

QUALITY_COLUMNS = ("indistinguishability", "mia_efficacy", "relearn_acc", "relearn_steps", "probe_acc")


def quality_columns(row: dict[str, Any]) -> list[Any]:
    """The forgetting-quality cells of one comparison row (None where not measured):
    the headline indistinguishability, MIA-efficacy, forget accuracy after the relearning
    attack and the steps it took to recover, linear-probe accuracy on the forget labels."""
    ev = row.get("evaluators", {})
    rel, probe = ev.get("relearn", {}), ev.get("probe", {})
    return [row.get("indistinguishability"), (row.get("mia_efficacy") or {}).get("mia_efficacy"),
            rel.get("forget_acc_after"), rel.get("steps_to_recover"), probe.get("probe_acc")]
