"""The run file: one SQLite file per training run, written by one ``RunWriter``, read by any number of ``RunReader``s.

The file is in WAL mode so readers (the window, ``resviz runs``) can tail a run while it is
being written without blocking the writer. Per-layer statistics are stored as little-endian
float32 blobs, one row per recorded step; checkpoints as safetensors bytes (never pickle).
The writer commits steps in batches, so a killed process loses at most the last uncommitted
batch, and SQLite's journal keeps the file consistent. A run file appears whole or not at all:
it is made under a temporary name in the same folder and renamed into place, by a writer that
holds the run's writer lock (``liveness``) from before it exists until the run is finished.

Readers open the file read-only, retry internally when SQLite reports it busy, and check the
type and range of every field and the length of every blob before using it, so a damaged file
gives a ``ResvizError`` naming the file and the field instead of garbage or a crash.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import math
import os
import secrets
import shutil
import socket
import sqlite3
import threading
import time as _time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from ..errors import ResvizError
from .run_status import INTERRUPTED, status_label  # the status words have one owner
from .liveness import (LIVE_SECONDS, WriterLock, own_process_start, probe_writer_lock, process_alive,
                       writer_alive)

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from ..models.spec import ModelSpec

SCHEMA_VERSION = 1
RUN_STATUSES = ("running", "finished", "failed", "stopped")
RUN_SUFFIX = ".resviz"

# Marks the file as a run file at the SQLite level ("RSVZ"), besides the meta table.
APPLICATION_ID = 0x5253565A
FORMAT_NAME = "resviz-run"

# How long a new writer waits for the run's writer lock: readers that probe it hold it for
# microseconds; a writer holds it for its whole run.
CLAIM_SECONDS = 1.0
# Bounds of the numbers a run file holds; anything outside is damage, not data.
_MAX_TIMESTAMP = 1e11   # seconds since 1970: beyond the year 5000
_MAX_STEP = (1 << 62) - 1
_MAX_PID = (1 << 31) - 1

_SQLITE_MAGIC = b"SQLite format 3\x00"

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE run (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    name TEXT NOT NULL,
    config TEXT NOT NULL,
    model_spec TEXT,
    device TEXT NOT NULL,
    layer_ids TEXT NOT NULL,
    block_ids TEXT NOT NULL,
    classes TEXT NOT NULL,
    twin TEXT,
    status TEXT NOT NULL,
    error TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    host TEXT,
    pid INTEGER
);
CREATE TABLE step (
    step INTEGER PRIMARY KEY,
    epoch INTEGER NOT NULL,
    time REAL NOT NULL,
    loss REAL,
    acc REAL,
    lr REAL,
    nonfinite INTEGER NOT NULL,
    grad_norm BLOB NOT NULL,
    weight_norm BLOB NOT NULL,
    update_ratio BLOB NOT NULL,
    act_grad_norm BLOB NOT NULL,
    dead_relu BLOB NOT NULL
);
CREATE TABLE eval (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    step INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    split TEXT NOT NULL,
    loss REAL,
    acc REAL,
    num_classes INTEGER NOT NULL,
    confusion BLOB NOT NULL,
    precision BLOB NOT NULL,
    recall BLOB NOT NULL
);
CREATE TABLE event (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    step INTEGER NOT NULL,
    time REAL NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    layer TEXT
);
CREATE TABLE checkpoint (
    step INTEGER PRIMARY KEY,
    epoch INTEGER NOT NULL,
    time REAL NOT NULL,
    data BLOB NOT NULL
);
"""

_STEP_COLUMNS = ("step", "epoch", "time", "loss", "acc", "lr", "nonfinite",
                 "grad_norm", "weight_norm", "update_ratio", "act_grad_norm", "dead_relu")
_LAYER_VECTORS = ("grad_norm", "weight_norm", "update_ratio")
_BLOCK_VECTORS = ("act_grad_norm", "dead_relu")
_INSERT_STEP = f"INSERT INTO step ({', '.join(_STEP_COLUMNS)}) VALUES ({', '.join('?' * len(_STEP_COLUMNS))})"
_INSERT_EVENT = "INSERT INTO event (step, time, kind, message, layer) VALUES (?, ?, ?, ?, ?)"
_SET_END = "UPDATE run SET status = ?, error = ? WHERE id = 1"
# The event kind that records how a run ended, by its final status.
_END_EVENT_KINDS = {"failed": "error", "stopped": "stop"}


# --------------------------------------------------------------------------------------------
# Records


@dataclass
class RunInfo:
    """What a run file says about its run; ``status`` and ``updated`` change while it runs.

    ``status`` is what to show: the file's own status (``recorded_status``), except that a run
    the file calls running whose writer is gone is ``"interrupted"``. ``live``: its writer is
    writing it now.
    """

    path: Path
    name: str
    schema_version: int
    model_spec: ModelSpec | None
    config: dict
    device: str
    layer_ids: list[str]
    block_ids: list[str]
    classes: list[str]
    status: str
    error: str | None
    created: float
    updated: float
    twin: str | None
    host: str | None = None
    pid: int | None = None
    recorded_status: str | None = None
    live: bool | None = None
    writer_start: str | None = None

    def __post_init__(self) -> None:
        if self.recorded_status is None:
            self.recorded_status = self.status
        if self.live is None:
            self.live = self.status == "running"

    @property
    def model_label(self) -> str:
        return self.model_spec.label() if self.model_spec is not None else "-"


def _float_column(values: Any, n: int) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).reshape(n)


