"""``TrainingControl``: pause, resume and stop a training loop at its next step boundary.

The trainer polls it between steps; the window's training host flips it from the thread that
reads the control channel. Thread-safe.
"""

from __future__ import annotations

import threading


class TrainingControl:
    def __init__(self) -> None:
        self._running = threading.Event()
        self._running.set()
        self._stop = threading.Event()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()  # a paused loop wakes up to stop

    @property
    def paused(self) -> bool:
        return not self._running.is_set() and not self._stop.is_set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def wait_while_paused(self, timeout: float | None = None) -> bool:
        """Block while paused; True when running again (or stopping), False on timeout."""
        return self._running.wait(timeout)

    def __repr__(self) -> str:
        state = "stopping" if self.stop_requested else "paused" if self.paused else "running"
        return f"TrainingControl({state})"
