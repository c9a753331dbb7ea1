"""The ``classification`` task: its loss, signals and accuracy are today's formulas, checked
against independent NumPy implementations and, bit for bit, against the attacks and the
training loss that use them now."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedforget.evaluation.attacks import ATTACKS
from fedforget.tasks import TASKS, get_task
from fedforget.training.local import cross_entropy_loss
from fedforget.util.errors import ConfigError


def _data(n: int = 40, c: int = 7, scale: float = 4.0, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, generator=g) * scale, torch.randint(0, c, (n,), generator=g)


def _np_logsoftmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    return z - np.log(np.exp(z).sum(1, keepdims=True))


def _np_signals(z: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    logp = _np_logsoftmax(z.astype(np.float64))
    p = np.exp(logp)
    rows = np.arange(len(y))
    py, logpy = p[rows, y], logp[rows, y]
    other = np.ones_like(p, dtype=bool)
    other[rows, y] = False
    mentr = -(1 - py) * logpy - np.where(other, p * np.log1p(-p), 0.0).sum(1)
    return {
        "loss": logpy,
        "confidence": py,
        "entropy": (p * logp).sum(1),
        "modified_entropy": -mentr,
        "lira": logpy - np.log(np.where(other, p, 0.0).sum(1)),
    }


def test_registered() -> None:
    assert {"classification", "causal_lm"} <= set(TASKS.names())


@pytest.mark.parametrize("seed", [0, 1])
def test_signals_match_numpy_and_the_attacks_bit_for_bit(seed: int) -> None:
    z, y = _data(seed=seed)
    task = get_task("classification")
    got = task.signals(task.signal_names, z, y)
    ref = _np_signals(z.numpy(), y.numpy())
    assert set(got) == set(ref)
    for name in task.signal_names:
        np.testing.assert_allclose(got[name], ref[name], rtol=1e-9, atol=1e-12, err_msg=name)
        assert np.array_equal(got[name], ATTACKS.get(name)().score(z, y)), name  # the attack's own value


def test_loss_per_sample_and_accuracy() -> None:
    z, y = _data()
    task = get_task("classification")
    model = torch.nn.Linear(7, 7)
    x = torch.randn(40, 7, generator=torch.Generator().manual_seed(3))
    assert torch.equal(task.loss(task.forward(model, x), y), cross_entropy_loss(model, x, y))
    nll = -_np_logsoftmax(z.numpy().astype(np.float64))[np.arange(40), y.numpy()]
    np.testing.assert_allclose(task.per_sample_loss(z, y).numpy(), nll, rtol=1e-5)
    correct, n = task.accuracy_counts(z, y)
    assert (correct, n) == (int((z.numpy().argmax(1) == y.numpy()).sum()), 40)


def test_unknown_signal_names_the_task_and_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"'min_k'.*classification.*loss, confidence"):
        get_task("classification").signals(["min_k"], *_data())
