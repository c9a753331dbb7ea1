"""A small 2-conv CNN (3x3 convs, one max-pool) with an MLP head of ``hidden`` units."""

from __future__ import annotations

import torch
from torch import nn

from fedforget.config import ModelConfig
from fedforget.models.base import hidden_sizes, need_image, register_model


class SmallCNN(nn.Module):
    def __init__(self, in_channels: int, spatial: tuple[int, int], hidden: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        h, w = spatial[0] // 2, spatial[1] // 2
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(32 * h * w, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@register_model("cnn")
def cnn(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    need_image("cnn", input_shape, 2)
    return SmallCNN(input_shape[0], (input_shape[1], input_shape[2]), hidden_sizes(cfg)[0], num_classes)
