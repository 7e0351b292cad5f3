"""Numbers and shapes as people read them, written once for the command line, the exports and
the window: parameter and FLOP counts ("272.5K"), tensor shapes without the batch ("16×32×32")
and shapes as Python writes them ("(1, 64, 32, 32)")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

MISSING = "–"  # shown where there is no value


def format_count(value: float | None) -> str:
    """A count with a unit: 272512 -> "272.5K", 1_234_567 -> "1.23M", 4.1e9 -> "4.10G"; None -> "–"."""
    if value is None:
        return MISSING
    for unit, size, digits in (("G", 1e9, 2), ("M", 1e6, 2), ("K", 1e3, 1)):
        if abs(value) >= size:
            return f"{value / size:.{digits}f}{unit}"
    return f"{int(value)}" if float(value).is_integer() else f"{value:g}"


def format_shape(shape: Any, max_outputs: int | None = None) -> str:
    """A tensor's shape without its batch: (1, 16, 32, 32) -> "16×32×32". A list or tuple of shapes
    (a module with several outputs) is joined with " | ", the first ``max_outputs`` of them and
    " | …" when there are more; None -> "–"."""
    if shape is None:
        return MISSING
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        shown = list(shape) if max_outputs is None else list(shape)[:max_outputs]
        more = " | …" if len(shown) < len(shape) else ""
        return " | ".join(format_shape(s) for s in shown) + more
    if isinstance(shape, (list, tuple)):
        dims = shape[1:] if len(shape) > 1 else shape
        return "×".join(str(d) for d in dims)
    return str(shape)


def format_full_shape(shape: Sequence[Any]) -> str:
    """A whole shape, batch included, as Python writes a tuple: (1, 64, 32, 32) -> "(1, 64, 32, 32)";
    a one-dimensional shape without the trailing comma; a symbolic dimension unquoted ("(N, 3, 32, 32)")."""
    return "(" + ", ".join(str(d) for d in shape) + ")"


__all__ = ["MISSING", "format_count", "format_full_shape", "format_shape"]
