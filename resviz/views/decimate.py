"""Max-pooling a growing (steps x layers) matrix down to screen width, incrementally.

A heatmap wider than the screen is decimated before it reaches the view. Max-pooling (not
striding, not averaging) keeps a one-step spike visible however long the run. Bins are a
power of two rows wide, so when the run outgrows the screen two neighbouring columns merge
into one (the max of maxima is the max) and nothing is recomputed from the raw rows; each
refresh costs only the rows that arrived since the last one.

Plain numpy: no Qt here, so it is tested and benchmarked on its own.
"""

from __future__ import annotations

import numpy as np


class MaxPyramid:
    """Column maxima of the rows of a growing matrix, at most ``max_columns`` columns.

    ``update(rows, n)`` takes the matrix holding all rows so far (only rows ``[done, n)`` are
    read); ``image(n)`` returns the pooled columns of the first ``n`` rows and the bin width.
    """

    def __init__(self, width: int, max_columns: int = 2048) -> None:
        if max_columns < 2:
            raise ValueError("max_columns must be at least 2")
        self.width = int(width)
        self.max_columns = int(max_columns)
        self.bin = 1
        self._columns = np.empty((max_columns + 1, self.width), np.float32)
        self._count = 0  # complete columns held
        self._done = 0  # raw rows folded into complete columns

    @property
    def rows_done(self) -> int:
        return self._done

    def reset(self) -> None:
        self.bin = 1
        self._count = 0
        self._done = 0

    def update(self, rows: np.ndarray, n: int) -> None:
        """Fold rows ``[rows_done, n)`` of ``rows`` into complete columns."""
        while True:
            complete = (n - self._done) // self.bin
            room = self.max_columns - self._count
            take = min(complete, room)
            if take > 0:
                chunk = rows[self._done:self._done + take * self.bin]
                pooled = chunk.reshape(take, self.bin, self.width).max(axis=1) if self.bin > 1 else chunk
                self._columns[self._count:self._count + take] = pooled
                self._count += take
                self._done += take * self.bin
            if complete <= room:
                return
            self._coarsen()

    def _coarsen(self) -> None:
        """Double the bin: merge column pairs; an odd last column goes back to the raw tail."""
        pairs = self._count // 2
        merged = np.maximum(self._columns[0:2 * pairs:2], self._columns[1:2 * pairs:2])
        self._columns[:pairs] = merged
        self._count = pairs
        self.bin *= 2
        self._done = pairs * self.bin

    def image(self, rows: np.ndarray, n: int) -> np.ndarray:
        """Pooled columns for the first ``n`` rows (``n`` up to the rows seen by ``update``).

        The last column may pool fewer rows than a full bin. The result is a new C-contiguous
        float32 array of shape (columns, width).
        """
        full = min(n // self.bin, self._count)
        start = full * self.bin
        tail = n - start
        out = np.empty((full + (1 if tail > 0 else 0), self.width), np.float32)
        out[:full] = self._columns[:full]
        if tail > 0:
            out[full] = rows[start:n].max(axis=0)
        return out


def max_pool_rows(rows: np.ndarray, max_columns: int) -> tuple[np.ndarray, int]:
    """One-shot max-pool of ``rows`` (n, width) to at most ``max_columns`` rows; returns (pooled, bin)."""
    pyramid = MaxPyramid(rows.shape[1], max_columns)
    pyramid.update(rows, len(rows))
    return pyramid.image(rows, len(rows)), pyramid.bin
