"""The window's side of training: runs in child processes, steered and watched from a timer.

Training never runs in the window's process: ``resviz.train.worker.TrainingProcess`` hosts the
trainer in a child (a crash, an out-of-memory or a segfault there cannot take the window
down). This object sends control messages, drains the child's message pipe without blocking,
and reports what happened; the recorded numbers reach the window through the run files, like
those of any other run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from ..errors import ResvizError, first_line

POLL_MS = 100
CHILD_NICENESS = 10  # training yields the CPU to the window: on a small machine the plots stay fluid
CLOSE_SECONDS = 1.2  # how long closing may wait for the children (then they are ended; their runs say stopped)


class TrainingHost(QObject):
    """Runs one training (or a twin pair) at a time in child processes."""

    run_file_ready = Signal(str)  # a child created its run file: the window can follow it now
    state_changed = Signal(str)  # idle, starting, running, paused, stopping
    progressed = Signal(str, object)  # path, the child's latest progress (a dict of TrainProgress fields)
    run_ended = Signal(str, str, str)  # path, status (finished, stopped, failed), error text
    failed = Signal(str, str)  # message, details: a run failed or its child died

    def __init__(self, parent: QObject | None = None, *, threads: int | None = None) -> None:
        super().__init__(parent)
        self.threads = threads
        self.processes: list[Any] = []
        self._announced: set[str] = set()
        self._ended: set[str] = set()
        self.state = "idle"
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.poll)

    def warm_up(self) -> None:
        """Get the children's fork server going now (in the background), so that the first run
        starts at once instead of waiting for its imports (``resviz.train.child_start``)."""
        from ..train.child_start import warm_up

        warm_up()

    @property
    def active(self) -> bool:
        return any(str(p.path) not in self._ended for p in self.processes)

    @property
    def paths(self) -> list[Path]:
        """The run files of the children, as absolute paths."""
        return [Path(p.path).resolve() for p in self.processes]

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)

    def start(self, config: Any, *, twins: bool) -> list[Path]:
        """Train ``config`` (a ``TrainConfig``); with ``twins``, its plain and residual twin side by side."""
        if self.active:
            raise ResvizError("a training run is already going: stop it before starting another")
        from ..train.worker import TrainingProcess, start_twins

        self.shutdown()
        self.processes, self._announced, self._ended = [], set(), set()
        if twins:
            plain, residual = start_twins(config, threads=self.threads)
            self.processes = [residual, plain]
        else:
            self.processes = [TrainingProcess(config, threads=self.threads).start()]
        for process in self.processes:
            _lower_priority(process.pid)
        self._set_state("starting")
        self.timer.start()
        return self.paths

    def pause(self) -> None:
        if self.state != "running":
            return
        for process in self._live():
            process.pause()
        self._set_state("paused")

    def resume(self) -> None:
        if self.state != "paused":
            return
        for process in self._live():
            process.resume()
        self._set_state("running")

    def stop(self) -> None:
        """Ask every child to stop at its next step; what they recorded stays in their run files."""
        live = self._live()
        for process in live:
            process.stop()
        if live:
            self._set_state("stopping")

    def _live(self) -> list[Any]:
        return [p for p in self.processes if str(p.path) not in self._ended]

    def poll(self) -> None:
        """Drain the children's messages (never blocking) and report what changed."""
        for process in self._live():
            path = str(process.path)
            for message in process.poll(0.0):
                kind = message.get("kind")
                # "started" comes once the run file is complete enough to read (not merely created).
                if kind == "started" or (kind == "progress" and path not in self._announced):
                    self._announce(path)
                if kind == "progress":
                    self.progressed.emit(path, message)
                elif kind in ("finished", "failed"):
                    self._end(process, message)
        if self.processes and not self.active:
            self.timer.stop()
            for process in self.processes:
                process.shutdown(timeout=2.0)  # joins the ended child and closes its pipes
            self._set_state("idle")

    def _announce(self, path: str) -> None:
        if path in self._announced:
            return
        self._announced.add(path)
        self.run_file_ready.emit(path)
        if self.state == "starting":
            self._set_state("running")

    def _end(self, process: Any, message: dict[str, Any]) -> None:
        path = str(process.path)
        self._ended.add(path)
        if message.get("kind") == "failed":
            error = str(message.get("error") or "the training process failed")
            if Path(path).is_file():
                self._announce(path)  # show what it recorded before it failed
            self.failed.emit(f"{Path(path).name}: {first_line(error)}",
                             f"{error}\n\nEverything recorded before the failure is kept in {path}.")
            self.run_ended.emit(path, "failed", error)
        else:
            self.run_ended.emit(path, str(message.get("status", "finished")), "")

    def shutdown(self, seconds: float = CLOSE_SECONDS) -> None:
        """End every child within about ``seconds``: stopped at a step boundary if it gets there in
        time, else ended by a signal; either way its run file says stopped and keeps every step."""
        from ..train.worker import end_processes

        self.timer.stop()
        if self.processes:
            end_processes(self.processes, seconds)
        for process in self.processes:
            self._ended.add(str(process.path))
        self._set_state("idle")

    def child_pids(self) -> list[int]:
        return [p.pid for p in self.processes if p.pid is not None and p.is_alive()]


def _lower_priority(pid: int | None) -> None:
    """Lower a training child's CPU priority (POSIX; elsewhere it trains at normal priority)."""
    if pid is None or not hasattr(os, "setpriority"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, pid, max(os.getpriority(os.PRIO_PROCESS, pid), CHILD_NICENESS))
    except OSError:
        pass  # not allowed, or already gone: training still works
