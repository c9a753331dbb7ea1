"""Retain-matched (calibrated) objectives, the early-stopping rule and the stability guards."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fedforget.config import UnlearningConfig
from fedforget.data.datasets import ArrayData
from fedforget.training.local import local_sgd
from fedforget.unlearning import UNLEARNERS
from fedforget.unlearning.calibration import entropy, member_share, reference_options, should_stop
from fedforget.unlearning.stability import check_finite_arrays, check_finite_updates
from fedforget.util.errors import DivergenceError


def _data(n: int = 64, d: int = 8, c: int = 4, seed: int = 0) -> ArrayData:
    g = np.random.default_rng(seed)
    return ArrayData(g.normal(size=(n, d)).astype(np.float32), g.integers(0, c, n).astype(np.int64), np.arange(n), c)


def _model(d: int = 8, c: int = 4) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(d, 16), torch.nn.ReLU(), torch.nn.Linear(16, c))


def test_reference_options_are_the_nonmember_quantiles() -> None:
    m, data = _model(), _data()
    opts = reference_options(m, data, 0.8)
    with torch.no_grad():
        logits = m(torch.from_numpy(data.x)).double()
    h = entropy(logits).numpy()
    lc = F.log_softmax(logits, 1)[torch.arange(len(data)), torch.from_numpy(data.y)].numpy()
    assert opts["opt.target_entropy"] == pytest.approx(np.quantile(h, 0.8))
    assert opts["opt.target_logconf"] == pytest.approx(np.quantile(lc, 0.2))
    # on the pool itself, a share q of the samples is on the member side of each target
    assert np.mean(h < opts["opt.target_entropy"]) == pytest.approx(0.8, abs=0.05)
    assert np.mean(lc > opts["opt.target_logconf"]) == pytest.approx(0.8, abs=0.05)


@pytest.mark.parametrize("method", ["oeu", "gradient_ascent", "sau"])
def test_calibrated_objective_is_flat_once_every_sample_reaches_the_target(method: str) -> None:
    m, data = _model(), _data()
    x, y = torch.from_numpy(data.x), torch.from_numpy(data.y)
    unl = UNLEARNERS.get(method)(UnlearningConfig(calibration="target"))
    # targets every sample already meets: max entropy below all, confidence above all
    unl.options = {"target_entropy": -1.0, "target_logconf": 0.0}
    loss = unl.forget_loss(m, x, y)
    loss.backward()
    assert float(loss.detach()) == 0.0
    assert all(float(p.grad.abs().sum()) == 0.0 for p in m.parameters())
    # targets no sample meets: the objective pushes every sample
    m.zero_grad()
    unl.options = {"target_entropy": 10.0, "target_logconf": -1e9}
    unl.forget_loss(m, x, y).backward()
    assert sum(float(p.grad.abs().sum()) for p in m.parameters()) > 0
    # uncalibrated (the original objective) ignores the targets
    unl_none = UNLEARNERS.get(method)(UnlearningConfig(calibration="none"))
    unl_none.options = {"target_entropy": -1.0, "target_logconf": 0.0}
    assert float(unl_none.forget_loss(m, x, y)) != 0.0


def test_calibrated_oeu_is_a_hinge_on_entropy() -> None:
    m, data = _model(), _data()
    x, y = torch.from_numpy(data.x), torch.from_numpy(data.y)
    h = entropy(m(x)).detach()
    tau = float(h.median())
    unl = UNLEARNERS.get("oeu")(UnlearningConfig(calibration="target"))
    unl.options = {"target_entropy": tau, "target_logconf": 0.0}
    assert float(unl.forget_loss(m, x, y)) == pytest.approx(float(torch.relu(tau - h).mean()), rel=1e-5)


def test_qmul_calibrated_update_is_finite_and_masks_nonmember_like_samples() -> None:
    m, data = _model(), _data()
    unl = UNLEARNERS.get("qmul")(UnlearningConfig(calibration="target", local_steps=3))
    unl.options = {"target_entropy": -1.0, "target_logconf": 0.0}  # every sample already forgotten
    upd = unl.forget_update(m, data, data, torch.Generator().manual_seed(0))
    assert torch.isfinite(upd).all()
    assert float(upd.abs().max()) == 0.0  # forget term off, and the reweighting gives retain weight 0


def test_member_share_and_stopping_rule() -> None:
    rows = [{"n_forget": 10, "member_like": 3}, {"n_forget": 30, "member_like": 9}, {"n_forget": 0}]
    assert member_share(rows) == pytest.approx(12 / 40)
    assert should_stop(0.3, 0.5) and should_stop(0.5, 0.5) and not should_stop(0.51, 0.5)
    assert member_share([{"n_forget": 5}]) is None and not should_stop(None, 0.5)


def test_gradient_clipping_bounds_each_step() -> None:
    m, data = _model(), _data()
    before = torch.cat([p.detach().flatten().clone() for p in m.parameters()])
    huge = lambda mm, x, y: 1e6 * F.cross_entropy(mm(x), y)  # noqa: E731
    local_sgd(m, data, loss_fn=huge, lr=0.1, batch_size=64, gen=torch.Generator().manual_seed(0), max_steps=1,
              max_grad_norm=1.0)
    after = torch.cat([p.detach().flatten() for p in m.parameters()])
    assert float((after - before).norm()) <= 0.1 * 1.0 + 1e-6


def test_non_finite_updates_and_weights_raise_a_divergence_error() -> None:
    good = {0: ({"forget_update": np.ones(3, np.float32)}, {}), 2: ({"retain_dirs": np.ones((1, 3))}, {})}
    check_finite_updates("sau", good)
    bad = {**good, 1: ({"forget_update": np.array([0.0, np.nan, 1.0], np.float32)}, {})}
    with pytest.raises(DivergenceError, match=r"method 'sau': client 1 .*non-finite.*unlearning.lr"):
        check_finite_updates("sau", bad)
    with pytest.raises(DivergenceError, match="w.0"):
        check_finite_arrays("gradient_ascent", {"w.0": np.array([np.inf]), "mask": np.array([True])}, "round 1")


def test_oeu_settling_pulls_only_over_unlearned_samples_down() -> None:
    m, data = _model(), _data()
    x, y = torch.from_numpy(data.x), torch.from_numpy(data.y)
    h = entropy(m(x)).detach()
    unl = UNLEARNERS.get("oeu")(UnlearningConfig(calibration="target"))
    tau = float(h.median())
    unl.options = {"target_entropy": 0.0, "target_logconf": 0.0, "settle": 1, "settle_entropy": tau}
    assert float(unl.forget_loss(m, x, y)) == pytest.approx(float(torch.relu(h - tau).mean()), rel=1e-5)
    unl.options["settle_entropy"] = float(h.max()) + 1.0  # nobody above the level: flat
    assert float(unl.forget_loss(m, x, y).detach()) == 0.0
