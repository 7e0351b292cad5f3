"""Reading run files off the GUI thread: replay a finished run, follow one still being written.

The run file is the bus: a run trained by this window, by ``resviz train`` in a terminal or by
``resviz.watch`` in a user's script is read the same way. A worker thread owns the
``RunReader``s, polls them, and hands plain data (``RunInfo``, ``StepBatch``, record lists) to
the GUI thread through queued signals. A long run arrives in chunks, so the window never
stalls on a big read.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot

from ..errors import ResvizError

CHUNK_ROWS = 2000  # rows read per run per tick while catching up
RECORDS_SECONDS = 1.0  # how often evaluations and events of a live run are re-read


@dataclass
class _Watched:
    reader: object
    last_step: int
    status: str
    error: str | None
    records_at: float = 0.0
    records_seen: tuple = ()
    updated: float = 0.0  # the commit time last handed over
    info_at: float = 0.0
    done: bool = False  # finished and fully read: nothing more will come


class _FeedWorker(QObject):
    opened = Signal(str, object, object)  # path, RunInfo, weight-layer mask
    steps_arrived = Signal(str, object)  # path, StepBatch
    records_changed = Signal(str, object, object)  # path, evals, events
    info_changed = Signal(str, object)  # path, RunInfo (status or error changed)
    caught_up = Signal(str)  # path: every committed step has been handed over
    failed = Signal(str, str, str)  # path, message, details

    def __init__(self, interval_ms: int) -> None:
        super().__init__()
        self.interval_ms = interval_ms
        self._watched: dict[str, _Watched] = {}
        self._timer: QTimer | None = None

    @Slot()
    def start(self) -> None:
        self._timer = QTimer(self)
        self._timer.setInterval(self.interval_ms)
        self._timer.timeout.connect(self._tick)
        self._timer.start()

    @Slot()
    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer.deleteLater()
            self._timer = None
        for path in list(self._watched):
            self._close(path)

    @Slot(str)
    def watch(self, path: str) -> None:
        if path in self._watched:
            return
        from ..runfile import RunReader

        try:
            reader = RunReader(path)
            info = reader.info()
        except ResvizError as exc:
            self.failed.emit(path, str(exc), "")
            return
        except Exception as exc:  # noqa: BLE001 - reported in the window, never raised into Qt
            self.failed.emit(path, f"run file {path} cannot be read: {exc}", traceback.format_exc())
            return
        from ..views.run_data import weight_layer_mask

        self._watched[path] = _Watched(reader, -1, info.status, info.error, updated=info.updated,
                                       info_at=time.monotonic())
        self.opened.emit(path, info, weight_layer_mask(info))
        self._read(path)

    @Slot(str)
    def unwatch(self, path: str) -> None:
        self._close(path)

    def _close(self, path: str) -> None:
        watched = self._watched.pop(path, None)
        if watched is not None:
            watched.reader.close()

    @Slot()
    def _tick(self) -> None:
        for path in list(self._watched):
            self._read(path)

    def _read(self, path: str) -> None:
        watched = self._watched.get(path)
        if watched is None or watched.done:
            return
        try:
            # Status first: a run that finished after this read has all its steps committed.
            info = watched.reader.info()
            batch = watched.reader.read_steps(after=watched.last_step, limit=CHUNK_ROWS)
            if len(batch):
                watched.last_step = int(batch.step[-1])
                self.steps_arrived.emit(path, batch)
            behind = len(batch) == CHUNK_ROWS
            status_changed = (info.status, info.error) != (watched.status, watched.error)
            now = time.monotonic()
            if status_changed or now - watched.records_at >= RECORDS_SECONDS or not behind and watched.records_at == 0:
                self._read_records(path, watched, now)
            # A newer commit time is handed over too (at most once a second): it tells the window
            # that a writer it cannot check by process id is still alive.
            touched = info.updated != watched.updated and now - watched.info_at >= RECORDS_SECONDS
            if status_changed or touched:
                watched.status, watched.error, watched.updated, watched.info_at = (
                    info.status, info.error, info.updated, now)
                self.info_changed.emit(path, info)
            if not behind:
                self.caught_up.emit(path)
                # A run whose writer died ("interrupted") is still read: whoever finds its writer
                # gone may yet record how it ended.
                if info.recorded_status != "running":
                    self._read_records(path, watched, now)
                    watched.done = True
        except ResvizError as exc:
            self._close(path)
            self.failed.emit(path, str(exc), "")
        except Exception as exc:  # noqa: BLE001
            self._close(path)
            self.failed.emit(path, f"run file {path} cannot be read: {exc}", traceback.format_exc())

    def _read_records(self, path: str, watched: _Watched, now: float) -> None:
        evals = watched.reader.evals()
        events = watched.reader.events()
        watched.records_at = now
        seen = (len(evals), len(events))
        if seen != watched.records_seen:
            watched.records_seen = seen
            self.records_changed.emit(path, evals, events)


class RunFeed(QObject):
    """Follows run files in a worker thread; signals carry plain data to the GUI thread."""

    opened = Signal(str, object, object)
    steps_arrived = Signal(str, object)
    records_changed = Signal(str, object, object)
    info_changed = Signal(str, object)
    caught_up = Signal(str)
    failed = Signal(str, str, str)

    _request_watch = Signal(str)
    _request_unwatch = Signal(str)
    _request_stop = Signal()

    def __init__(self, parent: QObject | None = None, *, interval_ms: int = 100) -> None:
        super().__init__(parent)
        self._thread = QThread()
        self._thread.setObjectName("resviz-run-feed")
        self._worker = _FeedWorker(interval_ms)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.start)
        self._request_watch.connect(self._worker.watch)
        self._request_unwatch.connect(self._worker.unwatch)
        self._request_stop.connect(self._worker.stop, Qt.BlockingQueuedConnection)
        for name in ("opened", "steps_arrived", "records_changed", "info_changed", "caught_up", "failed"):
            getattr(self._worker, name).connect(getattr(self, name))
        self.paths: set[str] = set()
        self._thread.start()

    @staticmethod
    def key(path: str | Path) -> str:
        """The one spelling of a run file's path (absolute), so a file reached twice is read once."""
        return str(Path(path).expanduser().resolve())

    def watch(self, path: str | Path) -> str:
        """Start reading a run file; its steps arrive through ``steps_arrived`` (paths made absolute)."""
        key = self.key(path)
        self.paths.add(key)
        self._request_watch.emit(key)
        return key

    def unwatch(self, path: str | Path) -> None:
        key = self.key(path)
        self.paths.discard(key)
        self._request_unwatch.emit(key)

    def unwatch_all(self) -> None:
        for path in list(self.paths):
            self.unwatch(path)

    @property
    def running(self) -> bool:
        return self._thread.isRunning()

    def close(self) -> None:
        """Stop polling, close every reader and end the thread (waits for it)."""
        if not self._thread.isRunning():
            return
        self._request_stop.emit()
        self._thread.quit()
        if not self._thread.wait(5000):  # pragma: no cover - a reader stuck in SQLite
            self._thread.terminate()
            self._thread.wait()
        self.paths.clear()