@dataclass
class StepBatch:
    """Columns of consecutive recorded steps in ascending step order.

    ``grad_norm``, ``weight_norm`` and ``update_ratio`` are (n, L) with one column per layer
    id; ``act_grad_norm`` and ``dead_relu`` are (n, B) with one column per block id.
    """

    step: np.ndarray
    epoch: np.ndarray
    time: np.ndarray
    loss: np.ndarray
    acc: np.ndarray
    lr: np.ndarray
    grad_norm: np.ndarray
    weight_norm: np.ndarray
    update_ratio: np.ndarray
    act_grad_norm: np.ndarray
    dead_relu: np.ndarray
    nonfinite: np.ndarray

    def __post_init__(self) -> None:
        self.step = np.asarray(self.step, dtype=np.int64).reshape(-1)
        n = len(self.step)
        self.epoch = np.asarray(self.epoch, dtype=np.int64).reshape(n)
        self.time = _float_column(self.time, n)
        self.loss = _float_column(self.loss, n)
        self.acc = _float_column(self.acc, n)
        self.lr = _float_column(self.lr, n)
        self.nonfinite = np.asarray(self.nonfinite, dtype=bool).reshape(n)
        for name in _LAYER_VECTORS + _BLOCK_VECTORS:
            array = np.asarray(getattr(self, name), dtype=np.float32)
            if array.ndim != 2 or array.shape[0] != n:
                raise ValueError(f"StepBatch.{name} must have shape (n, width) with n = {n}, got {array.shape}")
            setattr(self, name, array)
        widths = {name: getattr(self, name).shape[1] for name in _LAYER_VECTORS + _BLOCK_VECTORS}
        if len({widths[name] for name in _LAYER_VECTORS}) != 1 or len({widths[name] for name in _BLOCK_VECTORS}) != 1:
            raise ValueError(f"StepBatch vectors disagree in width: {widths}")

    def __len__(self) -> int:
        return len(self.step)

    @property
    def num_layers(self) -> int:
        return self.grad_norm.shape[1]

    @property
    def num_blocks(self) -> int:
        return self.act_grad_norm.shape[1]

    @property
    def last_step(self) -> int | None:
        return int(self.step[-1]) if len(self.step) else None

    def __getitem__(self, index: slice | np.ndarray) -> StepBatch:
        """Rows by slice or mask/index array, e.g. ``batch[batch.epoch == 3]``."""
        return StepBatch(**{name: getattr(self, name)[index] for name in _STEP_FIELDS})

    @staticmethod
    def empty(num_layers: int, num_blocks: int) -> StepBatch:
        return StepBatch(
            step=np.zeros(0, np.int64), epoch=np.zeros(0, np.int64), time=np.zeros(0), loss=np.zeros(0),
            acc=np.zeros(0), lr=np.zeros(0),
            grad_norm=np.zeros((0, num_layers), np.float32), weight_norm=np.zeros((0, num_layers), np.float32),
            update_ratio=np.zeros((0, num_layers), np.float32),
            act_grad_norm=np.zeros((0, num_blocks), np.float32), dead_relu=np.zeros((0, num_blocks), np.float32),
            nonfinite=np.zeros(0, bool))

    @staticmethod
    def concat(batches: Iterable[StepBatch]) -> StepBatch:
        batches = list(batches)
        if not batches:
            raise ValueError("StepBatch.concat needs at least one batch (use StepBatch.empty for none)")
        return StepBatch(**{name: np.concatenate([getattr(b, name) for b in batches]) for name in _STEP_FIELDS})


_STEP_FIELDS = ("step", "epoch", "time", "loss", "acc", "lr", "grad_norm", "weight_norm", "update_ratio",
                "act_grad_norm", "dead_relu", "nonfinite")


@dataclass
class EvalRecord:
    """One evaluation on a held-out split (``confusion``: rows = true class, columns = predicted)."""

    step: int
    epoch: int
    split: str
    loss: float
    acc: float
    confusion: np.ndarray
    precision: np.ndarray
    recall: np.ndarray

    def __post_init__(self) -> None:
        self.confusion = np.asarray(self.confusion, dtype=np.int64)
        k = self.confusion.shape[0] if self.confusion.ndim == 2 else -1
        if self.confusion.ndim != 2 or self.confusion.shape != (k, k):
            raise ValueError(f"EvalRecord.confusion must be square (K, K), got shape {self.confusion.shape}")
        self.precision = np.asarray(self.precision, dtype=np.float64).reshape(-1)
        self.recall = np.asarray(self.recall, dtype=np.float64).reshape(-1)
        if self.precision.shape != (k,) or self.recall.shape != (k,):
            raise ValueError(f"EvalRecord precision/recall must have {k} entries, got "
                             f"{self.precision.shape[0]} and {self.recall.shape[0]}")

    @property
    def num_classes(self) -> int:
        return self.confusion.shape[0]


@dataclass
class EventRecord:
    """Something that happened at a step: ``nonfinite``, ``pause``, ``resume``, ``stop``, ``error``, ..."""

    step: int
    time: float
    kind: str
    message: str
    layer: str | None = None


@dataclass
class CheckpointInfo:
    step: int
    epoch: int
    time: float
    nbytes: int


@dataclass
class RunSummary:
    """One line of ``resviz runs``; ``error`` is set (and ``status`` is "unreadable") for a damaged file."""

    path: Path
    name: str
    model: str
    steps: int
    status: str
    best_acc: float | None
    updated: float
    live: bool
    last_step: int | None = None
    error: str | None = None
    run_error: str | None = None   # the error text the run itself recorded (why it failed or stopped)


# --------------------------------------------------------------------------------------------
# Encoding


def _vector_blob(values: Any, expected: int, what: str, step: int) -> bytes:
    array = np.asarray(values, dtype="<f4").reshape(-1)
    if array.size != expected:
        raise ValueError(f"step {step}: {what} has {array.size} values, the run has {expected}")
    return array.tobytes()


def _to_float(value: Any) -> float:
    if value is None:
        return math.nan
    if hasattr(value, "item"):
        value = value.item()
    return float(value)


def _counter(value: Any, what: str) -> int:
    """A step or epoch number as the run file stores it (readers refuse anything else)."""
    number = int(value)
    if not 0 <= number <= _MAX_STEP:
        raise ValueError(f"{what} must be a whole number from 0 to {_MAX_STEP}, got {value!r}")
    return number


def _seconds(value: Any, where: str) -> float:
    seconds = float(value)
    if not 0.0 <= seconds <= _MAX_TIMESTAMP:
        raise ValueError(f"{where}: time must be finite seconds of at least 0, got {value!r}")
    return seconds


def _sql_float(value: float) -> float | None:
    # SQLite stores NaN as NULL; keep it explicit so reading gives NaN back.
    return None if math.isnan(value) else value


def _config_problem(config: Mapping[str, Any]) -> tuple[str, Any, str] | None:
    """What is wrong with the entries of a training config that resviz reads back (to feed a run's
    model images as it was trained on them): ``(entry, value, expected)``, or None. The other
    entries are the user's, kept as they are. Writers refuse what readers would refuse."""

    def whole(value: Any) -> bool:
        return type(value) is int and value >= 0

    for key in ("dataset", "data_dir"):
        if key in config and not (config[key] is None or isinstance(config[key], str)):
            return f"config {key}", config[key], "text or null"
    for key in ("train_samples", "test_samples", "data_seed"):
        if key in config and not (config[key] is None or whole(config[key])):
            return f"config {key}", config[key], "a whole number >= 0 or null"
    if "normalize" in config and not isinstance(config["normalize"], bool):
        return "config normalize", config["normalize"], "true or false"
    resolved = config.get("resolved")
    if resolved is None:
        return None
    if not isinstance(resolved, Mapping):
        return "config resolved", resolved, "a mapping"
    for key in ("mean", "std"):
        value = resolved.get(key)
        if not (value is None or (isinstance(value, (list, tuple)) and 1 <= len(value) <= 4
                                  and all(type(v) in (int, float) and math.isfinite(v) for v in value))):
            return f"config resolved.{key}", value, "1 to 4 finite numbers"
    shape = resolved.get("input_shape")
    if not (shape is None or (isinstance(shape, (list, tuple)) and 1 <= len(shape) <= 4
                              and all(whole(v) and 0 < v <= 1 << 20 for v in shape))):
        return "config resolved.input_shape", shape, "1 to 4 positive whole numbers"
    return None


