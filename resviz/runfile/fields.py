"""Checking what a run file holds before it is used: the type and range of every field and the
length of every blob, so a damaged file gives one ``ResvizError`` naming the file and the field."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ResvizError


class FieldChecks:
    """Checks of the values read from the run file at ``path`` (what ``RunReader`` reads with)."""

    path: Path

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

    def _decode_blobs(self, blobs: Sequence[Any], width: int, name: str, steps: Sequence[int]) -> np.ndarray:
        expected = 4 * width
        for step, blob in zip(steps, blobs):
            if not isinstance(blob, bytes) or len(blob) != expected:
                size = len(blob) if isinstance(blob, (bytes, str)) else type(blob).__name__
                raise ResvizError(f"run file {self.path} is damaged: step {step} has a {name} blob of {size} "
                                  f"bytes, expected {expected} ({width} float32 values)")
        array = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), width)
        return array.astype(np.float32)  # native byte order, writable

    def _decode_array(self, blob: Any, dtype: str, count: int, where: str, what: str) -> np.ndarray:
        expected = np.dtype(dtype).itemsize * count
        if not isinstance(blob, bytes) or len(blob) != expected:
            size = len(blob) if isinstance(blob, (bytes, str)) else type(blob).__name__
            raise ResvizError(f"run file {self.path} is damaged: {where} has a {what} blob of {size} bytes, "
                              f"expected {expected}")
        return np.frombuffer(blob, dtype=dtype).astype(np.dtype(dtype).newbyteorder("="))

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


def _expected(integer: bool, null: bool, low: float, high: float) -> str:
    words = "a whole number" if integer else "a number"
    if low > -math.inf and high < (1 << 53):
        words += f" from {low:g} to {high:g}"
    elif low > -math.inf:
        words += f" of at least {low:g}"
    return words + (" or nothing" if null else "")
