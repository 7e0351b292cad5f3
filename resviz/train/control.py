"""Steering a training loop: ``TrainingControl`` (pause, resume, stop at the next step boundary)
and ``stop_on_signals`` (SIGTERM and SIGHUP end a run as Ctrl+C does).

The trainer polls the control between steps; the window's training host flips it from the
thread that reads the control channel. Thread-safe.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any


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


# Signals that end a run as stopped, like SIGINT (Ctrl+C): a service manager's or `kill`'s
# SIGTERM, and the SIGHUP of a closed terminal.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class StopSignal(KeyboardInterrupt):
    """A stop signal, raised where the program is, as SIGINT raises ``KeyboardInterrupt``: whatever
    handles an interrupt (the trainer marks the run stopped, keeping its last steps) handles it."""

    def __init__(self, signum: int) -> None:
        self.signum = int(signum)
        super().__init__(f"stopped by {signal.Signals(self.signum).name}")

    @property
    def exit_code(self) -> int:
        """128 + the signal number, as a shell reports a program ended by it (SIGINT: 130)."""
        return 128 + self.signum


def install_stop_signals() -> dict[int, Any]:
    """From now on SIGTERM and SIGHUP raise ``StopSignal``, once: a second one while the run is
    being closed is ignored, so its ending is written. SIGXFSZ is ignored, so a write past the
    file-size limit fails with an error the run file can record instead of killing the process.

    Returns the handlers it replaced. Only the main thread can set handlers: elsewhere it sets none.
    """
    if threading.current_thread() is not threading.main_thread():
        return {}

    def stop(signum: int, frame: object) -> None:
        for other in STOP_SIGNALS:
            signal.signal(other, signal.SIG_IGN)
        raise StopSignal(signum)

    previous = {number: signal.signal(number, stop) for number in STOP_SIGNALS}
    if hasattr(signal, "SIGXFSZ"):
        previous[signal.SIGXFSZ] = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    return previous


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """``install_stop_signals`` while the block runs; the handlers before it come back after."""
    previous = install_stop_signals()
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)


__all__ = ["STOP_SIGNALS", "StopSignal", "TrainingControl", "install_stop_signals", "stop_on_signals"]
