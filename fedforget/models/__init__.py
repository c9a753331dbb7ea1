"""Small reference networks. ``build_model(cfg, input_shape, num_classes, seed)``."""

from __future__ import annotations

import math

import torch
from torch import nn

from fedforget.config import ModelConfig
from fedforget.seeding import torch_seeded


class MLP(nn.Module):
    def __init__(self, in_features: int, hidden: int, num_classes: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


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


def build_model(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int, seed: int) -> nn.Module:
    """Build a freshly initialised model; the same seed gives the same weights."""
    with torch_seeded(seed):
        if cfg.name == "cnn":
            if len(input_shape) != 3:
                from fedforget.errors import ConfigError

                raise ConfigError(f"model.name 'cnn' needs image inputs (C, H, W), got shape {input_shape}; use 'mlp'")
            return SmallCNN(input_shape[0], (input_shape[1], input_shape[2]), cfg.hidden, num_classes)
        return MLP(math.prod(input_shape), cfg.hidden, num_classes)
