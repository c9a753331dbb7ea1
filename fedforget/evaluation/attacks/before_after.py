"""Before/after attack: an adversary who holds the global model before and after the
unlearning phase (the server, or any client of the next round) finds the deleted samples
by how their signal changed. After Chen, Zhang, Wang, Backes, Humbert, Zhang, "When
Machine Unlearning Jeopardizes Privacy", ACM CCS 2021, and the federated unlearning
inference attack (FUIA) of Wang et al. 2025.

Per candidate sample x (client side the signals are the ordinary per-sample attack
signals; the server pairs them by position):

* ``loss_diff``:  ``log p_y(before) - log p_y(after)``, the rise of the loss (``loss``
  attack's signal);
* ``lr``: a LiRA-style likelihood ratio of the change of the scaled logit
  ``d = phi(before) - phi(after)`` (``phi = log p_y - log(1 - p_y)``, Carlini et al. 2022):
  ``log N(d; mu_del, s_del^2) - log N(d; mu_keep, s_keep^2)``, the two Gaussians fitted
  on a seeded half of the labelled candidates (deleted vs kept) and applied to the other
  half, both ways (2-fold cross-fitting, as the fitted thresholds of
  :mod:`fedforget.run.mia`): every sample gets an out-of-fold score. Unlike ``loss_diff``
  it also flags a change that is unusually *small* or of the wrong sign when the deleted
  samples' changes are spread differently from the kept ones'.

Reported: AUC, TPR at 1% / 0.1% FPR of deleted (forget set) vs kept members (retain set),
vs non-members (held-out) and vs both, for the pair ``original -> unlearned`` and for the
reference pair ``original -> retrained``: a retrained model also moves on the deleted
samples, so the unlearned pair is read against it, not against 0.5.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import norm

from fedforget.evaluation.metrics import mia_metrics

STD_FLOOR = 1e-8
GROUPS = ("members", "nonmembers", "all")


def loss_diff(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """``log p_y(before) - log p_y(after)`` (higher: the sample's loss rose more)."""
    return np.asarray(before, dtype=np.float64) - np.asarray(after, dtype=np.float64)


def gaussian_lr(d: np.ndarray, deleted: np.ndarray, fold: np.ndarray) -> np.ndarray:
    """Out-of-fold ``log N(d; mu_1, s_1^2) - log N(d; mu_0, s_0^2)``: for each fold f, the
    means and (population) stds of the deleted (1) and kept (0) samples of the other folds."""
    d = np.asarray(d, dtype=np.float64)
    deleted = np.asarray(deleted, dtype=bool)
    out = np.full(len(d), np.nan)
    for f in np.unique(fold):
        ref, ev = fold != f, fold == f
        a, b = d[ref & deleted], d[ref & ~deleted]
        if len(a) < 2 or len(b) < 2:
            continue
        out[ev] = (norm.logpdf(d[ev], a.mean(), max(a.std(), STD_FLOOR))
                   - norm.logpdf(d[ev], b.mean(), max(b.std(), STD_FLOOR)))
    return out


def _grouped(score: dict[str, np.ndarray]) -> dict[str, Any]:
    """Deleted vs kept members / non-members / both."""
    f, r, h = score["forget"], score["retain"], score["heldout"]
    out = {"members": mia_metrics(f, r, curve=False), "nonmembers": mia_metrics(f, h, curve=False),
           "all": mia_metrics(f, np.r_[r, h], curve=False)}
    for m in out.values():
        m.pop("advantage", None)
    return out


def before_after(before: dict[str, dict[str, np.ndarray]], after: dict[str, dict[str, np.ndarray]],
                 rng: np.random.Generator) -> dict[str, Any]:
    """The attack on one pair. ``before`` / ``after``: per set (forget, retain, heldout) the
    ``loss`` and ``lira`` signals of the two models, in the same sample order."""
    sets = ("forget", "retain", "heldout")
    ld = {s: loss_diff(before[s]["loss"], after[s]["loss"]) for s in sets}
    d = np.concatenate([before[s]["lira"] - after[s]["lira"] for s in sets])
    sizes = [len(before[s]["lira"]) for s in sets]
    deleted = np.r_[np.ones(sizes[0], bool), np.zeros(sizes[1] + sizes[2], bool)]
    fold = rng.permutation(len(d)) % 2
    lr = np.split(gaussian_lr(d, deleted, fold), np.cumsum(sizes)[:-1])
    return {"loss_diff": _grouped(ld), "lr": _grouped(dict(zip(sets, lr, strict=True))),
            "n_deleted": sizes[0], "n_kept_members": sizes[1], "n_nonmembers": sizes[2]}
