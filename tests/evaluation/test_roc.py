"""fedforget.evaluation.metrics.roc gives scikit-learn's ROC curve and AUC bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from fedforget.evaluation.metrics import mia_metrics, roc


@pytest.mark.parametrize("seed", range(12))
def test_roc_matches_sklearn_exactly(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_m, n_n = int(rng.integers(1, 60)), int(rng.integers(1, 60))
    levels = int(rng.integers(2, 40))
    # coarse scores: many ties, as per-client signals (a confidence of 1.0, a loss of 0) have
    s = np.round(rng.normal(size=n_m + n_n) * levels) / levels if seed % 2 else rng.normal(size=n_m + n_n)
    s[: n_m] += rng.uniform(0, 1)  # members a little higher
    y = np.r_[np.ones(n_m), np.zeros(n_n)]
    fpr, tpr, auc = roc(y, s)
    f2, t2, _ = roc_curve(y, s)
    assert np.array_equal(fpr, f2) and np.array_equal(tpr, t2)
    assert auc == roc_auc_score(y, s)


def test_mia_metrics_edge_cases() -> None:
    assert mia_metrics(np.array([]), np.array([0.1]))["auc"] is None
    out = mia_metrics(np.array([1.0, 1.0]), np.array([1.0]))  # all tied: chance
    assert out["auc"] == 0.5 and out["advantage"] == 0.0
    out = mia_metrics(np.array([2.0, np.nan]), np.array([0.0, -np.inf]))  # NaN ranks lowest
    assert out["auc"] == roc_auc_score([1, 1, 0, 0], [2.0, -1e300, 0.0, -1e300])
