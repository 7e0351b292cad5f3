"""ResNets and their plain twins, after torchvision's ``resnet.py`` and He et al. (2016).

``residual=False`` builds the same network without its skip connections, so a residual net
and its plain twin differ only in their skips. Module names follow torchvision
(``layer2.0.conv1``, ``layer2.0.downsample.0``, ``fc``), so torchvision state dicts load.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ResvizError
from .parts import activation, norm2d


def conv3x3(in_planes: int, out_planes: int, stride: int = 1, bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=bias)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class PadShortcut(nn.Module):
    """Option A of He et al. (2016): subsample by ``stride`` and zero-pad the new channels.

    It has no parameters, so a ResNet with option A has exactly as many as its plain twin.
    """

    def __init__(self, in_planes: int, out_planes: int, stride: int) -> None:
        super().__init__()
        self.in_planes, self.out_planes, self.stride = in_planes, out_planes, stride

    def forward(self, x: Tensor) -> Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        extra = self.out_planes - self.in_planes
        return F.pad(x, (0, 0, 0, 0, extra // 2, extra - extra // 2))

    def extra_repr(self) -> str:
        return f"{self.in_planes}, {self.out_planes}, stride={self.stride}"


def make_shortcut(kind: str, in_planes: int, out_planes: int, stride: int, norm: str) -> nn.Module | None:
    """The shortcut of a block whose input and output differ, or None when they match."""
    if stride == 1 and in_planes == out_planes:
        return None
    if kind == "A":
        return PadShortcut(in_planes, out_planes, stride)
    return nn.Sequential(conv1x1(in_planes, out_planes, stride), norm2d(norm, out_planes))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions; ``out = act(F(x) + shortcut(x))`` when residual."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1, *, norm: str = "batch",
                 act: str = "relu", residual: bool = True, shortcut: str = "B") -> None:
        super().__init__()
        self.residual = residual
        bias = norm == "none"
        self.conv1 = conv3x3(in_planes, planes, stride, bias=bias)
        self.bn1 = norm2d(norm, planes)
        self.relu1 = activation(act)
        self.conv2 = conv3x3(planes, planes, bias=bias)
        self.bn2 = norm2d(norm, planes)
        self.relu2 = activation(act)
        self.downsample = make_shortcut(shortcut, in_planes, planes, stride, norm) if residual else None
        self.branch_last_norm = self.bn2 if residual else None

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.residual:
            identity = x if self.downsample is None else self.downsample(x)
            out = out + identity
        return self.relu2(out)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (stride on the 3x3, as torchvision's ResNet v1.5)."""

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1, *, norm: str = "batch",
                 act: str = "relu", residual: bool = True, shortcut: str = "B") -> None:
        super().__init__()
        self.residual = residual
        out_planes = planes * self.expansion
        self.conv1 = conv1x1(in_planes, planes)
        self.bn1 = norm2d(norm, planes)
        self.relu1 = activation(act)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = norm2d(norm, planes)
        self.relu2 = activation(act)
        self.conv3 = conv1x1(planes, out_planes)
        self.bn3 = norm2d(norm, out_planes)
        self.relu3 = activation(act)
        self.downsample = make_shortcut(shortcut, in_planes, out_planes, stride, norm) if residual else None
        self.branch_last_norm = self.bn3 if residual else None

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.relu2(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.residual:
            identity = x if self.downsample is None else self.downsample(x)
            out = out + identity
        return self.relu3(out)


class ResNet(nn.Module):
    """A stem, stages of blocks (``layer1``...), global average pooling and a classifier.

    ``stem="cifar"`` is the 3x3 stem of He et al. §4.2; ``stem="imagenet"`` the 7x7 stem with
    max pooling.
    """

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], layers: list[int], widths: list[int], *,
                 stem: str = "imagenet", num_classes: int = 1000, in_channels: int = 3, norm: str = "batch",
                 act: str = "relu", residual: bool = True, shortcut: str = "B") -> None:
        super().__init__()
        self.in_planes = widths[0]
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, widths[0], kernel_size=7, stride=2, padding=3, bias=False)
        else:
            self.conv1 = conv3x3(in_channels, widths[0], bias=norm == "none")
        self.bn1 = norm2d(norm, widths[0])
        self.relu = activation(act)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1) if stem == "imagenet" else None
        block_options = dict(norm=norm, act=act, residual=residual, shortcut=shortcut)
        for index, (count, width) in enumerate(zip(layers, widths)):
            stride = 1 if index == 0 else 2
            self.add_module(f"layer{index + 1}", self._make_layer(block, width, count, stride, block_options))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[-1] * block.expansion, num_classes)

    def _make_layer(self, block, planes: int, count: int, stride: int, options: dict) -> nn.Sequential:
        blocks = []
        for i in range(count):
            blocks.append(block(self.in_planes, planes, stride if i == 0 else 1, **options))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*blocks)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        if self.maxpool is not None:
            x = self.maxpool(x)
        for name, stage in self.named_children():
            if name.startswith("layer"):
                x = stage(x)
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


IMAGENET_LAYERS = {
    18: (BasicBlock, [2, 2, 2, 2]),
    34: (BasicBlock, [3, 4, 6, 3]),
    50: (Bottleneck, [3, 4, 6, 3]),
    101: (Bottleneck, [3, 4, 23, 3]),
    152: (Bottleneck, [3, 8, 36, 3]),
}


def cifar_resnet(*, depth: int = 20, width: int = 16, num_classes: int = 10, in_channels: int = 3,
                 norm: str = "batch", activation: str = "relu", residual: bool = True,
                 shortcut: str = "A", name: str = "resnet") -> ResNet:
    """The CIFAR-10 nets of He et al. (2016) §4.2: 6n+2 layers in three stages of 16/32/64."""
    if depth < 8 or (depth - 2) % 6:
        raise ResvizError(f"{name}: depth {depth} is not 6n+2 with n >= 1 (valid: 8, 14, 20, 32, 44, 56, 110, 1202, ...)")
    if shortcut not in ("A", "B"):
        raise ResvizError(f"{name}: option shortcut={shortcut!r} is not 'A' (zero-pad) or 'B' (projection)")
    n = (depth - 2) // 6
    return ResNet(BasicBlock, [n, n, n], [width, width * 2, width * 4], stem="cifar", num_classes=num_classes,
                  in_channels=in_channels, norm=norm, act=activation, residual=residual, shortcut=shortcut)


def imagenet_resnet(*, depth: int = 18, width: int = 64, num_classes: int = 1000, in_channels: int = 3,
                    norm: str = "batch", activation: str = "relu", residual: bool = True,
                    name: str = "resnet") -> ResNet:
    """torchvision's ResNet-18/34/50/101/152 (option B shortcuts)."""
    if depth not in IMAGENET_LAYERS:
        raise ResvizError(f"{name}: depth {depth} is not one of {', '.join(map(str, IMAGENET_LAYERS))}")
    block, layers = IMAGENET_LAYERS[depth]
    return ResNet(block, layers, [width, width * 2, width * 4, width * 8], stem="imagenet", num_classes=num_classes,
                  in_channels=in_channels, norm=norm, act=activation, residual=residual, shortcut="B")
