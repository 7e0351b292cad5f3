"""Steering a training loop: ``TrainingControl`` (pause, resume, stop at the next step boundary)
and ``StopSignals`` (SIGTERM and SIGHUP end a run as stopped, as Ctrl+C does).

The trainer polls the control between steps; the window's training host flips it from the
thread that reads the control channel. Thread-safe.
"""

from __future__ import annotations

import signal
import threading
from typing import Any


class TrainingControl:
    def __init__(self) -> None:
        self._running = threading.Event()
        self._running.set()
        self._stop = threading.Event()
        # Set once a training loop has asked whether to stop: it asks again at each step boundary.
        self.watched = False

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
        """Whether to stop; the training loop asks at every step boundary."""
        self.watched = True
        return self._stop.is_set()

    def wait_while_paused(self, timeout: float | None = None) -> bool:
        """Block while paused; True when running again (or stopping), False on timeout."""
        return self._running.wait(timeout)

    def __repr__(self) -> str:
        state = "stopping" if self._stop.is_set() else "paused" if self.paused else "running"
        return f"TrainingControl({state})"


# Signals that end a run as stopped, like SIGINT (Ctrl+C): a service manager's or `kill`'s
# SIGTERM, and the SIGHUP of a closed terminal.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class StopSignal(KeyboardInterrupt):
    """A stop signal, raised where the program is, as SIGINT raises ``KeyboardInterrupt``: whatever
    handles an interrupt (the trainer marks the run stopped, keeping its steps) handles it."""

    def __init__(self, signum: int) -> None:
        self.signum = int(signum)
        super().__init__(f"stopped by {signal_name(self.signum)}")

    @property
    def exit_code(self) -> int:
        return exit_code(self.signum)


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def exit_code(signum: int) -> int:
    """128 + the signal number, as a shell reports a program ended by it (SIGINT: 130)."""
    return 128 + int(signum)


class StopSignals:
    """SIGTERM and SIGHUP end the run as stopped, as Ctrl+C does.

    While a training loop watches ``control``, the first signal asks it to stop at its next step
    boundary: the run ends as a stop from the window ends it, with every recorded step, its
    final weights and a stop event. Before a loop watches it (setting up, downloading data), at
    a second signal, or when a stop was asked for already, ``StopSignal`` is raised where the
    program is, as SIGINT raises ``KeyboardInterrupt``, and the trainer marks the run stopped.
    Later signals are ignored, so that the end is written.

    SIGXFSZ is ignored: a write past the file-size limit then fails with an error the run file
    can record, instead of killing the process. Handlers belong to the main thread: elsewhere
    nothing is installed. Use as a context manager, or ``install()`` for the rest of a process.
    """

    def __init__(self, control: TrainingControl | None = None) -> None:
        self.control = control if control is not None else TrainingControl()
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    @property
    def exit_code(self) -> int | None:
        """The exit code for the signal received (128 + its number), None when none came."""
        return None if self.received is None else exit_code(self.received)

    def install(self) -> StopSignals:
        if threading.current_thread() is not threading.main_thread() or self._previous:
            return self
        self._previous = {number: signal.signal(number, self._handle) for number in STOP_SIGNALS}
        if hasattr(signal, "SIGXFSZ"):
            self._previous[signal.SIGXFSZ] = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        return self

    def restore(self) -> None:
        previous, self._previous = self._previous, {}
        for number, handler in previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)

    def _handle(self, signum: int, frame: object) -> None:
        first = self.received is None
        if first:
            self.received = signum
            if self.control.watched and not self.control._stop.is_set():
                self.control.stop()  # the loop ends the run at its next step boundary
                return
        for number in STOP_SIGNALS:
            signal.signal(number, signal.SIG_IGN)
        raise StopSignal(signum)

    def __enter__(self) -> StopSignals:
        return self.install()

    def __exit__(self, *exc_info: Any) -> None:
        self.restore()


__all__ = ["STOP_SIGNALS", "StopSignal", "StopSignals", "TrainingControl", "exit_code", "signal_name"]