def _json_list(values: Iterable[Any]) -> str:
    return json.dumps([str(v) for v in values])


# --------------------------------------------------------------------------------------------
# Writing


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
    """

    def __init__(self, path: str | os.PathLike, *, model_spec: ModelSpec | None, config: Mapping[str, Any],
                 layer_ids: Sequence[str], block_ids: Sequence[str], device: str = "cpu",
                 classes: Sequence[str] = (), twin: str | None = None, commit_every: int = 50,
                 commit_seconds: float = 1.0, overwrite: bool = False) -> None:
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
            config_json = json.dumps(dict(config), sort_keys=True, default=_json_default)
        except (TypeError, ValueError) as exc:
            raise ResvizError(f"run file {self.path}: the training config cannot be stored as JSON: {exc}") from None
        problem = _config_problem(json.loads(config_json))
        if problem is not None:
            key, value, expected = problem
            raise ResvizError(f"run file {self.path}: the training {key} is {value!r:.60}, expected {expected}")
        self._writer_lock = WriterLock(self.path)
        self._claim(overwrite)
        try:
            self._create(model_spec, config_json, str(device), twin)
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
            held = _what_the_path_holds(path)
            if held != "nothing" and not overwrite:
                what = "is not a run file" if held == "something else" else "holds a run"
                raise ResvizError(f"run file {path} already exists and {what}; choose another name or "
                                  "overwrite it")
            if held == "a run":
                _refuse_if_live(path)
        except BaseException:
            self._writer_lock.release()
            raise

    def _create(self, model_spec: ModelSpec | None, config_json: str, device: str, twin: str | None) -> None:
        """Build the file under a temporary name and rename it into place: readers (and a writer
        killed half-way) see no file or the whole new one, never a file without its tables."""
        path = self.path
        _remove_leftovers(path)
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
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", meta)
                db.execute(
                    "INSERT INTO run (id, name, config, model_spec, device, layer_ids, block_ids, classes, twin,"
                    " status, error, created, updated, host, pid)"
                    " VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, 'running', NULL, ?, ?, ?, ?)",
                    (path.stem, config_json, model_spec.to_json() if model_spec is not None else None, device,
                     _json_list(self.layer_ids), _json_list(self.block_ids), _json_list(self.classes), twin,
                     self.created, self.created, socket.gethostname(), os.getpid()))
                db.execute("COMMIT")
                # Recorded in the file; this connection's WAL goes when it closes.
                db.execute("PRAGMA journal_mode=WAL")
            finally:
                db.close()
            os.replace(temporary, path)
        except BaseException as exc:
            for leftover in (temporary, _journal_path(temporary)):
                with contextlib.suppress(OSError):
                    leftover.unlink()
            if isinstance(exc, (OSError, sqlite3.Error)):
                raise ResvizError(f"run file {path} cannot be created: {_describe_write_failure(exc, path)}") from None
            raise
        _sync_folder(path.parent)
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
        step, epoch = _counter(step, "step"), _counter(epoch, "epoch")
        time = self.elapsed() if time is None else _seconds(time, f"step {step}")
        layers, blocks = len(self.layer_ids), len(self.block_ids)
        row = (step, epoch, time, _sql_float(_to_float(loss)),
               _sql_float(_to_float(acc)), _sql_float(_to_float(lr)), int(bool(nonfinite)),
               _vector_blob(grad_norm, layers, "grad_norm", step),
               _vector_blob(weight_norm, layers, "weight_norm", step),
               _vector_blob(update_ratio, layers, "update_ratio", step),
               _vector_blob(act_grad_norm, blocks, "act_grad_norm", step),
               _vector_blob(dead_relu, blocks, "dead_relu", step))
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
        if steps[0] < 0 or steps[-1] > _MAX_STEP or batch.epoch.min() < 0 or batch.epoch.max() > _MAX_STEP:
            raise ValueError(f"StepBatch steps and epochs must be whole numbers from 0 to {_MAX_STEP}")
        if not np.all((batch.time >= 0) & (batch.time <= _MAX_TIMESTAMP)):
            raise ValueError("StepBatch times must be finite seconds of at least 0")
        # One contiguous little-endian copy per vector; rows are then cheap slices of it.
        blobs = [np.ascontiguousarray(getattr(batch, name), dtype="<f4")
                 for name in _LAYER_VECTORS + _BLOCK_VECTORS]
        floats = [[_sql_float(v) for v in column.tolist()] for column in (batch.loss, batch.acc, batch.lr)]
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
            db.execute("BEGIN IMMEDIATE")
            try:
                if self._pending:
                    db.executemany(_INSERT_STEP, self._pending)
                if extra is not None:
                    extra(db)
                db.execute("UPDATE run SET updated = ? WHERE id = 1", (now,))
                db.execute("COMMIT")
            except BaseException:
                # SQLite may have rolled back already (it does on a full disk): roll back only an
                # open transaction, and never let the rollback hide why the write failed.
                if db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            reason = _describe_write_failure(exc, self.path)
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
        values = (_counter(record.step, "step"), _counter(record.epoch, "epoch"), str(record.split),
                  _sql_float(_to_float(record.loss)),
                  _sql_float(_to_float(record.acc)), record.num_classes,
                  np.ascontiguousarray(record.confusion, dtype="<i8").tobytes(),
                  np.ascontiguousarray(record.precision, dtype="<f8").tobytes(),
                  np.ascontiguousarray(record.recall, dtype="<f8").tobytes())
        with self._lock:
            self._check_open()
            self._commit(lambda db: db.execute(
                "INSERT INTO eval (step, epoch, split, loss, acc, num_classes, confusion, precision, recall)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", values))

    def add_event(self, step: int, kind: str, message: str, layer: str | None = None) -> None:
        values = (_counter(step, "step"), self.elapsed(), str(kind), str(message), None if layer is None else str(layer))
        with self._lock:
            self._check_open()
            self._commit(lambda db: db.execute(_INSERT_EVENT, values))

    def add_checkpoint(self, step: int, epoch: int, state_dict: Mapping[str, torch.Tensor]) -> None:
        """Store weights as safetensors bytes; a later checkpoint at the same step replaces it."""
        data = encode_state_dict(state_dict)
        values = (_counter(step, "step"), _counter(epoch, "epoch"), self.elapsed(), data)
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
                self._commit(lambda db: db.execute(_SET_END, (status, error)))
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
            db.execute(_SET_END, ("failed", error))
            db.execute(_INSERT_EVENT, values)

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


def _what_the_path_holds(path: Path) -> str:
    """"nothing" (no file, an empty one, an SQLite file without a run: what a writer killed while
    creating a file leaves), "a run", or "something else" (another file, another program's database)."""
    if not path.exists():
        return "nothing"
    if not path.is_file():
        return "something else"
    try:
        if path.stat().st_size == 0 and not _wal_path(path).exists():
            return "nothing"
    except OSError:
        return "something else"
    try:
        # The caller holds the writer lock: opening the file read-write recovers a killed writer's
        # journal or WAL first, so what is counted is what the file really holds.
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=1.0, isolation_level=None)
    except sqlite3.Error:
        return "something else"
    try:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            return "nothing"
        ours = db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID or (
            "meta" in tables and db.execute("SELECT count(*) FROM meta WHERE key = 'format' AND value = ?",
                                            (FORMAT_NAME,)).fetchone()[0] > 0)
        if not ours:
            return "something else"
        has_run = "run" in tables and db.execute("SELECT count(*) FROM run").fetchone()[0] > 0
        return "a run" if has_run else "nothing"
    except sqlite3.OperationalError as exc:
        # Locked by a program that is not a resviz writer, or unreadable: not ours to replace unasked.
        return "a run" if "locked" in str(exc) or "busy" in str(exc) else "something else"
    except sqlite3.Error:
        return "something else"
    finally:
        db.close()


