"""Gradient ascent: maximise the cross-entropy on the forget set.

The simplest approximate-unlearning baseline ("NegGrad"): ascend the training loss on
the data to be forgotten. Used as a baseline throughout the machine-unlearning
literature, e.g. Golatkar, Achille & Soatto, "Eternal Sunshine of the Spotless Net:
Selective Forgetting in Deep Networks", CVPR 2020; Thudi et al., "Unrolling SGD:
Understanding Factors Influencing Machine Unlearning", EuroS&P 2022; and in federated
form Halimi et al., "Federated Unlearning: How to Efficiently Erase a Client in FL?",
2022 (which bounds the ascent, see ``projected_ga``).

With ``unlearning.calibration: target`` the ascent is bounded per sample: a forget
sample stops pushing once its true-class confidence is at the non-member level
(fedforget.unlearning.calibration); unbounded ascent is ``calibration: none``.

Supported granularities: samples, class, client.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fedforget.unlearning.base import Unlearner, register_unlearner
from fedforget.unlearning.calibration import masked_mean


@register_unlearner("gradient_ascent")
class GradientAscent(Unlearner):
    """Minimise ``-CE(f(x), y)`` on the forget set."""

    granularities = frozenset({"samples", "class", "client"})

    def forget_loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logits = model(x)
        if self.calibrated:  # ascent stops per sample once p_y reaches the non-member level
            return masked_mean(-F.cross_entropy(logits, y, reduction="none"), self.active(logits, y))
        return -F.cross_entropy(logits, y)
