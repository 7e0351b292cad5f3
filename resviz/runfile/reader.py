"""Reading a run file: a finished run (replay) or one still being written (tail).

Readers open the file read-only, retry internally when SQLite reports it busy, and check the
type and range of every field and the length of every blob before using it (``fields``), so a
damaged file gives a ``ResvizError`` naming the file and the field instead of garbage or a crash.
"""

from __future__ import annotations

import math
import os
import sqlite3
import threading
import time as _time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import ResvizError
from .checkpoints import decode_state_dict
from .fields import FieldChecks
from .filesystem import tidy_sidecars, wal_path
from .lenses import LensResult, decode_lens_row
from .liveness import probe_writer_lock, writer_alive
from .records import CheckpointInfo, EvalRecord, EventRecord, RunInfo, RunStructure, StepBatch
from .schema import (
    APPLICATION_ID,
    BLOCK_VECTORS,
    FORMAT_NAME,
    LAYER_VECTORS,
    MAX_PID,
    MAX_STEP,
    MAX_TIMESTAMP,
    RUN_STATUSES,
    SCHEMA_VERSION,
    SKIPPED_EVENT,
    STEP_COLUMNS,
    config_problem,
    structure_problem,
)
from .status import run_status

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from ..models.spec import ModelSpec

_SQLITE_MAGIC = b"SQLite format 3\x00"

T = TypeVar("T")