def _remove_leftovers(path: Path) -> None:
    """Before a new file goes to ``path``: the old one's WAL, shared memory and journal (SQLite would
    replay a stale WAL onto the new file), and temporary files of writers killed while creating it.
    The caller holds the writer lock."""
    leftovers = [_wal_path(path), _shm_path(path), _journal_path(path)]
    leftovers += [Path(p) for p in glob.glob(os.path.join(glob.escape(str(path.parent)),
                                                          f".{glob.escape(path.name)}.*.tmp*"))]
    for leftover in leftovers:
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: not every system can open a folder)."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _file_size_limit() -> int | None:
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    soft, _hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def _describe_write_failure(exc: BaseException, path: Path) -> str:
    """Why a write failed, in words: a full disk and the file-size limit are named as such."""
    text = str(exc)
    name = str(getattr(exc, "sqlite_errorname", "") or "")
    code = getattr(exc, "errno", None)
    full = name.startswith("SQLITE_FULL") or "disk is full" in text or code in (errno.ENOSPC, errno.EDQUOT)
    io_error = name.startswith("SQLITE_IOERR") or "disk I/O error" in text or code == errno.EFBIG
    if not (full or io_error):
        return text
    limit = _file_size_limit()
    if limit is not None:
        sizes = []
        for candidate in (path, _wal_path(path), _journal_path(path)):
            with contextlib.suppress(OSError):
                sizes.append(candidate.stat().st_size)
        if code == errno.EFBIG or max(sizes, default=0) + (1 << 20) >= limit:
            return f"the file-size limit ({limit:,} bytes, see ulimit -f) was reached ({text})"
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        free = None
    if full or (free is not None and free < (1 << 20)):
        return f"the disk is full ({text})"
    return f"a disk I/O error ({text}): is the disk full or gone?"


def describe_exception(exc: BaseException) -> str:
    """The error text stored with a failed run: ``TypeName: message``."""
    message = str(exc).strip()
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _created_by() -> str:
    from .. import __version__

    return f"resviz {__version__}"


def _wal_path(path: Path) -> Path:
    return path.with_name(path.name + "-wal")


def _shm_path(path: Path) -> Path:
    return path.with_name(path.name + "-shm")


def _journal_path(path: Path) -> Path:
    return path.with_name(path.name + "-journal")


def encode_state_dict(state_dict: Mapping[str, torch.Tensor]) -> bytes:
    """Weights as safetensors bytes (copies on the CPU, so shared or strided tensors are fine)."""
    import torch
    from safetensors.torch import save

    tensors: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"checkpoint entry {key!r} is a {type(value).__name__}, not a tensor")
        tensors[str(key)] = value.detach().to("cpu").contiguous().clone()
    return save(tensors)


def decode_state_dict(data: bytes, where: str) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        return load(bytes(data))
    except (SafetensorError, ValueError, RuntimeError, OSError) as exc:
        raise ResvizError(f"{where} is damaged: {exc}") from None


# --------------------------------------------------------------------------------------------
# Reading

T = TypeVar("T")


