"""Progress and cancellation for a lens computed in a worker: the window passes a callback that
takes the fraction done and an event it sets to cancel; the lens checks it between forward passes."""

from __future__ import annotations

from ..errors import ResvizError
from ..work import CancelEvent, ProgressCallback


class LensCancelled(ResvizError):
    """The caller's cancel event was set; raised between two forward passes."""



class Progress:
    """Counts ``total`` units of work, reports the fraction done and raises ``LensCancelled``
    once the cancel event is set."""

    def __init__(self, total: int, what: str, progress: ProgressCallback | None = None,
                 cancel: CancelEvent | None = None) -> None:
        self.total, self.what, self.done = max(1, int(total)), what, 0
        self._progress, self._cancel = progress, cancel

    def check(self) -> None:
        if self._cancel is not None and self._cancel.is_set():
            raise LensCancelled(f"{self.what} cancelled")

    def advance(self, units: int = 1) -> None:
        self.done += units
        if self._progress is not None:
            self._progress(min(1.0, self.done / self.total))
        self.check()
