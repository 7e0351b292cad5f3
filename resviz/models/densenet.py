"""A DenseNet-BC style net (Huang et al. 2017), so graphs also show concatenation skips.

Every dense layer concatenates its input with its new features. The plain twin
(``residual=False``) keeps only the new features, a chain with no skips.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import ResvizError
from .parts import activation, norm2d
from .resnet import conv1x1, conv3x3


class DenseLayer(nn.Module):
    def __init__(self, in_channels: int, growth_rate: int, *, norm: str, act: str, residual: bool) -> None:
        super().__init__()
        self.residual = residual
        inner = 4 * growth_rate
        self.bn1 = norm2d(norm, in_channels)
        self.relu1 = activation(act)
        self.conv1 = conv1x1(in_channels, inner)
        self.bn2 = norm2d(norm, inner)
        self.relu2 = activation(act)
        self.conv2 = conv3x3(inner, growth_rate)

    def forward(self, x: Tensor) -> Tensor:
        new = self.conv1(self.relu1(self.bn1(x)))
        new = self.conv2(self.relu2(self.bn2(new)))
        return torch.cat([x, new], 1) if self.residual else new


class Transition(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, *, norm: str, act: str) -> None:
        super().__init__()
        self.bn = norm2d(norm, in_channels)
        self.relu = activation(act)
        self.conv = conv1x1(in_channels, out_channels)
        self.pool = nn.AvgPool2d(2)

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.conv(self.relu(self.bn(x))))


class DenseNet(nn.Module):
    def __init__(self, block_layers: list[int], growth_rate: int, *, num_classes: int, in_channels: int,
                 norm: str, act: str, residual: bool, compression: float = 0.5) -> None:
        super().__init__()
        channels = 2 * growth_rate
        self.conv1 = conv3x3(in_channels, channels)
        for index, count in enumerate(block_layers):
            layers = []
            for _ in range(count):
                layers.append(DenseLayer(channels, growth_rate, norm=norm, act=act, residual=residual))
                channels = channels + growth_rate if residual else growth_rate
            self.add_module(f"dense{index + 1}", nn.Sequential(*layers))
            if index < len(block_layers) - 1:
                out = max(growth_rate, int(channels * compression))
                self.add_module(f"transition{index + 1}", Transition(channels, out, norm=norm, act=act))
                channels = out
        self.bn_final = norm2d(norm, channels)
        self.relu_final = activation(act)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv1(x)
        for name, child in self.named_children():
            if name.startswith(("dense", "transition")):
                x = child(x)
        x = self.relu_final(self.bn_final(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def densenet(*, depth: int = 40, growth_rate: int = 12, blocks: int = 3, num_classes: int = 10,
             in_channels: int = 3, norm: str = "batch", activation: str = "relu", residual: bool = True,
             name: str = "densenet") -> DenseNet:
    """``depth`` counts conv and linear layers: 2 per dense layer, one per transition, stem and classifier."""
    per_block, rest = divmod(depth - 2 - (blocks - 1), 2 * blocks)
    if blocks < 1 or per_block < 1 or rest:
        raise ResvizError(f"{name}: depth {depth} does not split into {blocks} dense blocks of 2-conv layers "
                          f"(depth = 2 * {blocks} * k + {blocks + 1}, e.g. {2 * blocks * 6 + blocks + 1})")
    return DenseNet([per_block] * blocks, growth_rate, num_classes=num_classes, in_channels=in_channels,
                    norm=norm, act=activation, residual=residual)