class RunReader:
    """Reads a run file read-only: a finished run (replay) or one still being written (tail).

    Each query is its own read transaction, so a reader sees every commit the writer makes;
    ``poll()`` returns each step exactly once, in order. SQLite's "busy"/"locked" answers are
    retried with a back-off (up to ``busy_timeout`` seconds) and never reach the caller.
    """

    def __init__(self, path: str | os.PathLike, *, busy_timeout: float = 10.0) -> None:
        self.path = Path(path)
        self.busy_timeout = float(busy_timeout)
        self._lock = threading.RLock()
        self._last_polled = -1 << 62
        self._db: sqlite3.Connection | None = None
        _check_run_file_header(self.path)
        self._db = self._connect()
        try:
            self._check_schema()
            self._static = self._read_static()
        except BaseException:
            self.close()
            raise

    def _connect(self) -> sqlite3.Connection:
        uri = self.path.resolve().as_uri()
        try:
            db = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None,
                                 timeout=min(0.5, self.busy_timeout),
                                 check_same_thread=False)
        except sqlite3.Error as exc:
            raise ResvizError(f"run file {self.path} cannot be opened: {exc}") from None
        try:
            self._retry(lambda: db.execute("SELECT count(*) FROM sqlite_master").fetchone(), unopenable=True)
            return db
        except _Unopenable as exc:
            db.close()
            # A finished run in a folder we may not write to (SQLite cannot create the -shm file):
            # with no WAL left, the file cannot change under us, so read it as immutable.
            if not _wal_path(self.path).exists():
                try:
                    db = sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, isolation_level=None,
                                         check_same_thread=False)
                    db.execute("SELECT count(*) FROM sqlite_master").fetchone()
                    return db
                except sqlite3.Error:
                    db.close()
            raise ResvizError(f"run file {self.path} cannot be opened: {exc}") from None
        except BaseException:
            db.close()
            raise

    def _retry(self, query: Callable[[], T], unopenable: bool = False) -> T:
        """Run a read, retrying while SQLite says the file is busy; other failures become ResvizErrors."""
        deadline = _time.monotonic() + self.busy_timeout
        delay = 0.002
        while True:
            try:
                return query()
            except sqlite3.OperationalError as exc:
                text = str(exc).lower()
                if "locked" in text or "busy" in text:
                    if _time.monotonic() >= deadline:
                        raise ResvizError(f"run file {self.path} stayed locked by another process for "
                                          f"{self.busy_timeout:g} s") from None
                    _time.sleep(delay)
                    delay = min(delay * 2, 0.1)
                    continue
                if unopenable and "unable to open" in text:
                    raise _Unopenable(str(exc)) from None
                if "no such table" in text or "no such column" in text:
                    raise ResvizError(f"run file {self.path} is not a resviz run file ({exc})") from None
                raise _damaged(self.path, exc) from None
            except sqlite3.DatabaseError as exc:
                raise _damaged(self.path, exc) from None

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            if self._db is None:
                raise ResvizError(f"run file {self.path} is closed")
            db = self._db
            return self._retry(lambda: db.execute(sql, params).fetchall())

    def _check_schema(self) -> None:
        tables = {row[0] for row in self._query("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "meta" not in tables:
            raise ResvizError(f"{self.path} is an SQLite database but not a resviz run file (it has no meta table)")
        meta = dict(self._query("SELECT key, value FROM meta"))
        if meta.get("format") != FORMAT_NAME:
            raise ResvizError(f"{self.path} is an SQLite database but not a resviz run file "
                              f"(format {meta.get('format')!r})")
        text = meta.get("schema_version", "")
        try:
            if not isinstance(text, str):
                raise ValueError
            version = int(text)
        except ValueError:
            raise self._bad("the meta table", "schema_version", text, "a whole number") from None
        if version > SCHEMA_VERSION:
            raise ResvizError(f"run file {self.path} was written by a newer resviz ({meta.get('created_by', '?')}, "
                              f"schema version {version}); this resviz reads up to version {SCHEMA_VERSION}: "
                              "upgrade resviz to open it")
        if version < 1:
            raise self._bad("the meta table", "schema_version", text, f"a whole number from 1 to {SCHEMA_VERSION}")
        missing = {"run", "step", "eval", "event", "checkpoint"} - tables
        if missing:
            raise ResvizError(f"run file {self.path} is damaged: missing tables {', '.join(sorted(missing))}")
        self.schema_version = version
        self._writer_start = self._text(meta.get("writer_start"), "the meta table", "writer_start", null=True)

    def _read_static(self) -> dict[str, Any]:
        rows = self._query("SELECT name, config, model_spec, device, layer_ids, block_ids, classes, twin, created,"
                           " host, pid FROM run WHERE id = 1")
        if not rows:
            raise ResvizError(f"run file {self.path} is damaged: it has no run record")
        name, config, spec, device, layer_ids, block_ids, classes, twin, created, host, pid = rows[0]
        where = "the run record"
        return {
            "name": self._text(name, where, "name"), "config": self._checked_config(self._json(config, "config", dict)),
            "model_spec": self._model_spec(self._text(spec, where, "model_spec", null=True)),
            "device": self._text(device, where, "device"),
            "layer_ids": self._json(layer_ids, "layer_ids", list, of=str),
            "block_ids": self._json(block_ids, "block_ids", list, of=str),
            "classes": self._json(classes, "classes", list, of=str),
            "twin": self._text(twin, where, "twin", null=True),
            "created": self._number(created, where, "created", low=0.0, high=_MAX_TIMESTAMP),
            "host": self._text(host, where, "host", null=True),
            "pid": self._whole(pid, where, "pid", 1, _MAX_PID, null=True),
        }

    def _json(self, text: Any, what: str, kind: type, of: type | None = None) -> Any:
        if not isinstance(text, str):
            raise self._bad("the run record", what, text, f"JSON text of a {kind.__name__}")
        try:
            value = json.loads(text)
        except ValueError:
            raise ResvizError(f"run file {self.path} is damaged: the run record's {what} is not valid JSON") from None
        if not isinstance(value, kind) or (of is not None and not all(isinstance(item, of) for item in value)):
            raise self._bad("the run record", what, value, f"JSON of a {kind.__name__}"
                                                           + (f" of {of.__name__}" if of is not None else ""))
        return value

    def _checked_config(self, config: dict) -> dict:
        problem = _config_problem(config)
        if problem is not None:
            raise self._bad("the run record", *problem)
        return config

    def _model_spec(self, text: str | None) -> ModelSpec | None:
        if text is None:
            return None
        from ..models.spec import ModelSpec

        try:
            spec = ModelSpec.from_json(text)
        except ResvizError as exc:
            raise ResvizError(f"run file {self.path} is damaged: the run record's model_spec: {exc}") from None
        if spec.sha256 is not None and not isinstance(spec.sha256, str):
            raise self._bad("the run record", "model_spec sha256", spec.sha256, "text")
        return spec

    # -- checking fields -------------------------------------------------------------------------

    def _bad(self, where: str, what: str, value: Any, expected: str) -> ResvizError:
        shown = repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        return ResvizError(f"run file {self.path} is damaged: {where} has {what} {shown}, expected {expected}")

    def _text(self, value: Any, where: str, what: str, *, null: bool = False) -> str | None:
        if isinstance(value, str) or (value is None and null):
            return value
        raise self._bad(where, what, value, "text" + (" or nothing" if null else ""))

    def _whole(self, value: Any, where: str, what: str, low: int, high: int, *, null: bool = False) -> int | None:
        if (value is None and null) or (type(value) is int and low <= value <= high):
            return value
        raise self._bad(where, what, value, _expected(True, null, low, high))

    def _number(self, value: Any, where: str, what: str, *, low: float = -math.inf, high: float = math.inf,
                null: bool = False) -> float:
        if value is None and null:
            return math.nan
        if type(value) in (int, float) and low <= value <= high:
            return float(value)
        raise self._bad(where, what, value, _expected(False, null, low, high))

    def _column(self, column: Sequence[Any], what: str, row: Callable[[int], str], *, integer: bool,
                null: bool = False, low: float = -math.inf, high: float = math.inf) -> np.ndarray:
        """A column of query results as an array, every value's type and range checked."""
        allowed = {int} if integer else {int, float}
        if null:
            allowed.add(type(None))
        if set(map(type, column)) <= allowed:
            array = np.asarray(column, dtype=np.float64 if null or not integer else np.int64)
            with np.errstate(invalid="ignore"):
                outside = (array < low) | (array > high)
            if not outside.any():
                return array
            index = int(np.flatnonzero(outside)[0])
        else:
            index = next(i for i, v in enumerate(column) if type(v) not in allowed)
        raise self._bad(row(index), what, column[index], _expected(integer, null, low, high))

    # -- public API ----------------------------------------------------------------------------

    @property
    def layer_ids(self) -> list[str]:
        return list(self._static["layer_ids"])

    @property
    def block_ids(self) -> list[str]:
        return list(self._static["block_ids"])

    def info(self) -> RunInfo:
        """What the file says about the run now, and whether its writer is still writing it."""
        # The lock before the status: a writer records how its run ended before it lets go of the
        # lock, so a free lock seen first means the status read next is final (or the writer died).
        lock = probe_writer_lock(self.path)
        rows = self._query("SELECT status, error, updated FROM run WHERE id = 1")
        if not rows:
            raise ResvizError(f"run file {self.path} is damaged: it has no run record")
        status, error, updated = rows[0]
        where = "the run record"
        if status not in RUN_STATUSES:
            raise self._bad(where, "status", status, " or ".join(RUN_STATUSES))
        error = self._text(error, where, "error", null=True)
        updated = self._number(updated, where, "updated", low=0.0, high=_MAX_TIMESTAMP)
        s = self._static
        live = writer_alive(status, host=s["host"], pid=s["pid"], start=self._writer_start, updated=updated,
                            lock=lock)
        return RunInfo(path=self.path, name=s["name"], schema_version=self.schema_version,
                       model_spec=s["model_spec"], config=dict(s["config"]), device=s["device"],
                       layer_ids=list(s["layer_ids"]), block_ids=list(s["block_ids"]), classes=list(s["classes"]),
                       status=run_status(status, live), error=error, created=s["created"], updated=updated,
                       twin=s["twin"], host=s["host"], pid=s["pid"], recorded_status=status, live=live,
                       writer_start=self._writer_start)

    def read_steps(self, after: int | None = None, limit: int | None = None) -> StepBatch:
        """The steps numbered above ``after`` (all of them when None), in order (at most ``limit`` of them)."""
        sql = f"SELECT {', '.join(_STEP_COLUMNS)} FROM step WHERE step > ? ORDER BY step"
        params: list[Any] = [-(1 << 63) if after is None else int(after)]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(max(0, int(limit)))
        return self._decode_steps(self._query(sql, params))

    def poll(self) -> StepBatch:
        """The steps committed since the last ``poll()`` (all of them on the first call)."""
        with self._lock:
            batch = self.read_steps(after=self._last_polled)
            if len(batch):
                self._last_polled = int(batch.step[-1])
            return batch

    def step_count(self) -> int:
        return int(self._query("SELECT count(*) FROM step")[0][0])

    def last_step(self) -> int | None:
        value = self._query("SELECT max(step) FROM step")[0][0]
        return self._whole(value, "the step table", "a step", 0, _MAX_STEP, null=True)

    def _decode_steps(self, rows: list[tuple]) -> StepBatch:
        layers, blocks = len(self._static["layer_ids"]), len(self._static["block_ids"])
        if not rows:
            return StepBatch.empty(layers, blocks)
        columns = list(zip(*rows))
        steps = self._column(columns[0], "a step number", lambda i: f"row {i + 1} of the steps read", integer=True,
                             low=0, high=_MAX_STEP)
        step_list = steps.tolist()

        def row(index: int) -> str:
            return f"step {step_list[index]}"

        checked = {
            "epoch": self._column(columns[1], "epoch", row, integer=True, low=0, high=_MAX_STEP),
            "time": self._column(columns[2], "time", row, integer=False, low=0.0, high=_MAX_TIMESTAMP),
            "loss": self._column(columns[3], "loss", row, integer=False, null=True),
            "acc": self._column(columns[4], "acc", row, integer=False, null=True),
            "lr": self._column(columns[5], "lr", row, integer=False, null=True),
            "nonfinite": self._column(columns[6], "nonfinite", row, integer=True, low=0, high=1).astype(bool),
        }
        for offset, name in enumerate(_LAYER_VECTORS + _BLOCK_VECTORS, start=7):
            width = layers if name in _LAYER_VECTORS else blocks
            checked[name] = self._decode_blobs(columns[offset], width, name, step_list)
        return StepBatch(step=steps, **checked)

    def _decode_blobs(self, blobs: Sequence[Any], width: int, name: str, steps: Sequence[int]) -> np.ndarray:
        expected = 4 * width
        for step, blob in zip(steps, blobs):
            if not isinstance(blob, bytes) or len(blob) != expected:
                size = len(blob) if isinstance(blob, (bytes, str)) else type(blob).__name__
                raise ResvizError(f"run file {self.path} is damaged: step {step} has a {name} blob of {size} "
                                  f"bytes, expected {expected} ({width} float32 values)")
        array = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), width)
        return array.astype(np.float32)  # native byte order, writable

    def evals(self, split: str | None = None) -> list[EvalRecord]:
        sql = "SELECT step, epoch, split, loss, acc, num_classes, confusion, precision, recall FROM eval"
        params: tuple = ()
        if split is not None:
            sql += " WHERE split = ?"
            params = (split,)
        records = []
        for index, (step, epoch, split_name, loss, acc, k, confusion, precision, recall) in enumerate(
                self._query(sql + " ORDER BY id", params)):
            row = f"evaluation {index + 1}"
            step = self._whole(step, row, "step", 0, _MAX_STEP)
            split_name = self._text(split_name, row, "split")
            where = f"the {split_name} evaluation at step {step}"
            k = self._checked_count(k, where)
            records.append(EvalRecord(
                step=step, epoch=self._whole(epoch, where, "epoch", 0, _MAX_STEP), split=split_name,
                loss=self._number(loss, where, "loss", null=True), acc=self._number(acc, where, "acc", null=True),
                confusion=self._decode_array(confusion, "<i8", k * k, where, "confusion matrix").reshape(k, k),
                precision=self._decode_array(precision, "<f8", k, where, "precision"),
                recall=self._decode_array(recall, "<f8", k, where, "recall")))
        return records

    def _checked_count(self, k: Any, where: str) -> int:
        return self._whole(k, where, "num_classes", 0, 100_000)

    def _decode_array(self, blob: Any, dtype: str, count: int, where: str, what: str) -> np.ndarray:
        expected = np.dtype(dtype).itemsize * count
        if not isinstance(blob, bytes) or len(blob) != expected:
            size = len(blob) if isinstance(blob, (bytes, str)) else type(blob).__name__
            raise ResvizError(f"run file {self.path} is damaged: {where} has a {what} blob of {size} bytes, "
                              f"expected {expected}")
        return np.frombuffer(blob, dtype=dtype).astype(np.dtype(dtype).newbyteorder("="))

    def events(self, kind: str | None = None) -> list[EventRecord]:
        sql = "SELECT step, time, kind, message, layer FROM event"
        params: tuple = ()
        if kind is not None:
            sql += " WHERE kind = ?"
            params = (kind,)
        records = []
        for index, (step, time, kind_name, message, layer) in enumerate(self._query(sql + " ORDER BY id", params)):
            where = f"event {index + 1}"
            records.append(EventRecord(
                step=self._whole(step, where, "step", 0, _MAX_STEP),
                time=self._number(time, where, "time", low=0.0, high=_MAX_TIMESTAMP),
                kind=self._text(kind_name, where, "kind"), message=self._text(message, where, "message"),
                layer=self._text(layer, where, "layer", null=True)))
        return records

    def checkpoints(self) -> list[CheckpointInfo]:
        records = []
        for index, (step, epoch, time, kind, nbytes) in enumerate(self._query(
                "SELECT step, epoch, time, typeof(data), length(data) FROM checkpoint ORDER BY step")):
            where = f"checkpoint {index + 1}"
            step = self._whole(step, where, "step", 0, _MAX_STEP)
            where = f"the checkpoint at step {step}"
            if kind != "blob":
                raise self._bad(where, "data of type", kind, "blob")
            records.append(CheckpointInfo(step=step, epoch=self._whole(epoch, where, "epoch", 0, _MAX_STEP),
                                          time=self._number(time, where, "time", low=0.0, high=_MAX_TIMESTAMP),
                                          nbytes=int(nbytes)))
        return records

    def load_checkpoint(self, step: int | None = None) -> dict[str, torch.Tensor]:
        """The weights saved at ``step`` (the latest checkpoint when None)."""
        if step is None:
            rows = self._query("SELECT step, data FROM checkpoint ORDER BY step DESC LIMIT 1")
            if not rows:
                raise ResvizError(f"run file {self.path} has no checkpoint")
        else:
            rows = self._query("SELECT step, data FROM checkpoint WHERE step = ?", (int(step),))
            if not rows:
                available = ", ".join(str(c.step) for c in self.checkpoints()) or "none"
                raise ResvizError(f"run file {self.path} has no checkpoint at step {step} (checkpoints: {available})")
        found, data = rows[0]
        found = self._whole(found, "the checkpoint table", "a step", 0, _MAX_STEP)
        if not isinstance(data, bytes):
            raise ResvizError(f"run file {self.path} is damaged: the checkpoint at step {found} is not a blob")
        return decode_state_dict(data, f"the checkpoint at step {found} in run file {self.path}")

    def best_accuracy(self) -> float | None:
        """The best held-out accuracy (evaluations on any split but "train"), None when there is none."""
        value = self._query("SELECT max(acc) FROM eval WHERE split != 'train'")[0][0]
        if value is None:
            return None
        return self._number(value, "the eval table", "an acc", high=math.inf)

    def close(self) -> None:
        """Close the connection; with no writer left, also the ``-wal``/``-shm`` files reading made."""
        with self._lock:
            db, self._db = self._db, None
            if db is None:
                return
            db.close()
        _tidy_sidecars(self.path)

    def __enter__(self) -> RunReader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass


