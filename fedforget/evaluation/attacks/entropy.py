"""Entropy threshold attack: Salem et al., "ML-Leaks", NDSS 2019 (Song & Mittal 2021 fit
its thresholds per class).

score = -H(p) = sum_i p_i log p_i (members get confident, low-entropy predictions).
"""

from __future__ import annotations

import numpy as np
import torch

from fedforget.evaluation.attacks.base import Attack, log_softmax64, register_attack


@register_attack("entropy")
class EntropyAttack(Attack):
    def score(self, logits: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
        logp = log_softmax64(logits)
        return (logp.exp() * logp).sum(1).numpy()
