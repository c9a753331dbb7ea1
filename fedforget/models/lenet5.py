"""LeNet-5 (LeCun et al. 1998, "Gradient-based learning applied to document
recognition"), the modern variant used for MNIST/FEMNIST in the federated literature:
conv 5x5 (6, padding 2) -> max-pool -> conv 5x5 (16) -> max-pool -> 120 -> 84 -> classes,
ReLU activations. Takes any (C, H, W) with H, W >= 12 (28x28 as in MNIST)."""

from __future__ import annotations

import torch
from torch import nn

from fedforget.config import ModelConfig
from fedforget.models.base import need_image, register_model


class LeNet5(nn.Module):
    def __init__(self, in_channels: int, spatial: tuple[int, int], num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        )
        h = ((spatial[0] // 2) - 4) // 2
        w = ((spatial[1] // 2) - 4) // 2
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(16 * h * w, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@register_model("lenet5")
def lenet5(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    need_image("lenet5", input_shape, 12)
    return LeNet5(input_shape[0], (input_shape[1], input_shape[2]), num_classes)