def _expected(integer: bool, null: bool, low: float, high: float) -> str:
    words = "a whole number" if integer else "a number"
    if low > -math.inf and high < (1 << 53):
        words += f" from {low:g} to {high:g}"
    elif low > -math.inf:
        words += f" of at least {low:g}"
    return words + (" or nothing" if null else "")


def run_status(recorded_status: str, live: bool) -> str:
    """The status to show for a run: its file's, except ``"interrupted"`` for a run the file calls
    running whose writer is gone (``run_status.status_label`` owns the rule)."""
    return status_label(recorded_status, live=live)


def _tidy_sidecars(path: Path) -> None:
    """Remove the ``-wal`` and ``-shm`` files beside a run no writer is writing (reading makes them).

    SQLite removes them itself when the last read-write connection closes, so one is opened and
    closed, holding the writer lock so that no writer replaces the file meanwhile. Any other
    connection (a reader, a writer without the lock) keeps them, and anything that fails leaves
    them as they are.
    """
    if not (_wal_path(path).exists() or _shm_path(path).exists()):
        return
    lock = WriterLock(path)
    try:
        if not lock.acquire(wait=0.0):
            return  # a writer: the files are its
    except OSError:
        return  # a folder we may not write to: nothing to tidy that we could have made
    try:
        if not path.is_file():
            return
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=0.2, isolation_level=None)
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            db.close()
    except (sqlite3.Error, OSError):
        pass
    finally:
        lock.release()


