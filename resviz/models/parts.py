"""Factories for the interchangeable parts of every zoo model: normalisation, activation, init.

Each call makes a fresh module, so no module is used twice in a forward pass; hooks, the
graph and attribution methods can then tell every use apart by its qualified name.
"""

from __future__ import annotations

import math

from torch import nn

from ..errors import ResvizError

NORMS = ("batch", "group", "layer", "none")
ACTIVATIONS = ("relu", "gelu", "tanh", "sigmoid")
INITS = ("default", "kaiming", "xavier")


def check_choice(model: str, option: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ResvizError(f"{model}: option {option}={value!r} is not one of {', '.join(choices)}")
    return value


def norm2d(kind: str, channels: int) -> nn.Module:
    """A normalisation layer for (N, C, H, W) feature maps."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        # 32 groups as in Wu & He (2018) where the width allows, else the largest divisor below.
        groups = math.gcd(32, channels)
        return nn.GroupNorm(groups, channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)  # normalises over C, H and W of each sample
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}")


def norm1d(kind: str, features: int) -> nn.Module:
    """A normalisation layer for (N, F) vectors."""
    if kind == "batch":
        return nn.BatchNorm1d(features)
    if kind == "group":
        return nn.GroupNorm(math.gcd(32, features), features)
    if kind == "layer":
        return nn.LayerNorm(features)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}")


def activation(kind: str) -> nn.Module:
    if kind == "relu":
        return nn.ReLU()
    if kind == "gelu":
        return nn.GELU()
    if kind == "tanh":
        return nn.Tanh()
    if kind == "sigmoid":
        return nn.Sigmoid()
    raise ValueError(f"unknown activation {kind!r}")


def is_norm(module: nn.Module) -> bool:
    return isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm))


def initialise(model: nn.Module, init: str, activation_kind: str = "relu", zero_init_residual: bool = False) -> None:
    """Apply an initialisation scheme in place.

    ``zero_init_residual`` zeroes the last norm's weight of every residual branch (blocks mark
    it as ``branch_last_norm``), so each block starts as the identity (Goyal et al. 2017).
    """
    if init != "default":
        nonlinearity = "relu" if activation_kind in ("relu", "gelu") else activation_kind
        gain = nn.init.calculate_gain(nonlinearity)
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                if init == "kaiming":
                    nn.init.kaiming_normal_(module.weight, mode="fan_out" if isinstance(module, nn.Conv2d) else "fan_in",
                                            nonlinearity="relu" if nonlinearity == "relu" else "linear")
                    if nonlinearity != "relu":
                        module.weight.data.mul_(gain)
                else:
                    nn.init.xavier_uniform_(module.weight, gain=gain)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif is_norm(module) and getattr(module, "weight", None) is not None:
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
    if zero_init_residual:
        for module in model.modules():
            last = getattr(module, "branch_last_norm", None)
            if last is not None and getattr(last, "weight", None) is not None:
                nn.init.zeros_(last.weight)
