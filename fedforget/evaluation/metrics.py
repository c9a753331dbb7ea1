"""Metrics over attack scores (scikit-learn's ROC utilities) and model distances."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def tpr_at_fpr(fpr: np.ndarray, tpr: np.ndarray, target: float) -> float:
    """Highest TPR reached with FPR <= target (0 if no threshold achieves it)."""
    ok = fpr <= target
    return float(tpr[ok].max()) if ok.any() else 0.0


def mia_metrics(member_scores: np.ndarray, nonmember_scores: np.ndarray, curve: bool = True) -> dict[str, Any]:
    """AUC, balanced accuracy, advantage and TPR at 1% / 0.1% FPR of scores where higher
    means "member". ``n_*`` state how many samples back the low-FPR figures."""
    from sklearn.metrics import roc_auc_score, roc_curve  # lazy: keeps client start-up fast

    m = np.asarray(member_scores, dtype=np.float64)
    n = np.asarray(nonmember_scores, dtype=np.float64)
    if len(m) == 0 or len(n) == 0:
        return {"auc": None, "n_members": len(m), "n_nonmembers": len(n)}
    y = np.r_[np.ones(len(m)), np.zeros(len(n))]
    s = np.r_[m, n]
    s = np.nan_to_num(s, nan=-np.inf)
    s = np.clip(s, -1e300, 1e300)
    fpr, tpr, _ = roc_curve(y, s)
    bal = float(np.max(0.5 * (tpr + 1.0 - fpr)))
    out: dict[str, Any] = {
        "auc": float(roc_auc_score(y, s)),
        "balanced_acc": bal,
        "advantage": float(np.max(tpr - fpr)),
        "tpr_at_1pct_fpr": tpr_at_fpr(fpr, tpr, 0.01),
        "tpr_at_0.1pct_fpr": tpr_at_fpr(fpr, tpr, 0.001),
        "n_members": int(len(m)),
        "n_nonmembers": int(len(n)),
    }
    if curve:
        out["roc"] = {"fpr": fpr.tolist(), "tpr": tpr.tolist()}
    return out


def param_distance(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    """L2 distance between two models' parameters (e.g. unlearned vs retrained)."""
    tot = 0.0
    for k in a:
        if np.asarray(a[k]).dtype == np.bool_:  # sparsity masks (mask::*) are not parameters
            continue
        d = a[k].astype(np.float64) - b[k].astype(np.float64)
        tot += float((d * d).sum())
    return float(np.sqrt(tot))


def as_tensor(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(x)
