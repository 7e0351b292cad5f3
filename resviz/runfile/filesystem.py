"""The run file on disk: its sidecar files (``-wal``, ``-shm``, ``-journal``), what a path holds
before a writer takes it, durable renames, tidying after readers, and why a write failed."""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import shutil
import sqlite3
from pathlib import Path

from .liveness import WriterLock
from .schema import APPLICATION_ID, FORMAT_NAME


def wal_path(path: Path) -> Path:
    return path.with_name(path.name + "-wal")


def shm_path(path: Path) -> Path:
    return path.with_name(path.name + "-shm")


def journal_path(path: Path) -> Path:
    return path.with_name(path.name + "-journal")


def what_the_path_holds(path: Path) -> str:
    """"nothing" (no file, an empty one, an SQLite file without a run: what a writer killed while
    creating a file leaves), "a run", or "something else" (another file, another program's database)."""
    if not path.exists():
        return "nothing"
    if not path.is_file():
        return "something else"
    try:
        if path.stat().st_size == 0 and not wal_path(path).exists():
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


def remove_leftovers(path: Path) -> None:
    """Before a new file goes to ``path``: the old one's WAL, shared memory and journal (SQLite would
    replay a stale WAL onto the new file), and temporary files of writers killed while creating it.
    The caller holds the writer lock."""
    leftovers = [wal_path(path), shm_path(path), journal_path(path)]
    leftovers += [Path(p) for p in glob.glob(os.path.join(glob.escape(str(path.parent)),
                                                          f".{glob.escape(path.name)}.*.tmp*"))]
    for leftover in leftovers:
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()


def sync_folder(folder: Path) -> None:
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


@contextlib.contextmanager
def immediate_transaction(db: sqlite3.Connection):
    """``BEGIN IMMEDIATE`` ... ``COMMIT``. On any exception, roll back an open transaction only
    (SQLite may have rolled back already, as it does on a full disk), and never let the rollback
    hide why the write failed."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
        raise


def describe_write_failure(exc: BaseException, path: Path) -> str:
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
        for candidate in (path, wal_path(path), journal_path(path)):
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


def tidy_sidecars(path: Path) -> None:
    """Remove the ``-wal`` and ``-shm`` files beside a run no writer is writing (reading makes them).

    SQLite removes them itself when the last read-write connection closes, so one is opened and
    closed, holding the writer lock so that no writer replaces the file meanwhile. Any other
    connection (a reader, a writer without the lock) keeps them, and anything that fails leaves
    them as they are.
    """
    if not (wal_path(path).exists() or shm_path(path).exists()):
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
