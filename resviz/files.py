"""Writing output files atomically: a file appears whole, or the one before stays as it was.

Each file is written under a temporary name in its own folder and renamed into place once it
is complete, so an interrupted export (a kill, a full disk, an exception half-way) never leaves
a truncated file that looks finished.

    with atomic_write("out.csv", newline="") as handle:
        handle.write(...)

    with atomic_path("figure.png") as temporary:    # for libraries that write to a path
        figure.savefig(temporary, format="png")
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def _temporary_beside(path: Path) -> Path:
    # Hidden, and with the real suffix last so that libraries that pick a format by suffix still can.
    return path.with_name(f".{path.stem}.{secrets.token_hex(4)}.tmp{path.suffix}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path``; renamed to ``path`` when the block ends without an exception,
    removed when it raises."""
    path = Path(path)
    temporary = _temporary_beside(path)
    try:
        yield temporary
        if not temporary.exists():
            raise FileNotFoundError(f"nothing was written to {path}")
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink()


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **open_options: Any) -> Iterator[IO[Any]]:
    """``open(path, mode)`` for writing, atomically (``mode`` "w" or "wb"); text defaults to UTF-8."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write writes new files ('w' or 'wb'), not mode {mode!r}")
    if mode == "w":
        open_options.setdefault("encoding", "utf-8")
    with atomic_path(path) as temporary:
        with open(temporary, mode, **open_options) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())


__all__ = ["atomic_path", "atomic_write"]


def save_figure_png(figure: Any, path: str | os.PathLike, dpi: int) -> Path:
    """A matplotlib figure saved as PNG at ``path``, atomically; a bad path is one ``ResvizError`` line."""
    from .errors import ResvizError

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ResvizError(f"{path}: figures are saved as PNG; give a path ending in .png")
    if not path.parent.exists():
        raise ResvizError(f"{path}: the folder {path.parent} does not exist")
    try:
        with atomic_path(path) as temporary:  # whole or not at all
            figure.savefig(temporary, dpi=dpi, facecolor="white")
    except OSError as exc:
        raise ResvizError(f"{path}: cannot write the figure ({exc.strerror or exc})") from None
    return path
