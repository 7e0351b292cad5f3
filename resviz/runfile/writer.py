"""Writing a run file: one ``RunWriter`` per run.

The file is in WAL mode so readers (the window, ``resviz runs``) can tail a run while it is
being written without blocking the writer. Per-layer statistics are stored as little-endian
float32 blobs, one row per recorded step; checkpoints as safetensors bytes (never pickle).
The writer commits steps in batches, so a killed process loses at most the last uncommitted
batch, and SQLite's journal keeps the file consistent. A run file appears whole or not at all:
it is made under a temporary name in the same folder and renamed into place, by a writer that
holds the run's writer lock (``liveness``) from before it exists until the run is finished.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import socket
import sqlite3
import threading
import time as _time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ResvizError, describe_exception
from .checkpoints import encode_state_dict
from .encoding import checked_counter, checked_seconds, json_default, json_list, sql_float, to_float, vector_blob
from .filesystem import (
    describe_write_failure,
    immediate_transaction,
    journal_path,
    remove_leftovers,
    sync_folder,
    what_the_path_holds,
)
from .liveness import WriterLock, own_process_start, process_alive, writer_alive
from .reader import RunReader
from .records import EvalRecord, RunStructure, StepBatch
from .schema import (
    APPLICATION_ID,
    BLOCK_VECTORS,
    FORMAT_NAME,
    INSERT_EVENT,
    INSERT_STEP,
    LAYER_VECTORS,
    MAX_STEP,
    MAX_TIMESTAMP,
    RUN_STATUSES,
    RUN_SUFFIX,
    SCHEMA_SQL,
    SCHEMA_VERSION,
    SET_END,
    config_problem,
    structure_problem,
)

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from ..models.spec import ModelSpec

# How long a new writer waits for the run's writer lock: readers that probe it hold it for
# microseconds; a writer holds it for its whole run.
CLAIM_SECONDS = 1.0


class RunWriter:
    """Writes one run file. Steps are committed in batches (``commit_every`` steps or
    ``commit_seconds``, whichever comes first); evaluations, events and checkpoints at once.

    Used as a context manager, an exception inside marks the run failed with its message (a
    ``KeyboardInterrupt`` marks it stopped) and keeps every step recorded so far.

    Creating the file is atomic: the writer takes the run's writer lock (so a second writer of
    the same path gets one clear error), builds the file under a temporary name and renames it
    into place, and holds the lock until the run is finished. A path that holds no run (an
    empty file, an SQLite file without a run, a leftover of a writer killed while creating it)
    is reused; one that holds a run needs ``overwrite``.

    ``structure`` (each layer's kind, each block's layers) lets readers interpret the run
    without rebuilding its model; the recorder gives it (``GradientRecorder.structure``).
    """

    def __init__(self, path: str | os.PathLike, *, model_spec: ModelSpec | None, config: Mapping[str, Any],
                 layer_ids: Sequence[str], block_ids: Sequence[str], device: str = "cpu",
                 classes: Sequence[str] = (), twin: str | None = None, commit_every: int = 50,
                 commit_seconds: float = 1.0, overwrite: bool = False,
                 structure: RunStructure | None = None) -> None:
        self.path = Path(path)
        if commit_every < 1:
            raise ValueError("commit_every must be at least 1")
        self.layer_ids = [str(i) for i in layer_ids]
        self.block_ids = [str(i) for i in block_ids]
        self.classes = [str(c) for c in classes]
        self.commit_every = int(commit_every)
        self.commit_seconds = float(commit_seconds)
        self.status = "running"
        self._pending: list[tuple] = []
        self._last_step: int | None = None
        self._last_commit = _time.monotonic()
        self._lock = threading.RLock()
        self._closed = False
        self._db: sqlite3.Connection | None = None
        self._last_committed: int | None = None
        self._write_failure: str | None = None
        try:
            config_json = json.dumps(dict(config), sort_keys=True, default=json_default)
        except (TypeError, ValueError) as exc:
            raise ResvizError(f"run file {self.path}: the training config cannot be stored as JSON: {exc}") from None
        problem = config_problem(json.loads(config_json))
        if problem is not None:
            key, value, expected = problem
            raise ResvizError(f"run file {self.path}: the training {key} is {value!r:.60}, expected {expected}")
        structure_json = None
        if structure is not None:
            structure_dict = structure.to_dict()
            problem = structure_problem(structure_dict, self.layer_ids, self.block_ids)
            if problem is not None:
                key, value, expected = problem
                raise ValueError(f"run file {self.path}: the {key} is {value!r:.60}, expected {expected}")
            structure_json = json.dumps(structure_dict)
        self._writer_lock = WriterLock(self.path)
        self._claim(overwrite)
        try:
            self._create(model_spec, config_json, str(device), twin, structure_json)
        except BaseException:
            if self._db is not None:
                self._db.close()
            self._writer_lock.release()
            raise

    def _claim(self, overwrite: bool) -> None:
        """Take the writer lock and check what the path holds; the lock is held when this returns."""
        path = self.path
        if path.is_dir():
            raise ResvizError(f"run file {path} is a folder; name a file, e.g. {path / ('run' + RUN_SUFFIX)}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            claimed = self._writer_lock.acquire(wait=CLAIM_SECONDS)
        except OSError as exc:
            raise ResvizError(f"run file {path} cannot be created: {exc}") from None
        if not claimed:
            holder = self._writer_lock.holder()
            who = f"process {holder}" if holder else "another process"
            raise ResvizError(f"run file {path} is being written now by {who}; stop that run or choose another name")
        try:
            held = what_the_path_holds(path)
            if held != "nothing" and not overwrite:
                what = "is not a run file" if held == "something else" else "holds a run"
                raise ResvizError(f"run file {path} already exists and {what}; choose another name or "
                                  "overwrite it")
            if held == "a run":
                _refuse_if_live(path)
        except BaseException:
            self._writer_lock.release()
            raise

    def _create(self, model_spec: ModelSpec | None, config_json: str, device: str, twin: str | None,
                structure_json: str | None) -> None:
        """Build the file under a temporary name and rename it into place: readers (and a writer
        killed half-way) see no file or the whole new one, never a file without its tables."""
        path = self.path
        remove_leftovers(path)
        temporary = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
        self.created = _time.time()
        self._clock_start = _time.perf_counter()
        meta = [("format", FORMAT_NAME), ("schema_version", str(SCHEMA_VERSION)), ("created_by", _created_by())]
        start = own_process_start()
        if start is not None:
            meta.append(("writer_start", start))
        try:
            db = sqlite3.connect(str(temporary), isolation_level=None)
            try:
                db.execute(f"PRAGMA application_id={APPLICATION_ID}")
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                db.execute("BEGIN IMMEDIATE")
                for statement in SCHEMA_SQL.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", meta)
                db.execute(
                    "INSERT INTO run (id, name, config, model_spec, device, layer_ids, block_ids, classes, twin,"
                    " status, error, created, updated, host, pid, structure)"
                    " VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, 'running', NULL, ?, ?, ?, ?, ?)",
                    (path.stem, config_json, model_spec.to_json() if model_spec is not None else None, device,
                     json_list(self.layer_ids), json_list(self.block_ids), json_list(self.classes), twin,
                     self.created, self.created, socket.gethostname(), os.getpid(), structure_json))
                db.execute("COMMIT")
                # Recorded in the file; this connection's WAL goes when it closes.
                db.execute("PRAGMA journal_mode=WAL")
            finally:
                db.close()
            os.replace(temporary, path)
        except BaseException as exc:
            for leftover in (temporary, journal_path(temporary)):
                with contextlib.suppress(OSError):
                    leftover.unlink()
            if isinstance(exc, (OSError, sqlite3.Error)):
                raise ResvizError(f"run file {path} cannot be created: {describe_write_failure(exc, path)}") from None
            raise
        sync_folder(path.parent)
        try:
            self._db = sqlite3.connect(str(path), isolation_level=None, timeout=30.0, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")  # as the file says already
            # NORMAL in WAL mode survives a killed process (only a power cut may lose the last commit).
            self._db.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as exc:
            raise ResvizError(f"run file {path} cannot be written: {exc}") from None

    # -- steps ---------------------------------------------------------------------------------

    def elapsed(self) -> float:
        """Seconds since the run started (the ``time`` stored with steps and events)."""
        return _time.perf_counter() - self._clock_start

    def add_step(self, step: int, *, epoch: int, loss: float, acc: float = math.nan, lr: float = math.nan,
                 grad_norm: Any, weight_norm: Any, update_ratio: Any, act_grad_norm: Any, dead_relu: Any,
                 nonfinite: bool = False, time: float | None = None) -> None:
        step, epoch = checked_counter(step, "step"), checked_counter(epoch, "epoch")
        time = self.elapsed() if time is None else checked_seconds(time, f"step {step}")
        layers, blocks = len(self.layer_ids), len(self.block_ids)
        row = (step, epoch, time, sql_float(to_float(loss)),
               sql_float(to_float(acc)), sql_float(to_float(lr)), int(bool(nonfinite)),
               vector_blob(grad_norm, layers, "grad_norm", step),
               vector_blob(weight_norm, layers, "weight_norm", step),
               vector_blob(update_ratio, layers, "update_ratio", step),
               vector_blob(act_grad_norm, blocks, "act_grad_norm", step),
               vector_blob(dead_relu, blocks, "dead_relu", step))
        with self._lock:
            self._check_order(step, step)
            self._pending.append(row)
            self._last_step = step
            self._maybe_commit()

    def add_steps(self, batch: StepBatch) -> None:
        """Many steps at once, e.g. the recorder's buffer every N steps."""
        n = len(batch)
        if n == 0:
            return
        if batch.num_layers != len(self.layer_ids) or batch.num_blocks != len(self.block_ids):
            raise ValueError(f"StepBatch has {batch.num_layers} layers and {batch.num_blocks} blocks, the run has "
                             f"{len(self.layer_ids)} and {len(self.block_ids)}")
        steps = batch.step
        if n > 1 and not np.all(np.diff(steps) > 0):
            raise ValueError("StepBatch steps must be strictly increasing")
        if steps[0] < 0 or steps[-1] > MAX_STEP or batch.epoch.min() < 0 or batch.epoch.max() > MAX_STEP:
            raise ValueError(f"StepBatch steps and epochs must be whole numbers from 0 to {MAX_STEP}")
        if not np.all((batch.time >= 0) & (batch.time <= MAX_TIMESTAMP)):
            raise ValueError("StepBatch times must be finite seconds of at least 0")
        # One contiguous little-endian copy per vector; rows are then cheap slices of it.
        blobs = [np.ascontiguousarray(getattr(batch, name), dtype="<f4")
                 for name in LAYER_VECTORS + BLOCK_VECTORS]
        floats = [[sql_float(v) for v in column.tolist()] for column in (batch.loss, batch.acc, batch.lr)]
        rows = [(s, e, t, loss, acc, lr, f, g[i].tobytes(), w[i].tobytes(), u[i].tobytes(), a[i].tobytes(),
                 d[i].tobytes())
                for i, (s, e, t, loss, acc, lr, f, g, w, u, a, d) in enumerate(zip(
                    steps.tolist(), batch.epoch.tolist(), batch.time.tolist(), *floats,
                    batch.nonfinite.astype(int).tolist(), *([blob] * n for blob in blobs)))]
        with self._lock:
            self._check_order(int(steps[0]), int(steps[-1]))
            self._pending.extend(rows)
            self._last_step = int(steps[-1])
            self._maybe_commit()

    def _check_order(self, first: int, last: int) -> None:
        self._check_open()
        if self._last_step is not None and first <= self._last_step:
            raise ValueError(f"run file {self.path}: step {first} is not after the last recorded step "
                             f"{self._last_step}")

    def _maybe_commit(self) -> None:
        if (len(self._pending) >= self.commit_every
                or _time.monotonic() - self._last_commit >= self.commit_seconds):
            self._commit()

    def _commit(self, extra: Callable[[sqlite3.Connection], None] | None = None) -> None:
        """Write the pending steps (and ``extra``) in one transaction.

        A failed write (a full disk, the file-size limit) leaves the file as its last commit
        left it and raises a ``ResvizError`` that says why.
        """
        now = _time.time()
        db = self._db
        try:
            with immediate_transaction(db):
                if self._pending:
                    db.executemany(INSERT_STEP, self._pending)
                if extra is not None:
                    extra(db)
                db.execute("UPDATE run SET updated = ? WHERE id = 1", (now,))
        except sqlite3.Error as exc:
            reason = describe_write_failure(exc, self.path)
            self._write_failure = self._write_failure or reason
            raise ResvizError(f"run file {self.path}: cannot write: {reason}; the steps committed before are "
                              "kept") from None
        if self._pending:
            self._last_committed = self._pending[-1][0]
        self._pending.clear()
        self._last_commit = _time.monotonic()

    def flush(self) -> None:
        """Commit the pending steps now (e.g. on pause, so the window shows everything)."""
        with self._lock:
            if not self._closed and self._pending:
                self._commit()

    # -- evaluations, events, checkpoints ----------------------------------------------------------

    def add_eval(self, record: EvalRecord | None = None, **fields: Any) -> None:
        """Store an evaluation, given as an ``EvalRecord`` or as its fields by keyword."""
        if record is None:
            record = EvalRecord(**fields)
        elif fields:
            raise TypeError("add_eval takes an EvalRecord or keywords, not both")
        values = (checked_counter(record.step, "step"), checked_counter(record.epoch, "epoch"), str(record.split),
                  sql_float(to_float(record.loss)),
                  sql_float(to_float(record.acc)), record.num_classes,
                  np.ascontiguousarray(record.confusion, dtype="<i8").tobytes(),
                  np.ascontiguousarray(record.precision, dtype="<f8").tobytes(),
                  np.ascontiguousarray(record.recall, dtype="<f8").tobytes())
        with self._lock:
            self._check_open()
            self._commit(lambda db: db.execute(
                "INSERT INTO eval (step, epoch, split, loss, acc, num_classes, confusion, precision, recall)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", values))

    def add_event(self, step: int, kind: str, message: str, layer: str | None = None) -> None:
        values = (checked_counter(step, "step"), self.elapsed(), str(kind), str(message),
                  None if layer is None else str(layer))
        with self._lock:
            self._check_open()
            self._commit(lambda db: db.execute(INSERT_EVENT, values))

    def add_checkpoint(self, step: int, epoch: int, state_dict: Mapping[str, torch.Tensor]) -> None:
        """Store weights as safetensors bytes; a later checkpoint at the same step replaces it."""
        data = encode_state_dict(state_dict)
        values = (checked_counter(step, "step"), checked_counter(epoch, "epoch"), self.elapsed(), data)
        with self._lock:
            self._check_open()
            self._commit(lambda db: db.execute(
                "INSERT OR REPLACE INTO checkpoint (step, epoch, time, data) VALUES (?, ?, ?, ?)", values))

    # -- end ---------------------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Steps added but not yet committed."""
        return len(self._pending)

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise ResvizError(f"run file {self.path} is already closed (status {self.status})")

    def finish(self, status: str = "finished", error: str | None = None) -> None:
        """Commit everything, record the final status (and the error text), and close the file.

        When the pending steps cannot be written (a full disk), the run is recorded as failed
        with the reason, keeping every step committed before, and the ``ResvizError`` is raised.
        """
        if status not in RUN_STATUSES:
            raise ValueError(f"status must be one of {', '.join(RUN_STATUSES)}, got {status!r}")
        with self._lock:
            if self._closed:
                return
            failure: ResvizError | None = None
            try:
                self._commit(lambda db: db.execute(SET_END, (status, error)))
            except ResvizError as exc:
                failure = exc
                status, error = "failed", self._end_after_write_failure()
            self.status = status
            self._closed = True
            with contextlib.suppress(sqlite3.Error):
                # Fold the WAL into the file so a finished run is one self-contained file.
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._writer_lock.release()
            if failure is not None:
                raise failure

    def _end_after_write_failure(self) -> str:
        """Record a failed end with only a few small rows (they fit where the steps did not)."""
        lost = len(self._pending)
        self._pending.clear()
        error = self._write_failure or "the run file could not be written"
        if lost:
            error += f"; the last {lost} recorded steps could not be written"
        step = 0 if self._last_committed is None else self._last_committed + 1
        values = (step, self.elapsed(), "error", error, None)

        def end(db: sqlite3.Connection) -> None:
            db.execute(SET_END, ("failed", error))
            db.execute(INSERT_EVENT, values)

        with contextlib.suppress(ResvizError):
            self._commit(end)
        return error

    def close(self) -> None:
        """Finish as "stopped" if the run was not finished explicitly."""
        if not self._closed:
            self.finish("stopped")

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if self._closed:
            return
        if exc is None:
            self.finish("finished")
            return
        # The exception in flight says what went wrong; a failure to record the end must not replace it.
        with contextlib.suppress(ResvizError):
            if isinstance(exc, KeyboardInterrupt):
                self.finish("stopped", "interrupted")
            else:
                self.finish("failed", describe_exception(exc))


def _refuse_if_live(path: Path) -> None:
    """Replacing a run file under a writer that is still running would lose its run: refuse.

    The caller holds the run's writer lock, so no writer that takes the lock is alive; what
    is left to check is a run written on another machine that still commits, and a writer
    that takes no lock (an older resviz) whose process still runs.
    """
    try:
        with RunReader(path, busy_timeout=1.0) as reader:
            info = reader.info()
    except ResvizError:
        return  # damaged or not a run file: nothing live to protect
    if info.recorded_status != "running":
        return
    if info.host == socket.gethostname():
        alive = info.writer_start is None and bool(info.pid) and info.pid != os.getpid() and \
            process_alive(int(info.pid), None)
    else:
        alive = writer_alive("running", host=info.host, pid=info.pid, start=info.writer_start,
                             updated=info.updated, lock=None)
    if alive:
        raise ResvizError(f"run file {path} is being written now (process {info.pid} on {info.host}); stop that run "
                          "before overwriting it")


def _created_by() -> str:
    from .. import __version__

    return f"resviz {__version__}"
