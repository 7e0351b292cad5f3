"""Whether a run file's writer is still alive: a lock that dies with the writer, and who the writer was.

The process writing ``NAME.resviz`` holds an exclusive ``flock`` on ``NAME.resviz-lock`` from
before the run file exists until the run is finished; the kernel drops the lock when that
process ends, however it ends (``kill -9`` included), so a reader that can take the lock knows
the writer is gone. Where the lock cannot tell (no lock file beside a renamed or copied run,
a system without ``flock``), the writer's process id and its start time decide, so a process
that later got the same id is not taken for the writer. A run written on another machine
counts as live while its last commit is recent.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

try:  # POSIX; without it liveness falls back to the process id
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:  # pragma: no cover
    from .records import RunInfo

LOCK_SUFFIX = "-lock"
# A run written on another machine whose writer has not committed for this long is no longer live.
LIVE_SECONDS = 120.0


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + LOCK_SUFFIX)


class WriterLock:
    """The exclusive lock on ``PATH-lock`` that marks ``PATH`` as being written."""

    def __init__(self, path: Path) -> None:
        self.path = lock_path(path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, wait: float = 0.0) -> bool:
        """Take the lock (creating its file); False when another process holds it for ``wait`` seconds.

        Readers that probe the lock hold it for microseconds, so a short wait gets past them. An
        ``OSError`` (no permission to create the file) propagates.
        """
        if self._fd is not None:
            return True
        if fcntl is None:  # pragma: no cover - no flock: the process id is all readers have
            return True
        deadline = time.monotonic() + wait
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.005)
                continue
            except BaseException:
                os.close(fd)
                raise
            # The holder before us removes the file as it lets go: only a lock on the file that is
            # at the path now counts.
            try:
                here, there = os.fstat(fd), os.stat(self.path)
                if (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino):
                    self._fd = fd
                    self._note_holder(fd)
                    return True
            except FileNotFoundError:
                pass
            os.close(fd)

    @staticmethod
    def _note_holder(fd: int) -> None:
        # Who holds it, for the message another writer gets; the lock, not this text, is the truth.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())

    def holder(self) -> str | None:
        """``process PID on HOST`` as the holder wrote it, when it can be read."""
        try:
            pid, host = self.path.read_text(encoding="utf-8").split()[:2]
            return f"{int(pid)} on {host}"
        except (OSError, ValueError, UnicodeDecodeError):
            return None

    def release(self) -> None:
        """Remove the lock file, then let go of it (in that order, see ``acquire``)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(fd)

    def __del__(self) -> None:  # pragma: no cover - an abandoned writer lets go with its object
        with contextlib.suppress(Exception):
            if self._fd is not None:
                os.close(self._fd)


def probe_writer_lock(path: Path) -> bool | None:
    """True when a process holds ``path``'s writer lock, False when its lock file is free, None when
    there is no lock file or it cannot be tested."""
    if fcntl is None:  # pragma: no cover
        return None
    try:
        fd = os.open(lock_path(path), os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return None
    finally:
        os.close(fd)  # also lets go of a shared lock taken just now
    return False


# ------------------------------------------------------------------------------------------------
# Who the writer was


@lru_cache(maxsize=1)
def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def process_start(pid: int) -> str | None:
    """An identity of process ``pid`` that a later process with the same id does not share: the boot
    and the start time since boot (Linux); None where it cannot be read."""
    try:
        with open(f"/proc/{int(pid)}/stat", "rb") as handle:
            data = handle.read()
        start = int(data[data.rindex(b")") + 2:].split()[19])  # field 22, starttime
    except (OSError, ValueError, IndexError):
        return None
    return f"{_boot_id()}:{start}"


def own_process_start() -> str | None:
    return process_start(os.getpid())


def _pid_exists(pid: int) -> bool:
    if os.name == "nt":  # pragma: no cover - there os.kill(pid, 0) would end the process, not test it
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError):
        return True
    return True


def process_alive(pid: int, start: str | None) -> bool:
    """Whether process ``pid`` runs and is the one that started at ``start`` (when that is known)."""
    if pid <= 0:
        return False
    if start is not None:
        current = process_start(pid)
        if current is not None:
            return current == start
    return _pid_exists(pid)


def writer_alive(status: str, *, host: str | None, pid: int | None, start: str | None, updated: float,
                 lock: bool | None, now: float | None = None) -> bool:
    """The one rule: is the writer of a run (as its file records it) still writing?

    ``lock`` is what ``probe_writer_lock`` said, taken before the status was read (a writer
    records its last status before it lets go of the lock).
    """
    if status != "running":
        return False
    if lock:
        return True
    if host == socket.gethostname():
        if lock is False:
            return False
        if pid:
            return process_alive(int(pid), start)
    return ((now if now is not None else time.time()) - updated) < LIVE_SECONDS


def is_live(info: RunInfo, now: float | None = None) -> bool:
    """Whether the run's writer is writing it now, judged again (``RunReader.info()`` already
    judged it when it read ``info``: ``info.live``). See ``writer_alive``."""
    return writer_alive(info.recorded_status or info.status, host=info.host, pid=info.pid,
                        start=info.writer_start, updated=info.updated, lock=probe_writer_lock(Path(info.path)),
                        now=now)


__all__ = ["LIVE_SECONDS", "WriterLock", "is_live", "lock_path", "own_process_start", "probe_writer_lock",
           "process_alive", "process_start", "writer_alive"]
