"""The small models of the documents resviz grew from.

- ``mnist_resnet``: a 3x3 conv of 32, two residual blocks (conv-act-conv, add, act), flatten,
  dense — the Keras MNIST example, in PyTorch.
- ``cifar_small_resnet``: stem 64; blocks 64, 64, 128 (stride 2, projection), 128; global
  average pooling; dense — the CIFAR-10 experiment that fixed an overfitting CNN.
- ``simple_cnn``: the plain CNN baseline of that experiment.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .parts import activation, norm2d
from .resnet import BasicBlock, conv3x3


class SeedResidualBlock(nn.Module):
    """``residual_block(x, filters)`` of the seed: conv-act, conv, add the input, act."""

    def __init__(self, channels: int, *, norm: str, act: str, residual: bool) -> None:
        super().__init__()
        self.residual = residual
        bias = norm == "none"
        self.conv1 = conv3x3(channels, channels, bias=bias)
        self.bn1 = norm2d(norm, channels)
        self.relu1 = activation(act)
        self.conv2 = conv3x3(channels, channels, bias=bias)
        self.bn2 = norm2d(norm, channels)
        self.relu2 = activation(act)
        self.branch_last_norm = self.bn2 if residual else None

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        if self.residual:
            out = out + x
        return self.relu2(out)


class MnistResNet(nn.Module):
    def __init__(self, *, width: int, num_classes: int, in_channels: int, input_size: int, norm: str, act: str,
                 residual: bool) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_channels, width, bias=norm == "none")
        self.bn1 = norm2d(norm, width)
        self.relu = activation(act)
        self.block1 = SeedResidualBlock(width, norm=norm, act=act, residual=residual)
        self.block2 = SeedResidualBlock(width, norm=norm, act=act, residual=residual)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(width * input_size * input_size, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        return self.fc(self.flatten(self.block2(self.block1(x))))


def mnist_resnet(*, width: int = 32, num_classes: int = 10, in_channels: int = 1, input_size: int = 28,
                 norm: str = "none", activation: str = "relu", residual: bool = True, name: str = "") -> MnistResNet:
    return MnistResNet(width=width, num_classes=num_classes, in_channels=in_channels, input_size=input_size,
                       norm=norm, act=activation, residual=residual)


class SmallCifarResNet(nn.Module):
    def __init__(self, *, width: int, num_classes: int, in_channels: int, norm: str, act: str, residual: bool) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_channels, width, bias=norm == "none")
        self.bn1 = norm2d(norm, width)
        self.relu = activation(act)
        options = dict(norm=norm, act=act, residual=residual, shortcut="B")
        self.layer1 = nn.Sequential(BasicBlock(width, width, **options), BasicBlock(width, width, **options))
        self.layer2 = nn.Sequential(BasicBlock(width, 2 * width, 2, **options),
                                    BasicBlock(2 * width, 2 * width, **options))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.layer2(self.layer1(self.relu(self.bn1(self.conv1(x)))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def cifar_small_resnet(*, width: int = 64, num_classes: int = 10, in_channels: int = 3, norm: str = "batch",
                       activation: str = "relu", residual: bool = True, name: str = "") -> SmallCifarResNet:
    return SmallCifarResNet(width=width, num_classes=num_classes, in_channels=in_channels, norm=norm,
                            act=activation, residual=residual)


class SimpleCNN(nn.Module):
    """Two conv-conv-pool stages and a two-layer classifier: a plain baseline with no skips."""

    def __init__(self, *, width: int, num_classes: int, in_channels: int, input_size: int, norm: str, act: str) -> None:
        super().__init__()
        bias = norm == "none"
        stages = []
        channels = in_channels
        for out in (width, 2 * width):
            stages.append(nn.Sequential(conv3x3(channels, out, bias=bias), norm2d(norm, out), activation(act),
                                        conv3x3(out, out, bias=bias), norm2d(norm, out), activation(act),
                                        nn.MaxPool2d(2)))
            channels = out
        self.features = nn.Sequential(*stages)
        self.flatten = nn.Flatten()
        side = input_size // 4
        self.fc1 = nn.Linear(channels * side * side, 128)
        self.relu = activation(act)
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.relu(self.fc1(self.flatten(self.features(x)))))


def simple_cnn(*, width: int = 32, num_classes: int = 10, in_channels: int = 3, input_size: int = 32,
               norm: str = "none", activation: str = "relu", name: str = "") -> SimpleCNN:
    return SimpleCNN(width=width, num_classes=num_classes, in_channels=in_channels, input_size=input_size,
                     norm=norm, act=activation)
