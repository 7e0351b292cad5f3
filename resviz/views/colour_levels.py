"""The range a colour scale spans: gradient norms are coloured on a log10 scale between levels.

``log_levels`` fits levels to one set of values; ``ColourLevels`` holds the levels every
compared run shares, widening them as recorded values arrive.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from .events import EventEmitter


def log_levels(values: Iterable[float]) -> tuple[float, float] | None:
    """log10 (min, max) of the finite positive values, widened when they are all equal; None if none."""
    logs = [math.log10(v) for v in values if v is not None and math.isfinite(v) and v > 0]
    if not logs:
        return None
    low, high = min(logs), max(logs)
    if high - low < 1e-6:
        low, high = low - 0.5, high + 0.5
    return low, high


class ColourLevels:
    """log10 colour levels shared by every compared run (heatmaps, colour bars, the graph).

    Levels are fixed, not fitted per frame: they widen only in whole decades when recorded
    values leave them, so a colour means the same gradient norm in both twins and at every
    step. The user can lock them to chosen values.
    """

    def __init__(self, low: float = -4.0, high: float = 0.0) -> None:
        self.low = float(low)
        self.high = float(high)
        self.locked = False
        self._seen = False
        self.changed = EventEmitter("changed")

    @property
    def levels(self) -> tuple[float, float]:
        return (self.low, self.high)

    def include(self, low: float, high: float) -> None:
        """Widen (never narrow) to whole decades covering [low, high]; the first data sets them."""
        if self.locked or not (math.isfinite(low) and math.isfinite(high)):
            return
        low, high = math.floor(low), math.ceil(high)
        if high <= low:
            high = low + 1
        if not self._seen:
            new = (float(low), float(high))
            self._seen = True
        else:
            new = (float(min(self.low, low)), float(max(self.high, high)))
        if new != (self.low, self.high):
            self.low, self.high = new
            self.changed.emit()

    def lock(self, low: float, high: float) -> None:
        if not high > low:
            raise ValueError("the high level must be above the low level")
        self.low, self.high, self.locked = float(low), float(high), True
        self.changed.emit()

    def unlock(self) -> None:
        self.locked = False
        self._seen = False
        self.changed.emit()

    def reset(self) -> None:
        """Forget the data seen (new runs are being compared); keeps a lock."""
        if not self.locked:
            self._seen = False
