"""How Python values become the run file's columns: float32 blobs, whole numbers in range,
NaN as NULL, JSON text."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .schema import MAX_STEP, MAX_TIMESTAMP


def vector_blob(values: Any, expected: int, what: str, step: int) -> bytes:
    array = np.asarray(values, dtype="<f4").reshape(-1)
    if array.size != expected:
        raise ValueError(f"step {step}: {what} has {array.size} values, the run has {expected}")
    return array.tobytes()


def to_float(value: Any) -> float:
    if value is None:
        return math.nan
    if hasattr(value, "item"):
        value = value.item()
    return float(value)


def checked_counter(value: Any, what: str) -> int:
    """A step or epoch number as the run file stores it (readers refuse anything else)."""
    number = int(value)
    if not 0 <= number <= MAX_STEP:
        raise ValueError(f"{what} must be a whole number from 0 to {MAX_STEP}, got {value!r}")
    return number


def checked_seconds(value: Any, where: str) -> float:
    seconds = float(value)
    if not 0.0 <= seconds <= MAX_TIMESTAMP:
        raise ValueError(f"{where}: time must be finite seconds of at least 0, got {value!r}")
    return seconds


def sql_float(value: float) -> float | None:
    # SQLite stores NaN as NULL; keep it explicit so reading gives NaN back.
    return None if math.isnan(value) else value


def json_list(values: Iterable[Any]) -> str:
    return json.dumps([str(v) for v in values])


def json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")
