"""A deep MLP and its residual twin: the clearest vanishing-gradient demonstration.

With sigmoid or tanh and no normalisation, the plain MLP's first layers receive gradients
orders of magnitude smaller than its last; the residual twin's ``h + f(h)`` keeps them alive.
"""

from __future__ import annotations

from torch import Tensor, nn

from ..errors import ResvizError
from .parts import activation, norm1d


class MLPBlock(nn.Module):
    def __init__(self, width: int, *, norm: str, act: str, residual: bool) -> None:
        super().__init__()
        self.residual = residual
        self.fc = nn.Linear(width, width)
        self.norm = norm1d(norm, width)
        self.act = activation(act)

    def forward(self, x: Tensor) -> Tensor:
        out = self.act(self.norm(self.fc(x)))
        return x + out if self.residual else out


class DeepMLP(nn.Module):
    def __init__(self, *, depth: int, width: int, in_features: int, num_classes: int, norm: str, act: str,
                 residual: bool) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc_in = nn.Linear(in_features, width)
        self.act_in = activation(act)
        self.blocks = nn.Sequential(*[MLPBlock(width, norm=norm, act=act, residual=residual) for _ in range(depth)])
        self.fc_out = nn.Linear(width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc_out(self.blocks(self.act_in(self.fc_in(self.flatten(x)))))


def deep_mlp(*, depth: int = 20, width: int = 64, num_classes: int = 10, in_channels: int = 1,
             input_size: int = 28, norm: str = "none", activation: str = "tanh", residual: bool = True,
             name: str = "mlp") -> DeepMLP:
    """``depth`` hidden blocks of ``width`` units between an input and an output layer."""
    if depth < 1 or width < 1:
        raise ResvizError(f"{name}: depth and width must be at least 1 (got depth={depth}, width={width})")
    return DeepMLP(depth=depth, width=width, in_features=in_channels * input_size * input_size,
                   num_classes=num_classes, norm=norm, act=activation, residual=residual)

