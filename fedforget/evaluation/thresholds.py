"""Class-dependent thresholds for the metric-based attacks, as in Song & Mittal,
"Systematic Evaluation of Privacy Risks of Machine Learning Models", USENIX Security 2021
(their ``_thre_setting``): for each class, the threshold on the attack score that
maximises balanced accuracy on *reference* data of known membership (shadow models' IN
and OUT samples, or a disjoint reference split), then applied to the target's scores.

Candidate thresholds come from :func:`sklearn.metrics.roc_curve` on the reference data;
balanced accuracy is (TPR + TNR) / 2 at each.
"""

from __future__ import annotations

import numpy as np


def best_threshold(scores: np.ndarray, member: np.ndarray) -> float:
    """Threshold t maximising balanced accuracy of ``score >= t`` -> member. Needs both
    members and non-members; returns +inf (everything called non-member) otherwise."""
    # A diverged model yields NaN/inf scores: treat them as the least member-like value
    # so the attack still reports (a diverged model is a result, not a crash).
    s = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=-1e300, posinf=1e300, neginf=-1e300)
    y = np.asarray(member, dtype=bool)
    if y.all() or not y.any():
        return float("-inf") if y.all() else float("inf")
    from sklearn.metrics import roc_curve  # lazy: keeps client start-up fast

    fpr, tpr, thr = roc_curve(y, s)
    i = int(np.argmax(0.5 * (tpr + 1.0 - fpr)))
    return float(thr[i])


def fit_class_thresholds(
    scores: np.ndarray, labels: np.ndarray, member: np.ndarray, num_classes: int
) -> np.ndarray:
    """One threshold per class (classes without both kinds of reference samples get the
    global threshold)."""
    s, lab, m = np.asarray(scores, np.float64), np.asarray(labels), np.asarray(member, bool)
    glob = best_threshold(s, m)
    out = np.full(num_classes, glob)
    for c in range(num_classes):
        k = lab == c
        if k.any() and m[k].any() and (~m[k]).any():
            out[c] = best_threshold(s[k], m[k])
    return out


def predict_members(scores: np.ndarray, labels: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    return np.asarray(scores, np.float64) >= np.asarray(thresholds)[np.asarray(labels)]


def thresholded_balanced_accuracy(
    scores: np.ndarray, labels: np.ndarray, member: np.ndarray, thresholds: np.ndarray
) -> float:
    """Balanced accuracy of the class-threshold decisions on (target) evaluation data."""
    pred = predict_members(scores, labels, thresholds)
    from sklearn.metrics import balanced_accuracy_score

    return float(balanced_accuracy_score(np.asarray(member, bool), pred))