class _Unopenable(Exception):
    """SQLite could not open the file read-only (e.g. it cannot create the -shm file)."""


def _nan_for_null(column: Sequence[float | None]) -> np.ndarray:
    return np.asarray([math.nan if v is None else v for v in column], np.float64)


def _damaged(path: Path, exc: BaseException) -> ResvizError:
    return ResvizError(f"run file {path} is damaged or not a run file: {exc}")


def _check_run_file_header(path: Path) -> None:
    """Catch the common bad files before SQLite sees them: missing, empty, not SQLite, truncated."""
    if not path.exists():
        raise ResvizError(f"run file {path} does not exist")
    if not path.is_file():
        raise ResvizError(f"run file {path} is not a file")
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            header = handle.read(100)
    except OSError as exc:
        raise ResvizError(f"run file {path} cannot be read: {exc}") from None
    if len(header) < 100:
        raise ResvizError(f"run file {path} is empty or truncated ({size} bytes), not a resviz run file")
    if header[:16] != _SQLITE_MAGIC:
        raise ResvizError(f"{path} is not a resviz run file (not an SQLite database)")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        raise ResvizError(f"run file {path} is damaged: invalid page size {page_size}")
    # With a WAL beside the file a writer may be checkpointing right now: page 1 (with the new size) is
    # copied before the pages that extend the file, so the size checks only hold for a file without one.
    # Damage in a live file still surfaces as an SQLite error when it is read.
    if not _wal_path(path).exists():
        pages = int.from_bytes(header[28:32], "big")
        # The page count in the header is valid only when these two counters agree (SQLite file format, 1.3.7).
        if header[24:28] == header[92:96] and pages and size < pages * page_size:
            raise ResvizError(f"run file {path} is truncated: {size} bytes, its header says {pages * page_size}")
        if size % page_size:
            raise ResvizError(f"run file {path} is truncated or damaged: {size} bytes is not a whole number of "
                              f"{page_size}-byte pages")
    if int.from_bytes(header[68:72], "big") not in (APPLICATION_ID, 0):
        raise ResvizError(f"{path} is an SQLite database of another application, not a resviz run file")


