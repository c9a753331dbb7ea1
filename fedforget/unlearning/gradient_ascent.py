"""Gradient ascent: maximise the cross-entropy on the forget set.

The simplest approximate-unlearning baseline ("NegGrad"): ascend the training loss on
the data to be forgotten. Used as a baseline throughout the machine-unlearning
literature, e.g. Golatkar, Achille & Soatto, "Eternal Sunshine of the Spotless Net:
Selective Forgetting in Deep Networks", CVPR 2020; Thudi et al., "Unrolling SGD:
Understanding Factors Influencing Machine Unlearning", EuroS&P 2022; and in federated
form Halimi et al., "Federated Unlearning: How to Efficiently Erase a Client in FL?",
2022 (which bounds the ascent, see ``projected_ga``).

Supported granularities: samples, class, client.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fedforget.unlearning.base import Unlearner, register_unlearner


@register_unlearner("gradient_ascent")
class GradientAscent(Unlearner):
    """Minimise ``-CE(f(x), y)`` on the forget set."""

    granularities = frozenset({"samples", "class", "client"})

    def forget_loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return -F.cross_entropy(model(x), y)
