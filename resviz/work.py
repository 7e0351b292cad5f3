"""What long work (attribution, the lenses) takes from its caller: a progress callback and a
cancel event. A ``threading.Event`` is a cancel event; so is anything with ``is_set()``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class CancelEvent(Protocol):
    def is_set(self) -> bool: ...


# Called with the fraction done, from 0 to 1.
ProgressCallback = Callable[[float], None]
