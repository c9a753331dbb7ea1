"""The ``classification`` task: a sample is (features, integer label), the model returns
logits (n, C). The formulas are those fedforget's training and attacks use today:

* loss: cross-entropy, mean over the batch (``fedforget.training.local.cross_entropy_loss``);
  per-sample: the same without reduction;
* signals, float64 from logits (``fedforget.evaluation.attacks``): ``loss`` = log p_y
  (Yeom et al. 2018), ``confidence`` = p_y (Salem et al. 2019), ``entropy`` =
  sum_i p_i log p_i (Salem et al. 2019), ``modified_entropy`` = -Mentr (Song & Mittal 2021,
  eq. 4), ``lira`` = log p_y - log(1 - p_y) (Carlini et al. 2022);
* accuracy: argmax of the logits equals the label.

The attack modules are not routed through here yet (issue 26 wires them); the tests check
that these values equal theirs bit for bit.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from fedforget.tasks.base import Task, register_task, unknown_signal


def _log_softmax64(logits: torch.Tensor) -> torch.Tensor:
    return F.log_softmax(logits.detach().to(torch.float64), dim=1)


def log_rest(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``log sum_{y' != y} p_y'`` for each row, from logits (logsumexp over the other
    classes minus logsumexp over all): exact even when p_y rounds to 1."""
    z = logits.detach().to(torch.float64)
    others = z.scatter(1, labels[:, None], float("-inf"))
    return torch.logsumexp(others, dim=1) - torch.logsumexp(z, dim=1)


def log1m_softmax(logits: torch.Tensor) -> torch.Tensor:
    """``log(1 - p_i)`` for every class i, from logits. ``log1p(-p)`` is exact for
    p < 1/2; the (at most one) class with p >= 1/2 per row uses logsumexp over the others."""
    z = logits.detach().to(torch.float64)
    logp = F.log_softmax(z, dim=1)
    out = torch.log1p(-logp.exp())
    top = logp.argmax(dim=1)
    out.scatter_(1, top[:, None], log_rest(z, top)[:, None])
    return out


def _logpy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return _log_softmax64(logits).gather(1, labels[:, None]).squeeze(1)


def _entropy_signal(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    logp = _log_softmax64(logits)
    return (logp.exp() * logp).sum(1)


def _modified_entropy_signal(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    logp = _log_softmax64(logits)
    p = logp.exp()
    idx = labels[:, None]
    py, logpy = p.gather(1, idx).squeeze(1), logp.gather(1, idx).squeeze(1)
    other = (p * log1m_softmax(logits)).scatter(1, idx, 0.0).sum(1)
    return -(-(1.0 - py) * logpy - other)


_SIGNALS = {
    "loss": _logpy,
    "confidence": lambda z, y: _logpy(z, y).exp(),
    "entropy": _entropy_signal,
    "modified_entropy": _modified_entropy_signal,
    "lira": lambda z, y: _logpy(z, y) - log_rest(z, y),
}


@register_task("classification")
class Classification(Task):
    name = "classification"
    signal_names = tuple(_SIGNALS)

    def forward(self, model: torch.nn.Module, inputs: object) -> torch.Tensor:
        return model(inputs)

    def loss(self, outputs: torch.Tensor, batch: object) -> torch.Tensor:
        return F.cross_entropy(outputs, batch)  # type: ignore[arg-type]

    def per_sample_loss(self, outputs: torch.Tensor, batch: object) -> torch.Tensor:
        return F.cross_entropy(outputs, batch, reduction="none")  # type: ignore[arg-type]

    def signals(self, names: tuple[str, ...] | list[str], outputs: torch.Tensor, batch: object,
                **extra: object) -> dict[str, np.ndarray]:
        out = {}
        for n in names:
            if n not in _SIGNALS:
                raise unknown_signal(self.name, n, self.signal_names)
            out[n] = np.asarray(_SIGNALS[n](outputs, batch).numpy(), dtype=np.float64)
        return out

    def accuracy_counts(self, outputs: torch.Tensor, batch: object) -> tuple[int, int]:
        labels = torch.as_tensor(batch)
        return int((outputs.argmax(1) == labels).sum()), int(labels.numel())
