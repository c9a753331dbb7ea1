"""MIA-efficacy, the unlearning-specific view of membership inference used in the
sparsity/saliency unlearning literature: Jia, Liu, Ram, Yao, Liu, Liu, Sharma, Liu,
"Model Sparsity Can Simplify Machine Unlearning", NeurIPS 2023 (Appendix; also SalUn,
Fan et al., ICLR 2024).

An SVC (RBF kernel, C=3) is fitted on the true-class confidence p_y with retain samples
labelled members and test samples labelled non-members (equal counts, a seeded subsample
of the larger side); MIA-efficacy is the share of forget samples it calls non-members.
It must be read against the retrained model's value (the forget set is genuinely unseen
there), not as "higher is better".
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.svm import SVC


def mia_efficacy(
    retain_conf: np.ndarray, test_conf: np.ndarray, forget_conf: np.ndarray, rng: np.random.Generator
) -> dict[str, Any]:
    r = np.asarray(retain_conf, np.float64)
    t = np.asarray(test_conf, np.float64)
    f = np.asarray(forget_conf, np.float64)
    n = min(len(r), len(t))
    if n == 0 or len(f) == 0:
        return {"mia_efficacy": None, "n_fit_per_side": n, "n_forget": len(f)}
    r = r[rng.choice(len(r), n, replace=False)] if len(r) > n else r
    t = t[rng.choice(len(t), n, replace=False)] if len(t) > n else t
    x = np.r_[r, t][:, None]
    y = np.r_[np.ones(n), np.zeros(n)]
    clf = SVC(C=3, kernel="rbf", gamma="auto")
    clf.fit(x, y)
    pred = clf.predict(f[:, None])
    return {
        "mia_efficacy": float((pred == 0).mean()),
        "svc_train_acc": float(clf.score(x, y)),
        "n_fit_per_side": int(n),
        "n_forget": int(len(f)),
    }
