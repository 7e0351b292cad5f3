"""The window's view-models: plain Python state that widgets show and never own.

Following napari, state lives in small objects with callbacks; widgets take them in their
constructor, listen, and write back through their methods. Nothing here imports Qt, so the
rules (where the timeline is, which colour levels are shared) are testable on their own.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any


class Callbacks:
    """A minimal signal: ``connect(fn)``, ``disconnect(fn)``, ``emit(*args)``."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[..., Any]] = []

    def connect(self, callback: Callable[..., Any]) -> None:
        if callback not in self._callbacks:
            self._callbacks.append(callback)

    def disconnect(self, callback: Callable[..., Any]) -> None:
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self, *args: Any) -> None:
        for callback in list(self._callbacks):
            callback(*args)


class Timeline:
    """Which step the views show, and replay at a chosen speed.

    ``current`` is ``None`` while following the latest step (a live run or the end of a
    finished one); a step number once the user scrubs or plays. Speed is in recorded steps
    per second of wall time.
    """

    SPEEDS = (10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0)

    def __init__(self) -> None:
        self.first = 0
        self.last = 0
        self.current: int | None = None
        self.playing = False
        self.speed = 100.0
        self._position = 0.0  # fractional step while playing
        self.changed = Callbacks()

    @property
    def empty(self) -> bool:
        return self.last < self.first

    @property
    def step(self) -> int:
        """The step the views show."""
        return self.last if self.current is None else self.current

    @property
    def following(self) -> bool:
        return self.current is None

    def set_range(self, first: int, last: int) -> None:
        if (first, last) == (self.first, self.last):
            return
        self.first, self.last = int(first), int(last)
        if self.current is not None:
            self.current = min(max(self.current, self.first), self.last)
        self.changed.emit()

    def seek(self, step: int) -> None:
        """Show ``step``; seeking to the last step of the range follows new steps again."""
        step = min(max(int(step), self.first), self.last)
        self.current = None if step >= self.last and not self.playing else step
        self._position = float(step)
        self.changed.emit()

    def follow_latest(self) -> None:
        self.current = None
        self.playing = False
        self.changed.emit()

    def play(self) -> None:
        if self.empty:
            return
        start = self.step
        if start >= self.last:  # at the end: play from the start
            start = self.first
        self.current = start
        self._position = float(start)
        self.playing = True
        self.changed.emit()

    def pause(self) -> None:
        if self.playing:
            self.playing = False
            self.changed.emit()

    def toggle_play(self) -> None:
        self.pause() if self.playing else self.play()

    def set_speed(self, steps_per_second: float) -> None:
        if steps_per_second <= 0:
            raise ValueError("speed must be positive")
        self.speed = float(steps_per_second)
        self.changed.emit()

    def suggest_speed(self, seconds: float = 20.0) -> float:
        """The preset speed that replays the whole range in about ``seconds``."""
        wanted = max(1.0, (self.last - self.first) / seconds)
        return min(self.SPEEDS, key=lambda s: abs(math.log(s / wanted)))

    def advance(self, seconds: float) -> None:
        """Move a playing timeline on by ``seconds`` of wall time; stops at the end."""
        if not self.playing:
            return
        self._position = min(self._position + self.speed * seconds, float(self.last))
        self.current = int(self._position)
        if self.current >= self.last:
            self.playing = False
        self.changed.emit()


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
        self.changed = Callbacks()

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
