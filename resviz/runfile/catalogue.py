"""The runs in a folder, one summary line each (``resviz runs``, the window's runs panel); a
damaged file is listed with its error and never hides the others."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from ..errors import ResvizError, describe_exception
from .reader import RunReader
from .records import RunSummary
from .schema import RUN_SUFFIX


def summarize_run(path: str | os.PathLike) -> RunSummary:
    """One run's line for ``resviz runs``; a damaged file gives a summary with ``error`` set."""
    path = Path(path)
    try:
        with RunReader(path) as reader:
            info = reader.info()
            return RunSummary(path=path, name=info.name, model=info.model_label, steps=reader.step_count(),
                              status=info.status, best_acc=reader.best_accuracy(), updated=info.updated,
                              live=bool(info.live), last_step=reader.last_step(), run_error=info.error,
                              model_spec=info.model_spec, twin=info.twin, created=info.created)
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
