"""The ``Attack`` role: a per-sample membership signal computed from a model's logits
and the true labels. Signals are computed where the data lives (on the client); only the
signal vectors reach the server."""

from __future__ import annotations

import numpy as np
import torch

from fedforget.registry import Registry


class Attack:
    """Override :meth:`score`: higher means "more likely a member"."""

    def score(self, logits: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
        raise NotImplementedError


ATTACKS: Registry[type[Attack]] = Registry("attack", "fedforget.evaluation.attacks")
register_attack = ATTACKS.register


def signals(names: tuple[str, ...] | list[str], logits: torch.Tensor, labels: torch.Tensor) -> dict[str, np.ndarray]:
    """Every named attack's per-sample score on ``(logits, labels)``."""
    return {n: np.asarray(ATTACKS.get(n)().score(logits, labels), dtype=np.float64) for n in names}
