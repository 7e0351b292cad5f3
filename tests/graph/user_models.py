"""A user's residual net on which the old block rules disagree (shared by the graph, attribution
and training tests)."""

from __future__ import annotations

import torch
from torch import nn


class Unit(nn.Module):
    """A residual unit whose weights sit one level down, in a Sequential."""

    def __init__(self, channels_in: int, channels_out: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels_in, channels_out, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(channels_out, channels_out, 3, padding=1))
        self.shortcut = nn.Conv2d(channels_in, channels_out, 1) if channels_in != channels_out else None

    def forward(self, x):
        return torch.relu(self.body(x) + (x if self.shortcut is None else self.shortcut(x)))


class UserNet(nn.Module):
    """The old rules disagree here: "the name up to the first number" makes ``unit_a.body.0`` and
    ``unit_a.body.2`` blocks, "outermost module with a parameterised child" makes ``unit_a.body``
    one (and ``unit_b``, for its shortcut); the skips fork and merge in ``unit_a`` and ``unit_b``."""

    def __init__(self, input_shape: tuple[int, ...] | None = (3, 8, 8), num_classes: int = 5):
        super().__init__()
        if input_shape is not None:
            self.input_shape = input_shape
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.unit_a = Unit(4, 4)
        self.unit_b = Unit(4, 8)
        self.head = nn.Linear(8, num_classes)

    def forward(self, x):
        return self.head(self.unit_b(self.unit_a(self.stem(x))).mean((2, 3)))
