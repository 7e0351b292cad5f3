"""Profiles against depth at the shown step: the classic vanishing-gradient picture.

Each figure draws one curve per compared run (plain and residual overlaid), log-scale y:
the parameter-gradient norm of every layer, the activation-gradient norm ‖∂L/∂h‖ at every
block output, and the update-to-weight ratio of every layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg

from ...views.run_data import RunData
from ..theme import LIGHT, Theme
from .base import Figure, FigureFrame, pen


@dataclass
class _ProfileItems:
    curve: pg.PlotDataItem
    colour: str


def depth_ticks(names: list[str], most: int = 8) -> list[tuple[float, str]]:
    """Depth indices (1 = nearest the input) at round steps, the first and last always shown."""
    count = len(names)
    if count == 0:
        return []
    spacing = next(s for s in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 10**9) if count / s <= most)
    rows = sorted({1, count} | set(range(spacing, count, spacing)))
    if len(rows) > 2 and rows[-1] - rows[-2] < spacing / 2:
        rows.pop(-2)
    return [(row, str(row)) for row in rows]


class _ProfileFigure(Figure):
    """A log-y profile against depth index, one curve per run, at the frame's step."""

    x_label = "depth"
    y_label = ""
    reference: float | None = None  # a dashed horizontal guide, e.g. the 1e-3 update ratio rule of thumb

    def __init__(self, theme: Theme = LIGHT, parent=None) -> None:
        super().__init__(theme, parent)
        self.plot: pg.PlotItem = self.ci.addPlot(row=1, col=0)
        self.plot.setLogMode(x=False, y=True)
        self.plot.setRange(xRange=(1, 20), yRange=(-6, 0), padding=0.02)  # a sane empty frame before any run
        self.plot.enableAutoRange()  # ... which the first data replace
        self.plot.setLabel("bottom", self.x_label)
        self.plot.setLabel("left", self.y_label)
        self.guide = None
        if self.reference is not None:
            self.guide = pg.InfiniteLine(pos=np.log10(self.reference), angle=0, movable=False)
            self.plot.addItem(self.guide, ignoreBounds=True)
        self._items: dict[str, _ProfileItems] = {}
        self._ticks_for: tuple[str, ...] = ()
        self.apply_theme(theme)

    weights_only = True  # set from each frame: per-layer profiles may skip the norm layers

    def columns(self, run: RunData) -> np.ndarray:
        """Indices of the entries drawn (layers: the weight layers only, or all)."""
        return run.shown_layers(self.weights_only)

    def all_names(self, run: RunData) -> list[str]:  # pragma: no cover - overridden
        raise NotImplementedError

    def names(self, run: RunData) -> list[str]:
        names = self.all_names(run)
        return [names[i] for i in self.columns(run)]

    def matrix(self, run: RunData) -> np.ndarray:  # pragma: no cover - overridden
        raise NotImplementedError

    def values(self, run: RunData, row: int) -> np.ndarray:
        return self.matrix(run)[row][self.columns(run)]

    def _sync_runs(self, runs: list[RunData]) -> None:
        wanted = {str(run.path): run for run in runs}
        for key in [k for k in self._items if k not in wanted or self._items[k].colour != wanted[k].style.colour]:
            self.plot.removeItem(self._items.pop(key).curve)
        for key, run in wanted.items():
            if key not in self._items:
                colour = run.style.colour
                curve = self.plot.plot([], [], pen=pen(colour, self.theme.line_width), symbol="o",
                                       symbolSize=self.theme.marker_size * 0.7, symbolBrush=colour, symbolPen=None)
                self._items[key] = _ProfileItems(curve, colour)
        longest = max(runs, key=lambda r: len(self.names(r)), default=None)
        names = tuple(self.names(longest)) if longest is not None else ()
        if names != self._ticks_for:
            self.plot.getAxis("bottom").setTicks([depth_ticks(list(names)), []])
            self._ticks_for = names

    def draw(self, frame: FigureFrame) -> None:
        self.weights_only = frame.weights_only
        self._sync_runs(frame.runs)
        for run in frame.runs:
            items = self._items[str(run.path)]
            row = run.row_at(frame.step)
            if row is None or not self.names(run):
                items.curve.setData([], [])
                continue
            values = self.values(run, row).astype(np.float64)
            # log axes cannot show zero or non-finite values: leave gaps there.
            values[~np.isfinite(values) | (values <= 0)] = np.nan
            items.curve.setData(np.arange(1, len(values) + 1, dtype=np.float64), values, connect="finite")
        self.set_title(f"{self.title} · step {frame.step:,}" if frame.runs else self.title, frame.runs)

    def restyle(self, theme: Theme) -> None:
        for items in self._items.values():
            items.curve.setPen(pen(items.colour, theme.line_width))
            items.curve.setSymbolSize(theme.marker_size * 0.7)
        if self.guide is not None:
            self.guide.setPen(pen(theme.foreground, max(1.0, theme.line_width / 2), dashed=True))


class DepthProfileFigure(_ProfileFigure):
    """log ‖∇W‖ of every layer against its depth: in a deep plain net it falls towards the input."""

    title = "‖∇W‖ by depth"
    slug = "depth_profile"
    x_label = "layer (input → output)"
    y_label = "‖∇W‖"

    def all_names(self, run: RunData) -> list[str]:
        return run.layer_ids

    def matrix(self, run: RunData) -> np.ndarray:
        return run.grad_norm.data


class BlockGradientFigure(_ProfileFigure):
    """‖∂L/∂h‖ at every block output: the quantity the theory of residual networks talks about."""

    title = "‖∂L/∂h‖ by block"
    slug = "block_gradients"
    x_label = "block (input → output)"
    y_label = "‖∂L/∂h‖"

    def columns(self, run: RunData) -> np.ndarray:
        return np.arange(len(run.block_ids))

    def all_names(self, run: RunData) -> list[str]:
        return run.block_ids

    def matrix(self, run: RunData) -> np.ndarray:
        return run.act_grad_norm.data


class UpdateRatioFigure(_ProfileFigure):
    """‖ΔW‖/‖W‖ of every layer at a step; about 1e-3 is the usual healthy rate."""

    title = "Update / weight ‖ΔW‖/‖W‖"
    slug = "update_ratio"
    x_label = "layer (input → output)"
    y_label = "‖ΔW‖ / ‖W‖"
    reference = 1e-3

    def all_names(self, run: RunData) -> list[str]:
        return run.layer_ids

    def matrix(self, run: RunData) -> np.ndarray:
        return run.update_ratio.data
