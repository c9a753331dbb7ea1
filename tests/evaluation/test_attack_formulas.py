"""Formula tests: every attack against values computed by hand on fixed logits."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fedforget.evaluation.attacks import ATTACKS
from fedforget.evaluation.attacks.lira import gaussian_fit, lira_offline, lira_online, lira_phi
from fedforget.evaluation.attacks.modified_entropy import modified_entropy
from fedforget.evaluation.metrics import mia_metrics
from fedforget.evaluation.mia_efficacy import mia_efficacy
from fedforget.evaluation.thresholds import fit_class_thresholds, thresholded_balanced_accuracy

# softmax(log p) = p exactly: rows are p = (0.7, 0.2, 0.1) and (0.25, 0.25, 0.5)
P = np.array([[0.7, 0.2, 0.1], [0.25, 0.25, 0.5]])
LOGITS = torch.tensor(np.log(P))
Y = torch.tensor([0, 1])


def score(name: str, logits: torch.Tensor = LOGITS, y: torch.Tensor = Y) -> np.ndarray:
    return ATTACKS.get(name)().score(logits, y)


def test_loss_confidence_entropy_by_hand() -> None:
    np.testing.assert_allclose(score("loss"), [math.log(0.7), math.log(0.25)], rtol=1e-12)
    np.testing.assert_allclose(score("confidence"), [0.7, 0.25], rtol=1e-12)
    h0 = -(0.7 * math.log(0.7) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1))  # 0.801819
    h1 = -(2 * 0.25 * math.log(0.25) + 0.5 * math.log(0.5))  # 1.039721
    np.testing.assert_allclose(score("entropy"), [-h0, -h1], rtol=1e-12)
    np.testing.assert_allclose(score("entropy"), [-0.8018185525433373, -1.0397207708399179], rtol=1e-12)


def test_modified_entropy_by_hand() -> None:
    # Song & Mittal (2021): Mentr = -(1 - p_y) log p_y - sum_{i != y} p_i log(1 - p_i)
    m0 = -(0.3 * math.log(0.7)) - (0.2 * math.log(0.8) + 0.1 * math.log(0.9))
    m1 = -(0.75 * math.log(0.25)) - (0.25 * math.log(0.75) + 0.5 * math.log(0.5))
    assert m0 == pytest.approx(0.1621672, abs=1e-6)  # 0.1070025 + 0.0446287 + 0.0105361
    assert m1 == pytest.approx(1.458216, abs=2e-6)  # 1.039721 + 0.071921 + 0.346574
    np.testing.assert_allclose(modified_entropy(LOGITS, Y).numpy(), [m0, m1], rtol=1e-12)
    np.testing.assert_allclose(score("modified_entropy"), [-m0, -m1], rtol=1e-12)


def test_modified_entropy_is_not_the_copied_variant() -> None:
    # the widespread m_entropy uses log p_i where log(1 - p_i) belongs; the values differ
    wrong0 = -(0.3 * math.log(0.7)) - (0.2 * math.log(0.2) + 0.1 * math.log(0.1))
    assert abs(-score("modified_entropy")[0] - wrong0) > 0.3


def test_extreme_logits_stay_finite_and_exact() -> None:
    z = torch.tensor([[60.0, 0.0, 0.0], [0.0, 60.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([0, 0])
    for name in ("loss", "confidence", "entropy", "modified_entropy", "lira"):
        assert np.isfinite(score(name, z, y)).all(), name
    # phi = z_y - logsumexp_{y' != y} z_y'; in row 0 p_y rounds to 1 in float64
    np.testing.assert_allclose(lira_phi(z, y), [60.0 - math.log(2.0), 0.0 - math.log(math.exp(60.0) + 1.0)], rtol=1e-12)
    # Mentr for a near-certain correct prediction: -(1-p) log p - 2 * p_o log(1 - p_o) ~ 3 e^-60
    assert -score("modified_entropy", z, y)[0] == pytest.approx(3 * math.exp(-60), rel=1e-6)


def test_lira_phi_by_hand() -> None:
    np.testing.assert_allclose(lira_phi(LOGITS, Y), [math.log(0.7 / 0.3), math.log(0.25 / 0.75)], rtol=1e-12)
    np.testing.assert_allclose(score("lira"), [0.8472978603872037, -1.0986122886681098], rtol=1e-12)
    np.testing.assert_array_equal(score("lira_offline"), score("lira"))  # same client-side signal


# Two examples, K = 4 shadows. Example 0: IN phis 1, 3 (mean 2, std 1); OUT phis -1, 1
# (mean 0, std 1). Example 1: IN 0, 4 (mean 2, std 2); OUT 0, 0 (mean 0, std 0 -> floored).
SHADOW = np.array([[1.0, 0.0], [3.0, 4.0], [-1.0, 0.0], [1.0, 0.0]])
IN = np.array([[True, True], [True, True], [False, False], [False, False]])


def test_lira_gaussian_fit_and_online_score_by_hand() -> None:
    mu, sd = gaussian_fit(SHADOW, IN)
    np.testing.assert_allclose(mu, [2.0, 2.0])
    np.testing.assert_allclose(sd, [1.0, 2.0])
    # log N(2; 2, 1) - log N(2; 0, 1) = 0 - (-2) = 2
    s = lira_online(np.array([2.0]), SHADOW[:, :1], IN[:, :1])
    np.testing.assert_allclose(s, [2.0], rtol=1e-12)
    # phi = 0: log N(0; 2, 1) - log N(0; 0, 1) = -2
    np.testing.assert_allclose(lira_online(np.array([0.0]), SHADOW[:, :1], IN[:, :1]), [-2.0], rtol=1e-12)


def test_lira_offline_is_one_sided_out_only() -> None:
    # log Pr[Z <= phi], Z ~ N(0, 1): phi = 2 -> log 0.9772498680518208
    s = lira_offline(np.array([2.0, 0.0]), SHADOW[:, :1].repeat(2, 1), IN[:, :1].repeat(2, 1))
    np.testing.assert_allclose(s, [math.log(0.9772498680518208), math.log(0.5)], rtol=1e-10)
    # changing the IN shadows does not move the offline score
    sh2 = SHADOW[:, :1].repeat(2, 1).copy()
    sh2[:2] += 10.0
    np.testing.assert_allclose(lira_offline(np.array([2.0, 0.0]), sh2, IN[:, :1].repeat(2, 1)), s)


def test_lira_global_variance_pools_within_example_deviations() -> None:
    # IN deviations: (-1, 1) and (-2, 2) -> pooled var = (1 + 1 + 4 + 4) / 4 = 2.5
    # OUT deviations: (-1, 1) and (0, 0) -> pooled var = (1 + 1) / 4 = 0.5
    _, sd_in = gaussian_fit(SHADOW, IN, global_variance=True)
    _, sd_out = gaussian_fit(SHADOW, ~IN, global_variance=True)
    np.testing.assert_allclose(sd_in, [math.sqrt(2.5)] * 2)
    np.testing.assert_allclose(sd_out, [math.sqrt(0.5)] * 2)
    s = lira_online(np.array([2.0, 2.0]), SHADOW, IN, global_variance=True)
    # example 1: mean_in 2, mean_out 0: (0) - (-(2^2) / (2 * 0.5)) + log(sd_out / sd_in)
    want = 4.0 + math.log(math.sqrt(0.5) / math.sqrt(2.5))
    np.testing.assert_allclose(s, [want, want], rtol=1e-12)


def test_lira_needs_in_and_out_models() -> None:
    from fedforget.util.errors import FedForgetError

    with pytest.raises(FedForgetError, match="no IN shadow"):
        lira_online(np.zeros(1), np.zeros((2, 1)), np.zeros((2, 1), bool))


def test_class_thresholds_maximise_balanced_accuracy() -> None:
    # class 0: members score >= 0.5, class 1: members score >= 2 (one global threshold cannot do both)
    s = np.array([0.6, 0.7, 0.1, 0.2, 2.5, 3.0, 1.0, 1.5])
    lab = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    mem = np.array([1, 1, 0, 0, 1, 1, 0, 0], bool)
    thr = fit_class_thresholds(s, lab, mem, 2)
    assert 0.2 < thr[0] <= 0.6 and 1.5 < thr[1] <= 2.5
    assert thresholded_balanced_accuracy(s, lab, mem, thr) == 1.0
    glob = fit_class_thresholds(s, np.zeros(8, int), mem, 1)[0]
    assert thresholded_balanced_accuracy(s, np.zeros(8, int), mem, np.array([glob])) < 1.0


def test_mia_metrics_by_hand() -> None:
    m = mia_metrics(np.array([3.0, 2.0, 0.5]), np.array([1.0, 0.0]))
    assert m["auc"] == pytest.approx(5 / 6)  # 5 of 6 member/non-member pairs ordered right
    assert m["advantage"] == pytest.approx(2 / 3)  # threshold 2: TPR 2/3, FPR 0
    assert m["balanced_acc"] == pytest.approx(5 / 6)
    assert m["tpr_at_1pct_fpr"] == pytest.approx(2 / 3)
    assert (m["n_members"], m["n_nonmembers"]) == (3, 2)


def test_mia_efficacy_reads_forget_like_test_as_nonmembers() -> None:
    rng = np.random.default_rng(0)
    retain = rng.uniform(0.9, 1.0, 200)
    test = rng.uniform(0.0, 0.5, 300)
    seen = mia_efficacy(retain, test, rng.uniform(0.9, 1.0, 50), np.random.default_rng(1))
    unseen = mia_efficacy(retain, test, rng.uniform(0.0, 0.5, 50), np.random.default_rng(1))
    assert seen["n_fit_per_side"] == 200
    assert seen["mia_efficacy"] == 0.0 and unseen["mia_efficacy"] == 1.0