class RunReader(FieldChecks):
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
            if not wal_path(self.path).exists():
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
        # Version 1 files have no structure column.
        structure_column = "structure" if self.schema_version >= 2 else "NULL"
        rows = self._query("SELECT name, config, model_spec, device, layer_ids, block_ids, classes, twin, created,"
                           f" host, pid, {structure_column} FROM run WHERE id = 1")
        if not rows:
            raise ResvizError(f"run file {self.path} is damaged: it has no run record")
        name, config, spec, device, layer_ids, block_ids, classes, twin, created, host, pid, structure = rows[0]
        where = "the run record"
        static = {
            "name": self._text(name, where, "name"), "config": self._checked_config(self._json(config, "config", dict)),
            "model_spec": self._model_spec(self._text(spec, where, "model_spec", null=True)),
            "device": self._text(device, where, "device"),
            "layer_ids": self._json(layer_ids, "layer_ids", list, of=str),
            "block_ids": self._json(block_ids, "block_ids", list, of=str),
            "classes": self._json(classes, "classes", list, of=str),
            "twin": self._text(twin, where, "twin", null=True),
            "created": self._number(created, where, "created", low=0.0, high=MAX_TIMESTAMP),
            "host": self._text(host, where, "host", null=True),
            "pid": self._whole(pid, where, "pid", 1, MAX_PID, null=True),
        }
        static["structure"] = self._checked_structure(structure, static["layer_ids"], static["block_ids"])
        return static

    def _checked_structure(self, text: Any, layer_ids: list[str], block_ids: list[str]) -> dict | None:
        if text is None:
            return None
        structure = self._json(text, "structure", dict)
        problem = structure_problem(structure, layer_ids, block_ids)
        if problem is not None:
            raise self._bad("the run record", *problem)
        return structure

    def _checked_config(self, config: dict) -> dict:
        problem = config_problem(config)
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

    # -- public API ----------------------------------------------------------------------------

    @property
    def layer_ids(self) -> list[str]:
        return list(self._static["layer_ids"])

    @property
    def block_ids(self) -> list[str]:
        return list(self._static["block_ids"])

    @property
    def structure(self) -> RunStructure | None:
        """Each layer's kind and each block's layers; None for a file written without them."""
        data = self._static["structure"]
        return RunStructure.from_dict(data) if data is not None else None

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
        updated = self._number(updated, where, "updated", low=0.0, high=MAX_TIMESTAMP)
        s = self._static
        live = writer_alive(status, host=s["host"], pid=s["pid"], start=self._writer_start, updated=updated,
                            lock=lock)
        return RunInfo(path=self.path, name=s["name"], schema_version=self.schema_version,
                       model_spec=s["model_spec"], config=dict(s["config"]), device=s["device"],
                       layer_ids=list(s["layer_ids"]), block_ids=list(s["block_ids"]), classes=list(s["classes"]),
                       status=run_status(status, live), error=error, created=s["created"], updated=updated,
                       twin=s["twin"], host=s["host"], pid=s["pid"], recorded_status=status, live=live,
                       writer_start=self._writer_start, structure=self.structure)

    def read_steps(self, after: int | None = None, limit: int | None = None) -> StepBatch:
        """The steps numbered above ``after`` (all of them when None), in order (at most ``limit`` of them)."""
        sql = f"SELECT {', '.join(STEP_COLUMNS)} FROM step WHERE step > ? ORDER BY step"
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
        return self._whole(value, "the step table", "a step", 0, MAX_STEP, null=True)

    def _decode_steps(self, rows: list[tuple]) -> StepBatch:
        layers, blocks = len(self._static["layer_ids"]), len(self._static["block_ids"])
        if not rows:
            return StepBatch.empty(layers, blocks)
        columns = list(zip(*rows))
        steps = self._column(columns[0], "a step number", lambda i: f"row {i + 1} of the steps read", integer=True,
                             low=0, high=MAX_STEP)
        step_list = steps.tolist()

        def row(index: int) -> str:
            return f"step {step_list[index]}"

        checked = {
            "epoch": self._column(columns[1], "epoch", row, integer=True, low=0, high=MAX_STEP),
            "time": self._column(columns[2], "time", row, integer=False, low=0.0, high=MAX_TIMESTAMP),
            "loss": self._column(columns[3], "loss", row, integer=False, null=True),
            "acc": self._column(columns[4], "acc", row, integer=False, null=True),
            "lr": self._column(columns[5], "lr", row, integer=False, null=True),
            "nonfinite": self._column(columns[6], "nonfinite", row, integer=True, low=0, high=1).astype(bool),
        }
        for offset, name in enumerate(LAYER_VECTORS + BLOCK_VECTORS, start=7):
            width = layers if name in LAYER_VECTORS else blocks
            checked[name] = self._decode_blobs(columns[offset], width, name, step_list)
        return StepBatch(step=steps, **checked)

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
            step = self._whole(step, row, "step", 0, MAX_STEP)
            split_name = self._text(split_name, row, "split")
            where = f"the {split_name} evaluation at step {step}"
            k = self._checked_count(k, where)
            records.append(EvalRecord(
                step=step, epoch=self._whole(epoch, where, "epoch", 0, MAX_STEP), split=split_name,
                loss=self._number(loss, where, "loss", null=True), acc=self._number(acc, where, "acc", null=True),
                confusion=self._decode_array(confusion, "<i8", k * k, where, "confusion matrix").reshape(k, k),
                precision=self._decode_array(precision, "<f8", k, where, "precision"),
                recall=self._decode_array(recall, "<f8", k, where, "recall")))
        return records

    def _checked_count(self, k: Any, where: str) -> int:
        return self._whole(k, where, "num_classes", 0, 100_000)

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
                step=self._whole(step, where, "step", 0, MAX_STEP),
                time=self._number(time, where, "time", low=0.0, high=MAX_TIMESTAMP),
                kind=self._text(kind_name, where, "kind"), message=self._text(message, where, "message"),
                layer=self._text(layer, where, "layer", null=True)))
        return records

    def skipped_steps(self) -> list[int]:
        """The steps whose update the gradient scaler skipped, in order."""
        return sorted({event.step for event in self.events(SKIPPED_EVENT)})

    def checkpoints(self) -> list[CheckpointInfo]:
        records = []
        for index, (step, epoch, time, kind, nbytes) in enumerate(self._query(
                "SELECT step, epoch, time, typeof(data), length(data) FROM checkpoint ORDER BY step")):
            where = f"checkpoint {index + 1}"
            step = self._whole(step, where, "step", 0, MAX_STEP)
            where = f"the checkpoint at step {step}"
            if kind != "blob":
                raise self._bad(where, "data of type", kind, "blob")
            records.append(CheckpointInfo(step=step, epoch=self._whole(epoch, where, "epoch", 0, MAX_STEP),
                                          time=self._number(time, where, "time", low=0.0, high=MAX_TIMESTAMP),
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
        found = self._whole(found, "the checkpoint table", "a step", 0, MAX_STEP)
        if not isinstance(data, bytes):
            raise ResvizError(f"run file {self.path} is damaged: the checkpoint at step {found} is not a blob")
        return decode_state_dict(data, f"the checkpoint at step {found} in run file {self.path}")

    def best_accuracy(self) -> float | None:
        """The best held-out accuracy (evaluations on any split but "train"), None when there is none."""
        value = self._query("SELECT max(acc) FROM eval WHERE split != 'train'")[0][0]
        if value is None:
            return None
        return self._number(value, "the eval table", "an acc", high=math.inf)

    def lens_results(self, name: str | None = None) -> list[LensResult]:
        """What the lenses computed for this run (``runfile.lenses``), oldest first; only ``name``'s
        when given. A file without the ``lens`` table holds none."""
        tables = {row[0] for row in self._query("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "lens" not in tables:
            return []
        sql = "SELECT id, name, created, params, summary, arrays FROM lens"
        rows = self._query(sql + " WHERE name = ? ORDER BY id", (name,)) if name else self._query(sql + " ORDER BY id")
        return [decode_lens_row(row, f"run file {self.path}") for row in rows]

    def close(self) -> None:
        """Close the connection; with no writer left, also the ``-wal``/``-shm`` files reading made."""
        with self._lock:
            db, self._db = self._db, None
            if db is None:
                return
            db.close()
        tidy_sidecars(self.path)

    def __enter__(self) -> RunReader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass


class _Unopenable(Exception):
    """SQLite could not open the file read-only (e.g. it cannot create the -shm file)."""


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
    if not wal_path(path).exists():
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
