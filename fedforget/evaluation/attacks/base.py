"""The ``Attack`` role: a per-sample membership signal computed from a model's logits
and the true labels. Signals are computed where the data lives (on the client); only the
signal vectors reach the server.

Two hooks:

* :meth:`Attack.score` (client side): the per-sample signal of one model, higher means
  "more likely a member" for attacks that need no reference models.
* :meth:`Attack.calibrate` (server side, only for attacks with ``needs_shadows``): turn the
  target model's signal into the attack score using the same signal computed by K shadow
  (reference) models and whether each sample was IN each shadow's training data.

The numerically delicate quantities (log-softmax, log(1 - p_i), the LiRA logit) are
computed from logits with ``logsumexp`` here once, in float64.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from fedforget.util.registry import Registry


class Attack:
    """Override :meth:`score` (and :meth:`calibrate` when ``needs_shadows``)."""

    needs_shadows: ClassVar[bool] = False
    # calibrate() also takes ``population=`` (indices of the non-member population samples)
    # and the RMIA options ``gamma=`` / ``offline_a=`` (fedforget.evaluation.attacks.rmia)
    needs_population: ClassVar[bool] = False

    def score(self, logits: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
        raise NotImplementedError

    def calibrate(
        self, target: np.ndarray, shadow: np.ndarray, shadow_in: np.ndarray, *, global_variance: bool = False
    ) -> np.ndarray:
        """Final per-sample score from the target's signal ``target`` (n,), the shadow
        models' signals ``shadow`` (K, n) and IN flags ``shadow_in`` (K, n)."""
        return np.asarray(target, dtype=np.float64)


ATTACKS: Registry[type[Attack]] = Registry("attack", "fedforget.evaluation.attacks")
register_attack = ATTACKS.register


def signals(names: tuple[str, ...] | list[str], logits: torch.Tensor, labels: torch.Tensor) -> dict[str, np.ndarray]:
    """Every named attack's per-sample signal on ``(logits, labels)``."""
    return {n: np.asarray(ATTACKS.get(n)().score(logits, labels), dtype=np.float64) for n in names}


# ---------------------------------------------------------------------------- stable maths


def log_softmax64(logits: torch.Tensor) -> torch.Tensor:
    return F.log_softmax(logits.detach().to(torch.float64), dim=1)
