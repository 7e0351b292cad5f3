"""The range a colour scale spans: gradient norms are coloured on a log10 scale between levels."""

from __future__ import annotations

import math
from collections.abc import Iterable


def log_levels(values: Iterable[float]) -> tuple[float, float] | None:
    """log10 (min, max) of the finite positive values, widened when they are all equal; None if none."""
    logs = [math.log10(v) for v in values if v is not None and math.isfinite(v) and v > 0]
    if not logs:
        return None
    low, high = min(logs), max(logs)
    if high - low < 1e-6:
        low, high = low - 0.5, high + 0.5
    return low, high