def open_run(path: str | os.PathLike) -> RunReader:
    """Open a run file for reading (live or finished)."""
    return RunReader(path)


# --------------------------------------------------------------------------------------------
# Listing


def is_live(info: RunInfo, now: float | None = None) -> bool:
    """Whether the run's writer is writing it now, judged again (``RunReader.info()`` already
    judged it when it read ``info``: ``info.live``). See ``liveness.writer_alive``."""
    return writer_alive(info.recorded_status or info.status, host=info.host, pid=info.pid,
                        start=info.writer_start, updated=info.updated, lock=probe_writer_lock(Path(info.path)),
                        now=now)


def summarize_run(path: str | os.PathLike) -> RunSummary:
    """One run's line for ``resviz runs``; a damaged file gives a summary with ``error`` set."""
    path = Path(path)
    try:
        with RunReader(path) as reader:
            info = reader.info()
            return RunSummary(path=path, name=info.name, model=info.model_label, steps=reader.step_count(),
                              status=info.status, best_acc=reader.best_accuracy(), updated=info.updated,
                              live=bool(info.live), last_step=reader.last_step(), run_error=info.error)
    except Exception as exc:  # noqa: BLE001 - one bad file is listed as such, never hides the others
        error = str(exc) if isinstance(exc, ResvizError) else \
            f"run file {path} cannot be read: {describe_exception(exc)}"
        try:
            updated = path.stat().st_mtime
        except OSError:
            updated = 0.0
        return RunSummary(path=path, name=path.stem, model="-", steps=0, status="unreadable", best_acc=None,
                          updated=updated, live=False, error=error)


def iter_run_files(folder: str | os.PathLike) -> Iterator[Path]:
    folder = Path(folder)
    yield from sorted(p for p in folder.glob(f"*{RUN_SUFFIX}") if p.is_file())


def list_runs(folder: str | os.PathLike = "runs") -> list[RunSummary]:
    """Every run file in ``folder`` (``*.resviz``), sorted by name; damaged ones are listed with their error."""
    folder = Path(folder)
    if not folder.exists():
        raise ResvizError(f"run folder {folder} does not exist")
    if not folder.is_dir():
        raise ResvizError(f"{folder} is not a folder")
    return [summarize_run(path) for path in iter_run_files(folder)]


# --------------------------------------------------------------------------------------------
# Recovering a run whose writer died


def mark_run_ended(path: str | os.PathLike, status: str, error: str | None, *, pid: int | None = None,
                   busy_timeout: float = 10.0) -> bool:
    """Record that a run whose writer died has ended: its ``status`` ("failed" or "stopped"), the
    ``error`` text, and an event (``error`` or ``stop``) at the first step the file does not hold.

    Only a run still marked running is changed (and, with ``pid``, only one written by that
    process), so a run its writer managed to finish keeps what the writer said; returns whether
    the run was changed. A run whose writer still holds its writer lock is left alone (False).
    Opening it recovers its last committed state first, so every committed step stays. A file
    that is missing, damaged, not a run file or of a newer schema gives a ``ResvizError``.
    """
    if status not in _END_EVENT_KINDS:
        raise ValueError(f"a run ends as {' or '.join(_END_EVENT_KINDS)}, not {status!r}")
    path = Path(path)
    lock = WriterLock(path)
    try:
        if not lock.acquire(wait=min(busy_timeout, 0.5)):
            return False  # its writer is alive: it says itself how its run ends
    except OSError as exc:
        if not path.exists():
            raise ResvizError(f"run file {path} does not exist") from None
        raise ResvizError(f"run file {path} cannot be marked {status}: {exc}") from None
    try:
        return _mark_ended(path, status, error, pid, busy_timeout)
    finally:
        lock.release()


def _mark_ended(path: Path, status: str, error: str | None, pid: int | None, busy_timeout: float) -> bool:
    with RunReader(path, busy_timeout=busy_timeout) as reader:  # checks the header, format, schema and fields
        info = reader.info()
        last_step = reader.last_step()
    if info.recorded_status != "running" or (pid is not None and info.pid != pid):
        return False
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=busy_timeout,
                             isolation_level=None)
    except sqlite3.Error as exc:
        raise ResvizError(f"run file {path} cannot be opened to mark it {status}: {exc}") from None
    try:
        now = _time.time()
        db.execute("BEGIN IMMEDIATE")
        try:
            # Checked again inside the transaction: the status may have changed since it was read.
            where = " AND status = 'running'" + (" AND pid = ?" if pid is not None else "")
            changed = db.execute(_SET_END + where, (status, error) + ((pid,) if pid is not None else ())).rowcount
            if changed:
                step = 0 if last_step is None else last_step + 1
                db.execute(_INSERT_EVENT, (step, max(0.0, now - info.created), _END_EVENT_KINDS[status],
                                           error or f"the run {status}", None))
                db.execute("UPDATE run SET updated = ? WHERE id = 1", (now,))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            raise
        with contextlib.suppress(sqlite3.Error):
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")  # one self-contained file, as a finished writer leaves
        return bool(changed)
    except sqlite3.Error as exc:
        raise ResvizError(f"run file {path} cannot be marked {status}: "
                          f"{_describe_write_failure(exc, path)}") from None
    finally:
        db.close()


__all__ = [
    "APPLICATION_ID", "CheckpointInfo", "EvalRecord", "EventRecord", "INTERRUPTED", "LIVE_SECONDS", "RUN_STATUSES",
    "RUN_SUFFIX", "RunInfo", "RunReader", "RunSummary", "RunWriter", "SCHEMA_VERSION", "StepBatch",
    "decode_state_dict", "describe_exception", "encode_state_dict", "is_live", "iter_run_files", "list_runs",
    "mark_run_ended", "open_run", "run_status", "summarize_run",
]
