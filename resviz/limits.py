"""Ranges of the numbers users give resviz, and the machine-relative ceilings on what they may make it allocate.

Each reader of an untrusted file keeps its own ceiling next to its code (and the README's
data-set section states them); this module holds what several packages share.
"""

from __future__ import annotations

import math
import operator
import os
from collections.abc import Sequence
from typing import Any

from .errors import ResvizError

MAX_SEED = 2**63 - 1  # torch, numpy and SQLite all take a non-negative 63-bit integer
MAX_INPUT_VALUES = 2**24  # values in one input sample, C x H x W (3x2048x2048 fits): 64 MB as float32


def check_int(value: Any, name: str, low: int, high: int) -> int:
    """``value`` when it is a whole number in ``low..high``; else a one-line ``ResvizError`` naming ``name``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ResvizError(f"{name}={value!r} must be a whole number between {low} and {high}")
    if not low <= value <= high:
        raise ResvizError(f"{name}={value} is out of range: it must lie between {low} and {high}")
    return value


def check_seed(value: Any, name: str = "seed") -> int:
    """A seed every generator resviz feeds accepts: a whole number in 0..2**63-1."""
    if isinstance(value, int) and not isinstance(value, bool) and not 0 <= value <= MAX_SEED:
        raise ResvizError(f"{name}={value} is out of range: seeds must lie between 0 and 2**63-1")
    return check_int(value, name, 0, MAX_SEED)


def check_input_shape(shape: Sequence[Any], name: str) -> tuple[int, ...]:
    """An input shape of positive sizes holding at most ``MAX_INPUT_VALUES`` values per sample."""
    try:
        dims = tuple(operator.index(d) for d in shape if not isinstance(d, bool))
    except TypeError:
        dims = ()
    if not dims or len(dims) != len(shape) or min(dims) < 1:
        raise ResvizError(f"{name}: input shape {tuple(shape)} must be positive whole sizes such as 3,32,32")
    if math.prod(dims) > MAX_INPUT_VALUES:
        raise ResvizError(f"{name}: input shape {'x'.join(map(str, dims))} holds {math.prod(dims):,} values per "
                          f"sample, more than the {MAX_INPUT_VALUES:,} resviz accepts")
    return dims


def physical_memory() -> int | None:
    """This machine's physical memory in bytes, or None where the system does not say."""
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return pages * page_size if pages > 0 and page_size > 0 else None


def format_bytes(count: int | float) -> str:
    """``1.3 GB``, ``640 MB``, ``12 kB``: decimal units, three significant digits at most."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{int(count)} bytes"
