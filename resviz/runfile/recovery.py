"""Recording how a run ended when its writer died before it could say so itself."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time as _time
from pathlib import Path

from ..errors import ResvizError
from .filesystem import describe_write_failure, immediate_transaction
from .liveness import WriterLock
from .reader import RunReader
from .schema import END_EVENT_KINDS, INSERT_EVENT, SET_END


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
    if status not in END_EVENT_KINDS:
        raise ValueError(f"a run ends as {' or '.join(END_EVENT_KINDS)}, not {status!r}")
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
        with immediate_transaction(db):
            # Checked again inside the transaction: the status may have changed since it was read.
            where = " AND status = 'running'" + (" AND pid = ?" if pid is not None else "")
            changed = db.execute(SET_END + where, (status, error) + ((pid,) if pid is not None else ())).rowcount
            if changed:
                step = 0 if last_step is None else last_step + 1
                db.execute(INSERT_EVENT, (step, max(0.0, now - info.created), END_EVENT_KINDS[status],
                                           error or f"the run {status}", None))
                db.execute("UPDATE run SET updated = ? WHERE id = 1", (now,))
        with contextlib.suppress(sqlite3.Error):
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")  # one self-contained file, as a finished writer leaves
        return bool(changed)
    except sqlite3.Error as exc:
        raise ResvizError(f"run file {path} cannot be marked {status}: "
                          f"{describe_write_failure(exc, path)}") from None
    finally:
        db.close()
