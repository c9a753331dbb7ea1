"""Metrics over attack scores (ROC curves as scikit-learn computes them) and model distances."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def tpr_at_fpr(fpr: np.ndarray, tpr: np.ndarray, target: float) -> float:
    """Highest TPR reached with FPR <= target (0 if no threshold achieves it)."""
    ok = fpr <= target
    return float(tpr[ok].max()) if ok.any() else 0.0


def roc(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """``(fpr, tpr, auc)`` of binary labels ``y`` (1 = member) and finite scores ``s``:
    the arrays ``sklearn.metrics.roc_curve(y, s)`` returns (intermediate collinear points
    dropped, the curve starting at (0, 0)) and ``roc_auc_score(y, s)``, bit for bit
    (``tests/evaluation/test_roc.py``), without scikit-learn's input validation, which cost
    about 10 ms a call: the per-client figures of a 1,000-client evaluation called it 4,000
    times per model (docs/performance.md, finding 19)."""
    from scipy.integrate import trapezoid  # what sklearn.metrics.auc integrates with

    order = np.argsort(s, kind="stable")[::-1]  # descending; the order within ties does not matter
    ys, ss = y[order], s[order]
    idx = np.r_[np.nonzero(np.diff(ss))[0], ys.size - 1]  # the last sample of each distinct score
    tps = np.cumsum(ys, dtype=np.float64)[idx]
    fps = 1 + idx.astype(np.float64) - tps
    if fps.shape[0] > 2:  # drop points collinear with their neighbours, as roc_curve does
        keep = np.where(np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True])[0]
        fps, tps = fps[keep], tps[keep]
    tps, fps = np.r_[0.0, tps], np.r_[0.0, fps]
    fpr, tpr = fps / fps[-1], tps / tps[-1]
    return fpr, tpr, float(trapezoid(tpr, fpr))


def mia_metrics(member_scores: np.ndarray, nonmember_scores: np.ndarray, curve: bool = True) -> dict[str, Any]:
    """AUC, balanced accuracy, advantage and TPR at 1% / 0.1% FPR of scores where higher
    means "member". ``n_*`` state how many samples back the low-FPR figures."""
    m = np.asarray(member_scores, dtype=np.float64)
    n = np.asarray(nonmember_scores, dtype=np.float64)
    if len(m) == 0 or len(n) == 0:
        return {"auc": None, "n_members": len(m), "n_nonmembers": len(n)}
    y = np.r_[np.ones(len(m)), np.zeros(len(n))]
    s = np.r_[m, n]
    s = np.nan_to_num(s, nan=-np.inf)
    s = np.clip(s, -1e300, 1e300)
    fpr, tpr, auc = roc(y, s)
    bal = float(np.max(0.5 * (tpr + 1.0 - fpr)))
    out: dict[str, Any] = {
        "auc": auc,
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
