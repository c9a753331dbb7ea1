"""Confidence threshold attack: Salem et al., "ML-Leaks: Model and Data Independent
Membership Inference Attacks and Defenses on Machine Learning Models", NDSS 2019; with
class-dependent thresholds as in Song & Mittal, "Systematic Evaluation of Privacy Risks
of Machine Learning Models", USENIX Security 2021.

score = p_y, the probability of the true class.
"""

from __future__ import annotations

import numpy as np
import torch

from fedforget.evaluation.attacks.base import Attack, log_softmax64, register_attack


@register_attack("confidence")
class ConfidenceAttack(Attack):
    def score(self, logits: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
        return log_softmax64(logits).gather(1, labels[:, None]).squeeze(1).exp().numpy()
