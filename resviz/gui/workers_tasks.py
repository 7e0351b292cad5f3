"""A worker thread for one long function (tracing, attribution) with progress and cancel.

Only plain data crosses the thread boundary: the function gets a ``progress(done, total,
text)`` callback and a ``threading.Event`` to poll, and its result comes back through a
queued signal. Running tasks are kept alive in a module registry until they finish, so a
widget that is deleted early never destroys a running QThread; ``stop_all_tasks`` cancels
and joins them (the window calls it on quit, tests call it to check nothing is left).
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QThread, Signal

from ..errors import ResvizError, describe_exception

ProgressCallback = Callable[[int, int, str], None]
TaskFunction = Callable[[ProgressCallback, threading.Event], Any]

_RUNNING: set[TaskThread] = set()

# torch.fx patches ``nn.Module.__call__`` process-wide while it traces, so a trace must not
# overlap another trace or a forward pass in another thread: tracing and attribution workers
# take this lock around their model work.
MODEL_LOCK = threading.RLock()


class TaskCancelled(Exception):
    """Raised inside a task function to stop early; the task then reports ``cancelled``."""


class TaskThread(QThread):
    """Runs ``function(progress, cancel_event)`` once in its own thread."""

    progressed = Signal(int, int, str)  # done, total, what is happening
    succeeded = Signal(object)  # the function's result
    failed = Signal(str, str)  # one-line message, details (traceback for unexpected errors)
    cancelled = Signal()

    def __init__(self, function: TaskFunction, name: str = "task", owner: object | None = None) -> None:
        super().__init__()  # no parent: it may outlive the widget that started it
        self.setObjectName(f"resviz-{name}")
        self.owner_id = id(owner) if owner is not None else None
        self._function = function
        self.cancel_event = threading.Event()
        self.finished.connect(self._forget)

    def start_task(self) -> None:
        _RUNNING.add(self)
        self.start()

    def cancel(self) -> None:
        self.cancel_event.set()

    def is_cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def _report(self, done: int, total: int, text: str = "") -> None:
        if not self.cancel_event.is_set():
            self.progressed.emit(int(done), int(total), str(text))

    def run(self) -> None:  # the worker thread
        try:
            result = self._function(self._report, self.cancel_event)
        except TaskCancelled:
            self.cancelled.emit()
        except ResvizError as error:
            if self.cancel_event.is_set():
                self.cancelled.emit()
            else:
                self.failed.emit(str(error), "")
        except Exception as error:  # noqa: BLE001 - reported to the user, never swallowed
            if self.cancel_event.is_set():
                self.cancelled.emit()
            else:
                self.failed.emit(describe_exception(error), traceback.format_exc())
        else:
            if self.cancel_event.is_set():
                self.cancelled.emit()
            else:
                self.succeeded.emit(result)

    def _forget(self) -> None:
        _RUNNING.discard(self)
        self.deleteLater()


def running_tasks() -> list[TaskThread]:
    return [task for task in _RUNNING if task.isRunning()]


def stop_all_tasks(timeout_ms: int = 30000, owner: object | None = None) -> None:
    """Cancel every running task (or every one ``owner`` started) and wait for each to end."""
    tasks = [t for t in list(_RUNNING) if owner is None or t.owner_id == id(owner)]
    for task in tasks:
        task.cancel()
    for task in tasks:
        task.wait(timeout_ms)
