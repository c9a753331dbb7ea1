"""ResNet-18 (He et al. 2016, "Deep Residual Learning for Image Recognition"), CIFAR
variant: 3x3 stem convolution (stride 1), no max-pool, four stages of two BasicBlocks
(widths w, 2w, 4w, 8w; w = ``model.width``, 64 in the paper), global average pooling.

``model.norm``: ``group`` (default) replaces BatchNorm by GroupNorm with
``model.norm_groups`` groups -- BatchNorm's running statistics are a known problem under
FedAvg on non-IID clients (Hsieh et al. 2020, "The Non-IID Data Quagmire of
Decentralized Machine Learning"); ``batch`` keeps BatchNorm (its running statistics are
averaged like weights); ``none`` has no normalisation layers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fedforget.config import ModelConfig
from fedforget.models.base import need_image, register_model
from fedforget.util.errors import ConfigError


def _norm(kind: str, groups: int, channels: int) -> nn.Module:
    if kind == "group":
        return nn.GroupNorm(groups, channels)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    return nn.Identity()


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, norm: str, groups: int) -> None:
        super().__init__()
        bias = norm == "none"
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=bias)
        self.n1 = _norm(norm, groups, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=bias)
        self.n2 = _norm(norm, groups, cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=bias), _norm(norm, groups, cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.n1(self.conv1(x)))
        out = self.n2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    def __init__(self, in_channels: int, num_classes: int, width: int = 64, norm: str = "group", groups: int = 2) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, stride=1, padding=1, bias=norm == "none"),
            _norm(norm, groups, width), nn.ReLU(),
        )
        stages = []
        cin = width
        for i, mult in enumerate((1, 2, 4, 8)):
            cout = width * mult
            stride = 1 if i == 0 else 2
            stages.append(nn.Sequential(BasicBlock(cin, cout, stride, norm, groups), BasicBlock(cout, cout, 1, norm, groups)))
            cin = cout
        self.stages = nn.Sequential(*stages)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.stages(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


@register_model("resnet18")
def resnet18(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    need_image("resnet18", input_shape, 8)
    if cfg.norm == "group" and cfg.width % cfg.norm_groups:
        raise ConfigError(
            f"model.norm_groups must divide model.width for GroupNorm, got width {cfg.width} and "
            f"{cfg.norm_groups} groups; pick a divisor of {cfg.width}"
        )
    return ResNet18(input_shape[0], num_classes, cfg.width, cfg.norm, cfg.norm_groups)
