"""Multi-layer perceptron: ``hidden: 128`` (one hidden layer) or ``hidden: [400, 400]``."""

from __future__ import annotations

import math

import torch
from torch import nn

from fedforget.config import ModelConfig
from fedforget.models.base import hidden_sizes, register_model


class MLP(nn.Module):
    def __init__(self, in_features: int, hidden: int | tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        sizes = (hidden,) if isinstance(hidden, int) else tuple(hidden)
        layers: list[nn.Module] = [nn.Flatten()]
        prev = in_features
        for h in sizes:
            layers += [nn.Linear(prev, h), nn.ReLU()]
            prev = h
        layers.append(nn.Linear(prev, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@register_model("mlp")
def mlp(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    return MLP(math.prod(input_shape), hidden_sizes(cfg), num_classes)
