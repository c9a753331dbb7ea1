"""A user's own model factories (the README's bring-your-own-model example, tested)."""

from __future__ import annotations

import math

from torch import nn


class TinyNet(nn.Module):
    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(in_features, 24), nn.Tanh(), nn.Linear(24, num_classes))

    def forward(self, x):  # noqa: ANN001, ANN201
        return self.body(x)


def tiny_net(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    return TinyNet(math.prod(input_shape), num_classes)


def not_a_module(input_shape: tuple[int, ...], num_classes: int) -> dict:
    return {"not": "a model"}


def wrong_arity(input_shape: tuple[int, ...]) -> nn.Module:
    return TinyNet(math.prod(input_shape), 2)
