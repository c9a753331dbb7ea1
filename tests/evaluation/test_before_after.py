"""Before/after attack against an independent numpy implementation on random logits: the
loss difference and the cross-fitted Gaussian likelihood ratio of the LiRA-logit change,
written from the definitions with softmax probabilities (no logsumexp)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedforget.evaluation.attacks import ATTACKS
from fedforget.evaluation.attacks.before_after import before_after
from fedforget.util.seeding import np_rng

SETS = ("forget", "retain", "heldout")


def probs(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def ref_auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Mann-Whitney: P(pos > neg) + P(pos = neg) / 2."""
    gt = (pos[:, None] > neg[None, :]).mean()
    eq = (pos[:, None] == neg[None, :]).mean()
    return float(gt + 0.5 * eq)


def ref_gauss_logpdf(x: np.ndarray, mu: float, sd: float) -> np.ndarray:
    return -0.5 * ((x - mu) / sd) ** 2 - np.log(sd * np.sqrt(2 * np.pi))


def test_before_after_matches_independent_numpy() -> None:
    rng = np.random.default_rng(3)
    n = {"forget": 40, "retain": 70, "heldout": 50}
    c = 4
    y = {s: rng.integers(0, c, n[s]) for s in SETS}
    before = {s: rng.normal(0, 2, (n[s], c)) for s in SETS}
    after = {s: before[s] + rng.normal(0, 0.5, (n[s], c)) for s in SETS}
    for i in range(n["forget"]):  # unlearning lowers the true-class logit of deleted samples
        after["forget"][i, y["forget"][i]] -= 1.5
    sig = {m: {s: {a: ATTACKS.get(a)().score(torch.tensor(logit[s]), torch.tensor(y[s])) for a in ("loss", "lira")}
               for s in SETS} for m, logit in (("before", before), ("after", after))}
    got = before_after(sig["before"], sig["after"], np_rng(0, "t"))

    # independent: probabilities, differences, folds from the same seeded permutation
    py = {m: {s: probs(lg[s])[np.arange(n[s]), y[s]] for s in SETS} for m, lg in (("b", before), ("a", after))}
    ld = {s: np.log(py["b"][s]) - np.log(py["a"][s]) for s in SETS}
    phi = {m: {s: np.log(py[m][s]) - np.log(1 - py[m][s]) for s in SETS} for m in py}
    d = np.concatenate([phi["b"][s] - phi["a"][s] for s in SETS])
    deleted = np.arange(len(d)) < n["forget"]
    fold = np_rng(0, "t").permutation(len(d)) % 2
    lr = np.empty(len(d))
    for f in (0, 1):
        a, b = d[(fold != f) & deleted], d[(fold != f) & ~deleted]
        sa = np.sqrt(((a - a.mean()) ** 2).mean())
        sb = np.sqrt(((b - b.mean()) ** 2).mean())
        lr[fold == f] = ref_gauss_logpdf(d[fold == f], a.mean(), sa) - ref_gauss_logpdf(d[fold == f], b.mean(), sb)
    lrs = dict(zip(SETS, np.split(lr, np.cumsum([n[s] for s in SETS])[:-1]), strict=True))
    for name, sc in (("loss_diff", ld), ("lr", lrs)):
        want = {"members": ref_auc(sc["forget"], sc["retain"]), "nonmembers": ref_auc(sc["forget"], sc["heldout"]),
                "all": ref_auc(sc["forget"], np.r_[sc["retain"], sc["heldout"]])}
        for g, v in want.items():
            assert got[name][g]["auc"] == pytest.approx(v, abs=1e-12), (name, g)
    # the deleted samples' loss rose: the attack finds them well above chance
    assert got["loss_diff"]["all"]["auc"] > 0.8 and got["lr"]["all"]["auc"] > 0.8
    # TPR at low FPR against an independent threshold sweep
    pos, neg = ld["forget"], np.r_[ld["retain"], ld["heldout"]]
    thr = np.sort(neg)[::-1][int(np.floor(0.01 * len(neg)))]  # 1 of 120 negatives above: FPR 0.83% <= 1%
    assert got["loss_diff"]["all"]["tpr_at_1pct_fpr"] == pytest.approx((pos >= thr).mean() if (neg >= thr).mean() <= 0.01
                                                                      else (pos > thr).mean())
