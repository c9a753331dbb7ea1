"""Loss threshold attack: Yeom, Giacomelli, Fredrikson, Jha, "Privacy Risk in Machine
Learning: Analyzing the Connection to Overfitting", IEEE CSF 2018.

score = -CE(p, y) = log p_y (a member has low loss). Class-dependent thresholds fitted on
reference data (Song & Mittal 2021) are applied by :mod:`fedforget.evaluation.thresholds`.
"""

from __future__ import annotations

import numpy as np
import torch

from fedforget.evaluation.attacks.base import Attack, log_softmax64, register_attack


@register_attack("loss")
class LossAttack(Attack):
    def score(self, logits: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
        return log_softmax64(logits).gather(1, labels[:, None]).squeeze(1).numpy()
