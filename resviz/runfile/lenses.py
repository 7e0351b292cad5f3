"""What the lenses computed for a run, kept in its run file so that a replay shows them.

A lens (signal propagation, the loss landscape, a lesion study, gradient paths) is computed
after training, from a run's checkpoint, by a process that is not the run's writer. Its result
goes to the ``lens`` table, created on the first store (files from before lenses have none and
read as holding no results). One row per computation: the lens's name, its parameters and a
small summary as JSON, and its arrays as an ``.npz`` blob (numbers only: loaded without pickle).
"""

from __future__ import annotations

import io
import json
import math
import os
import sqlite3
import time as _time
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ResvizError
from .encoding import json_default
from .filesystem import describe_write_failure, immediate_transaction

LENS_TABLE_SQL = """
CREATE TABLE IF NOT EXISTS lens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    created REAL NOT NULL,
    params TEXT NOT NULL,
    summary TEXT NOT NULL,
    arrays BLOB NOT NULL
)
"""
# A lens's name: lower-case words joined by "_" ("signal", "landscape", "lesion", "paths").
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz_0123456789")


@dataclass
class LensResult:
    """One lens computation: ``name`` says which lens, ``params`` how it was asked for (grid size,
    seed, checkpoint step...), ``summary`` its headline numbers, ``arrays`` its data by name."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    created: float = math.nan
    id: int | None = None


def store_lens_result(path: str | os.PathLike, result: LensResult) -> int:
    """Add ``result`` to the run file at ``path``; returns its row id. Safe while the run's writer
    is writing (one short SQLite transaction); nothing else in the file changes."""
    path = Path(path)
    if not result.name or not set(result.name) <= _NAME_CHARS:
        raise ValueError(f"a lens name is lower-case letters, digits and '_', not {result.name!r}")
    try:
        params = json.dumps(dict(result.params), sort_keys=True, default=json_default)
        summary = json.dumps(dict(result.summary), sort_keys=True, default=json_default)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the {result.name} lens's parameters or summary cannot be stored as JSON: {exc}") from None
    blob = encode_arrays(result.arrays)
    if not path.is_file():
        raise ResvizError(f"run file {path} does not exist")
    created = _time.time()
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, isolation_level=None, timeout=30.0)
    except sqlite3.Error as exc:
        raise ResvizError(f"run file {path} cannot be opened for writing: {exc}") from None
    try:
        with immediate_transaction(db):
            db.execute(LENS_TABLE_SQL)
            cursor = db.execute("INSERT INTO lens (name, created, params, summary, arrays) VALUES (?, ?, ?, ?, ?)",
                                (result.name, created, params, summary, blob))
        result.id, result.created = int(cursor.lastrowid), created
        return result.id
    except sqlite3.Error as exc:
        raise ResvizError(f"run file {path}: the {result.name} lens cannot be stored: "
                          f"{describe_write_failure(exc, path)}") from None
    finally:
        db.close()


def encode_arrays(arrays: Mapping[str, Any]) -> bytes:
    """Numeric arrays as ``.npz`` bytes; object arrays are refused (they would need pickle to read)."""
    checked = {}
    for key, value in arrays.items():
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise ValueError(f"lens array {key!r} holds {array.dtype}, not numbers")
        checked[str(key)] = array
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **checked)
    return buffer.getvalue()


def decode_arrays(blob: bytes, where: str) -> dict[str, np.ndarray]:
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise ResvizError(f"{where} is damaged: its arrays cannot be read ({exc})") from None


def decode_lens_row(row: tuple, where: str) -> LensResult:
    """A ``lens`` table row ``(id, name, created, params, summary, arrays)`` as a ``LensResult``."""
    lens_id, name, created, params, summary, blob = row
    if not isinstance(name, str) or not isinstance(blob, bytes):
        raise ResvizError(f"{where} is damaged: lens row {lens_id} has no name or no arrays")
    try:
        params_value, summary_value = json.loads(params), json.loads(summary)
    except (TypeError, ValueError) as exc:
        raise ResvizError(f"{where} is damaged: the {name} lens's parameters are not JSON ({exc})") from None
    if not isinstance(params_value, dict) or not isinstance(summary_value, dict):
        raise ResvizError(f"{where} is damaged: the {name} lens's parameters are not a mapping")
    return LensResult(name=name, params=params_value, summary=summary_value,
                      arrays=decode_arrays(blob, f"{where}, the {name} lens (row {lens_id})"),
                      created=float(created) if isinstance(created, (int, float)) else math.nan, id=int(lens_id))
