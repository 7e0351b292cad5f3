"""The gradient-flow heatmap: layers by depth against steps, log10 gradient norm as colour.

One row per compared run, all on the same fixed colour levels (one colour bar; dragging it
locks the levels for every run), max-pooled to screen width so a one-step spike survives a
long run. Non-finite gradients are marked on top of the colour.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QFontMetricsF
from PySide6.QtWidgets import QSizePolicy

from ...views.run_data import LOG_NONFINITE, RunData
from ..theme import LIGHT, NONFINITE_COLOUR, Theme, colour_map, lookup_table
from .base import Figure, FigureFrame, pen, style_plot
from .curves import MAX_MARKERS, thin


def short_layer_name(layer_id: str) -> str:
    """``layer3.2.conv2`` stays; very long module paths keep their last three parts."""
    parts = layer_id.split(".")
    return layer_id if len(parts) <= 3 else "…" + ".".join(parts[-3:])


def layer_ticks(layer_ids: list[str], most: int = 12) -> list[tuple[float, str]]:
    """Tick positions (row centres) and labels for at most ``most`` layers, first and last included."""
    count = len(layer_ids)
    if count == 0:
        return []
    if count <= most:
        rows = list(range(count))
    else:
        rows = sorted(set(np.linspace(0, count - 1, most).round().astype(int).tolist()))
    return [(row + 0.5, f"{row + 1} {short_layer_name(layer_ids[row])}") for row in rows]


@dataclass
class _HeatItems:
    plot: pg.PlotItem
    image: pg.ImageItem
    markers: pg.ScatterPlotItem
    cursor: pg.InfiniteLine
    layers: int
    label: str
    colour: str
    shown: tuple = ()  # (weights_only, number of layers shown) the axis was set up for


class GradientFlowFigure(Figure):
    """Per-layer gradient norms over training, one heatmap per run, shared log colour levels."""

    title = "Gradient flow: log₁₀ ‖∇W‖ per layer"
    slug = "gradient_flow"
    title_span = 2

    def __init__(self, theme: Theme = LIGHT, parent=None,
                 on_levels_chosen: Callable[[float, float], None] | None = None) -> None:
        super().__init__(theme, parent)
        self.lut = lookup_table()
        self.colour_bar = pg.ColorBarItem(values=(-4.0, 0.0), colorMap=colour_map(), interactive=True, width=16,
                                          rounding=0.5, colorMapMenu=False)
        self.ci.addItem(self.colour_bar, row=1, col=1, rowspan=1)
        self._on_levels_chosen = on_levels_chosen
        self.colour_bar.sigLevelsChangeFinished.connect(self._levels_dragged)
        self._setting_levels = False
        self._levels = (-4.0, 0.0)
        self._items: dict[str, _HeatItems] = {}
        self._order: list[str] = []
        self._order_key: list[tuple[str, str]] = []
        self._fixed_x = False
        # Shown while there is no run: an empty frame with a word, so the figure keeps its shape.
        self.empty_plot = pg.PlotItem()
        self.empty_plot.hideAxis("left")
        self.empty_plot.hideAxis("bottom")
        self.empty_plot.setMouseEnabled(x=False, y=False)
        self.empty_plot.hideButtons()
        self.empty_text = pg.TextItem("no run yet", anchor=(0.5, 0.5))
        self.empty_plot.addItem(self.empty_text)
        self.empty_text.setPos(0.5, 0.5)
        self.empty_plot.setRange(QRectF(0, 0, 1, 1), padding=0)
        self.ci.addItem(self.empty_plot, row=1, col=0)
        self.apply_theme(theme)

    def _levels_dragged(self, bar: pg.ColorBarItem) -> None:
        if self._setting_levels or self._on_levels_chosen is None:
            return
        low, high = bar.levels()
        if high > low:
            self._on_levels_chosen(float(low), float(high))

    def _make_items(self, run: RunData, row: int) -> _HeatItems:
        plot = pg.PlotItem()
        self.ci.addItem(plot, row=row, col=0)
        plot.invertY(True)
        plot.setMenuEnabled(False)
        image = pg.ImageItem(axisOrder="col-major")
        image.setLookupTable(self.lut)
        image.setAutoDownsample(False)
        plot.addItem(image)
        markers = pg.ScatterPlotItem(symbol="x", size=self.theme.marker_size * 1.5,
                                     pen=pg.mkPen(NONFINITE_COLOUR, width=2), brush=None)
        plot.addItem(markers)
        cursor = pg.InfiniteLine(angle=90, movable=False,
                                 pen=pen(self.theme.foreground, max(1.0, self.theme.line_width / 1.5), dashed=True))
        plot.addItem(cursor, ignoreBounds=True)
        cursor.setVisible(False)
        plot.getAxis("left").setWidth(int(self.theme.font_size * 14))
        style_plot(plot, self.theme)
        plot.showGrid(x=False, y=False)
        self._label_run(plot, run.style.label, run.style.colour)
        if self._items:
            plot.setXLink(next(iter(self._items.values())).plot)
        return _HeatItems(plot, image, markers, cursor, len(run.layer_ids), run.style.label, run.style.colour)

    def _show_layers(self, run: RunData, items: _HeatItems, shown: np.ndarray, weights_only: bool) -> None:
        """Axis ticks and range for the layers shown (all, or the weight layers only).

        As many layer names as fit the plot's height at the theme's font size, at most eight.
        """
        height = items.plot.getViewBox().height()
        line = QFontMetricsF(self.theme.font()).height() * 1.6
        most = int(min(8, max(2, height // line))) if height > 0 else 8
        key = (weights_only, len(shown), most)
        if items.shown == key:
            return
        items.shown = key
        names = [run.layer_ids[i] for i in shown]
        items.plot.getAxis("left").setTicks([layer_ticks(names, most), []])
        rows = max(len(names), 1)
        items.plot.getViewBox().setLimits(yMin=0, yMax=rows)
        items.plot.setYRange(0, rows, padding=0)

    def _label_run(self, plot: pg.PlotItem, label: str, colour: str) -> None:
        """The run's name above its heatmap, in its colour (a rotated axis label would not fit a short plot)."""
        plot.setTitle(f"<b>{label}</b>", color=colour, size=f"{self.theme.font_size}pt")
        plot.titleLabel.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)

    def _sync_runs(self, runs: list[RunData]) -> None:
        order = [(str(run.path), run.style.colour) for run in runs]
        if order == self._order_key:
            return
        for items in self._items.values():
            self.ci.removeItem(items.plot)
        if self.empty_plot.scene() is not None:
            self.ci.removeItem(self.empty_plot)
        self._items.clear()
        self._order = []
        self.ci.removeItem(self.colour_bar)
        self.ci.addItem(self.colour_bar, row=1, col=1, rowspan=max(1, len(runs)))
        for row, run in enumerate(runs, start=1):
            self._items[str(run.path)] = self._make_items(run, row)
            self._order.append(str(run.path))
        if not runs:
            self.ci.addItem(self.empty_plot, row=1, col=0)
        self._order_key = order
        if runs:
            last = self._items[self._order[-1]].plot
            last.setLabel("bottom", "step")
            style_plot(last, self.theme)
            last.showGrid(x=False, y=False)
            self._label_run(last, runs[-1].style.label, runs[-1].style.colour)
        self._fixed_x = False
        self.relayout()

    def draw(self, frame: FigureFrame) -> None:
        self._sync_runs(frame.runs)
        if frame.levels != self._levels:
            self._levels = frame.levels
            self._setting_levels = True
            try:
                self.colour_bar.setLevels(frame.levels)
            finally:
                self._setting_levels = False
        replaying = not frame.following
        for run in frame.runs:
            items = self._items[str(run.path)]
            n = run.rows_until(frame.step)
            items.cursor.setVisible(replaying)
            items.cursor.setValue(frame.step)
            if n == 0 or items.layers == 0:
                items.image.clear()
                items.markers.setData([], [])
                continue
            shown = run.shown_layers(frame.weights_only)
            self._show_layers(run, items, shown, frame.weights_only)
            pooled = run.heat.image(run.grad_log.data, n)
            if len(shown) < pooled.shape[1]:
                pooled = np.ascontiguousarray(pooled[:, shown])
            items.image.setImage(pooled, autoLevels=False, levels=frame.levels)
            stride = run.step_stride()
            x0 = float(run.step.data[0]) - 0.5 * stride
            items.image.setRect(QRectF(x0, 0.0, len(pooled) * run.heat.bin * stride, float(len(shown))))
            self._draw_markers(run, items, n, shown)
        first = self._items[self._order[0]].plot if self._order else None
        if first is not None:
            if replaying and not self._fixed_x and frame.last_step > frame.first_step:
                first.setXRange(frame.first_step, frame.last_step, padding=0.0)
                self._fixed_x = True
            elif not replaying:
                if self._fixed_x:
                    self._fixed_x = False
                first.enableAutoRange(x=True)

    def _draw_markers(self, run: RunData, items: _HeatItems, n: int, shown: np.ndarray) -> None:
        rows = thin(np.flatnonzero(run.nonfinite.data[:n]), MAX_MARKERS)
        if len(rows) == 0:
            items.markers.setData([], [])
            return
        bad = run.grad_log.data[rows][:, shown] >= LOG_NONFINITE
        # The first layer whose gradient was non-finite, else the top row (the loss itself was).
        layer = np.where(bad.any(axis=1), bad.argmax(axis=1), 0)
        items.markers.setData(run.step.data[rows].astype(np.float64), layer + 0.5)

    def restyle(self, theme: Theme) -> None:
        self.empty_text.setColor(theme.foreground)
        self.empty_text.setFont(theme.font())
        self.colour_bar.axis.setPen(pg.mkPen(theme.foreground))
        self.colour_bar.axis.setTextPen(pg.mkPen(theme.foreground))
        self.colour_bar.axis.setStyle(tickFont=theme.font())
        self.colour_bar.axis.setLabel("log₁₀ gradient norm", color=theme.foreground, **{"font-size": f"{theme.font_size}pt"})
        # Room for the tick numbers and the rotated label side by side at this font size.
        self.colour_bar.axis.setWidth(int(QFontMetricsF(theme.font()).horizontalAdvance("-10") + 2.2 * theme.font_size + 12))
        for items in self._items.values():
            items.cursor.setPen(pen(theme.foreground, max(1.0, theme.line_width / 1.5), dashed=True))
            items.markers.setSize(theme.marker_size * 1.5)
            items.plot.getAxis("left").setWidth(int(theme.font_size * 14))
            items.plot.showGrid(x=False, y=False)
            self._label_run(items.plot, items.label, items.colour)
