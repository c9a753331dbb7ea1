"""RMIA (Zarifzadeh et al., ICML 2024) against an independent numpy implementation of the
paper's formula, written from its definitions on probabilities (no log space, no sorting):

    LR(x, z) = (Pr(x|theta) / Pr(x)) / (Pr(z|theta) / Pr(z)),  Score(x) = Pr_z[LR(x, z) >= gamma]

with Pr(x) the mean of Pr(x|theta') over all reference models (online) or
((1 + a) mean_OUT + (1 - a)) / 2 (offline)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fedforget.evaluation.attacks import ATTACKS
from fedforget.evaluation.attacks.rmia import rmia_scores


def softmax_true(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    p = e / e.sum(axis=-1, keepdims=True)
    return np.take_along_axis(p, y[..., None], axis=-1)[..., 0]


def reference_rmia(p_target: np.ndarray, p_ref: np.ndarray, ref_in: np.ndarray, pop: np.ndarray,
                   offline: bool, a: float, gamma: float) -> np.ndarray:
    n = len(p_target)
    prx = np.empty(n)
    for i in range(n):
        if offline:
            outs = [p_ref[k, i] for k in range(p_ref.shape[0]) if not ref_in[k, i]]
            prx[i] = 0.5 * ((1 + a) * (sum(outs) / len(outs)) + (1 - a))
        else:
            prx[i] = p_ref[:, i].mean()
    scores = np.empty(n)
    for i in range(n):
        hits, total = 0, 0
        for j in pop:
            if j == i:
                continue
            lr = (p_target[i] / prx[i]) / (p_target[j] / prx[j])
            hits += lr >= gamma
            total += 1
        scores[i] = hits / total
    return scores


@pytest.mark.parametrize("offline", [False, True])
@pytest.mark.parametrize("gamma", [1.0, 2.0, 0.5])
def test_rmia_matches_independent_numpy(offline: bool, gamma: float) -> None:
    rng = np.random.default_rng(7)
    k, n, c = 6, 60, 5
    labels = rng.integers(0, c, n)
    target_logits = rng.normal(0, 2, (n, c))
    ref_logits = rng.normal(0, 2, (k, n, c))
    ref_in = rng.uniform(size=(k, n)) < 0.5
    ref_in[0], ref_in[1] = True, False  # every sample IN and OUT at least once
    pop = np.sort(rng.choice(n, 25, replace=False))
    a = 0.4
    att = ATTACKS.get("rmia_offline" if offline else "rmia")()
    tgt = att.score(torch.tensor(target_logits), torch.tensor(labels))
    sh = np.stack([att.score(torch.tensor(ref_logits[i]), torch.tensor(labels)) for i in range(k)])
    got = att.calibrate(tgt, sh, ref_in, population=pop, gamma=gamma, offline_a=a)
    want = reference_rmia(softmax_true(target_logits, labels), softmax_true(ref_logits, np.broadcast_to(labels, (k, n))),
                          ref_in, pop, offline, a, gamma)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert 0.05 < got.mean() < 0.95 and len(np.unique(got)) > 5  # not a degenerate case


def test_offline_with_a_one_is_the_out_mean() -> None:
    # a = 1: Pr(x) = Pr_OUT(x); then the score depends on the OUT mean only
    rng = np.random.default_rng(1)
    sh = np.log(rng.uniform(0.05, 1, (4, 30)))
    sh_in = np.zeros((4, 30), bool)
    sh_in[0] = True
    tgt = np.log(rng.uniform(0.05, 1, 30))
    s1 = rmia_scores(tgt, sh, sh_in, np.arange(10, 30), offline=True, a=1.0)
    sh2 = sh.copy()
    sh2[0] = 0.0  # changing the IN model changes nothing
    np.testing.assert_array_equal(s1, rmia_scores(tgt, sh2, sh_in, np.arange(10, 30), offline=True, a=1.0))
    assert not np.array_equal(s1, rmia_scores(tgt, sh2, sh_in, np.arange(10, 30), offline=False))


@pytest.mark.slow
def test_rmia_in_the_federated_mia(tmp_path: Path) -> None:
    from fedforget.client.inprocess import InProcessFederation
    from fedforget.run.experiment import Experiment
    from tests.conftest import tiny_config

    cfg = tiny_config("evaluation.attacks=[loss,lira,rmia,rmia_offline]", "evaluation.shadow_models=2",
                      f"evaluation.shadow_cache={tmp_path / 'cache'}", "evaluation.every_round=false", "unlearning.rounds=1")
    res = Experiment(cfg, InProcessFederation(cfg.partition.num_clients, tmp_path / "state"), tmp_path / "run").run()
    for name in ("unlearned", "retrained", "original"):
        for a in ("rmia", "rmia_offline"):
            m = res["models"][name]["mia"][a]
            assert 0.0 <= m["auc"] <= 1.0 and "tpr_at_0.1pct_fpr" in m and "tpr_at_1pct_fpr" in m
    # retain samples are members of every model: RMIA tells them from non-members better than chance
    assert res["models"]["original"]["mia_members"]["rmia"]["auc"] > 0.5
