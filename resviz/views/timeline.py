"""Which step the window shows, and replay at a chosen speed: the training views' timeline.

Qt-free, like every view model: widgets (the timeline bar, the figures) listen to ``changed``
and write the user's scrubbing and playing back through the methods here.
"""

from __future__ import annotations

import math

from .events import EventEmitter


class Timeline:
    """Which step the views show, and replay at a chosen speed.

    ``current`` is ``None`` while following the latest step (a live run or the end of a
    finished one); a step number once the user scrubs or plays. Speed is in recorded steps
    per second of wall time.
    """

    # Down to a step a second, slow enough to narrate one step at a time.
    SPEEDS = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0)

    def __init__(self) -> None:
        self.first = 0
        self.last = 0
        self.current: int | None = None
        self.playing = False
        self.speed = 100.0
        self._position = 0.0  # fractional step while playing
        self.changed = EventEmitter("changed")

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

    def step_by(self, count: int) -> None:
        """Pause and move ``count`` steps on (back when negative), within the recorded range:
        the arrow keys step by one, Page Up/Down by ten."""
        if self.empty:
            return
        self.playing = False
        step = min(max(self.step + int(count), self.first), self.last)
        self.current = step  # a step the user chose: stays there even at the last one
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
