"""Pre-activation ResNets (He et al. 2016, "Identity Mappings in Deep Residual Networks").

Norm and activation come before each convolution, so the skip path is a pure identity from
block to block; a projection, where the shape changes, takes the pre-activated input.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import ResvizError
from .parts import activation, norm2d
from .resnet import conv1x1, conv3x3


class PreActBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int = 1, *, norm: str = "batch",
                 act: str = "relu", residual: bool = True) -> None:
        super().__init__()
        self.residual = residual
        self.bn1 = norm2d(norm, in_planes)
        self.relu1 = activation(act)
        self.conv1 = conv3x3(in_planes, planes, stride)
        self.bn2 = norm2d(norm, planes)
        self.relu2 = activation(act)
        self.conv2 = conv3x3(planes, planes)
        needs_projection = residual and (stride != 1 or in_planes != planes)
        self.downsample = conv1x1(in_planes, planes, stride) if needs_projection else None
        # No norm closes the branch here; zero-init then acts on the branch's first norm's
        # successor, the second norm, which scales the last convolution's input.
        self.branch_last_norm = self.bn2 if residual else None

    def forward(self, x: Tensor) -> Tensor:
        pre = self.relu1(self.bn1(x))
        out = self.conv1(pre)
        out = self.conv2(self.relu2(self.bn2(out)))
        if self.residual:
            identity = x if self.downsample is None else self.downsample(pre)
            out = out + identity
        return out


class PreActResNet(nn.Module):
    def __init__(self, layers: list[int], widths: list[int], *, num_classes: int = 10, in_channels: int = 3,
                 norm: str = "batch", act: str = "relu", residual: bool = True) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_channels, widths[0])
        in_planes = widths[0]
        for index, (count, width) in enumerate(zip(layers, widths)):
            blocks = []
            for i in range(count):
                stride = 2 if index > 0 and i == 0 else 1
                blocks.append(PreActBlock(in_planes, width, stride, norm=norm, act=act, residual=residual))
                in_planes = width
            self.add_module(f"layer{index + 1}", nn.Sequential(*blocks))
        self.bn_final = norm2d(norm, in_planes)
        self.relu_final = activation(act)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(in_planes, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv1(x)
        for name, stage in self.named_children():
            if name.startswith("layer"):
                x = stage(x)
        x = self.relu_final(self.bn_final(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def preact_resnet(*, depth: int = 20, width: int = 16, num_classes: int = 10, in_channels: int = 3,
                  norm: str = "batch", activation: str = "relu", residual: bool = True,
                  name: str = "preact_resnet") -> PreActResNet:
    """CIFAR-style pre-activation nets: 6n+2 layers in three stages (width, 2x, 4x).

    Depth 18 and 34 give the four-stage variant (widths 64..512, [2,2,2,2] / [3,4,6,3]).
    """
    if depth in (18, 34):
        layers = [2, 2, 2, 2] if depth == 18 else [3, 4, 6, 3]
        base = width if width != 16 else 64
        widths = [base, base * 2, base * 4, base * 8]
    elif depth >= 8 and (depth - 2) % 6 == 0:
        n = (depth - 2) // 6
        layers, widths = [n, n, n], [width, width * 2, width * 4]
    else:
        raise ResvizError(f"{name}: depth {depth} is not 18, 34 or 6n+2 (20, 32, 56, 110, ...)")
    return PreActResNet(layers, widths, num_classes=num_classes, in_channels=in_channels, norm=norm,
                        act=activation, residual=residual)
