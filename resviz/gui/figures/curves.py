"""Training and validation loss and accuracy of every compared run, with non-finite steps marked."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor

from ..run_data import RunData
from ..theme import LIGHT, NONFINITE_COLOUR, Theme
from .base import Figure, Frame, pen, style_plot

EVAL_SPLITS = ("val", "valid", "validation", "test")
MAX_MARKERS = 400  # non-finite markers drawn per run; more are thinned evenly
# Samples per pixel drawn: the raw (noisy) loss keeps its peaks, one min/max pair per pixel; the
# smoothed curves are smooth, so one sample every three pixels looks the same at a sixth of the cost.
RAW_SAMPLES_PER_PIXEL = 1.0
SMOOTH_SAMPLES_PER_PIXEL = 0.34


def _downsample(item: pg.PlotDataItem, method: str, per_pixel: float) -> pg.PlotDataItem:
    item.setDownsampling(auto=True, method=method)
    item.setClipToView(True)
    item.opts["autoDownsampleFactor"] = per_pixel
    return item


def faint(colour: str, theme: Theme, amount: float = 0.65) -> str:
    """``colour`` mixed with the background: an opaque light tint (cheaper to draw than alpha)."""
    c, b = QColor(colour), QColor(theme.background)
    mix = [round((1 - amount) * getattr(c, ch)() + amount * getattr(b, ch)()) for ch in ("red", "green", "blue")]
    return QColor(*mix).name()


@dataclass
class _CurveItems:
    loss_raw: pg.PlotDataItem
    loss: pg.PlotDataItem
    val_loss: pg.PlotDataItem
    acc: pg.PlotDataItem
    val_acc: pg.PlotDataItem
    nonfinite: pg.ScatterPlotItem
    colour: str


def thin(values: np.ndarray, limit: int) -> np.ndarray:
    """At most ``limit`` evenly spaced entries of ``values``."""
    if len(values) <= limit:
        return values
    return values[np.linspace(0, len(values) - 1, limit).astype(np.int64)]


class LossAccuracyFigure(Figure):
    """Loss (top) and accuracy (bottom) against step; smoothed training curves, evaluations as points."""

    title = "Loss and accuracy"
    slug = "loss_accuracy"

    def __init__(self, theme: Theme = LIGHT, parent=None) -> None:
        super().__init__(theme, parent)
        self.loss_plot: pg.PlotItem = self.ci.addPlot(row=1, col=0)
        self.acc_plot: pg.PlotItem = self.ci.addPlot(row=2, col=0)
        for plot, label in ((self.loss_plot, "loss"), (self.acc_plot, "accuracy")):
            plot.setLabel("left", label)
            plot.setMenuEnabled(True)
        self.acc_plot.setLabel("bottom", "step")
        self.acc_plot.setXLink(self.loss_plot)
        self.acc_plot.setYRange(0.0, 1.0, padding=0.02)
        self.acc_plot.enableAutoRange(y=False)
        self.cursors = [pg.InfiniteLine(angle=90, movable=False) for _ in range(2)]
        for plot, cursor in zip((self.loss_plot, self.acc_plot), self.cursors):
            plot.addItem(cursor, ignoreBounds=True)
            cursor.setVisible(False)
        self._items: dict[str, _CurveItems] = {}
        self._fixed_x = False
        self.apply_theme(theme)

    def _make_items(self, run: RunData) -> _CurveItems:
        colour = run.style.colour
        items = _CurveItems(
            loss_raw=_downsample(self.loss_plot.plot([], [], pen=pen(faint(colour, self.theme), 1)), "peak",
                                 RAW_SAMPLES_PER_PIXEL),
            loss=_downsample(self.loss_plot.plot([], [], pen=pen(colour, self.theme.line_width)), "subsample",
                             SMOOTH_SAMPLES_PER_PIXEL),
            val_loss=self.loss_plot.plot([], [], pen=pen(colour, self.theme.line_width, dashed=True),
                                         symbol="o", symbolSize=self.theme.marker_size, symbolBrush=colour,
                                         symbolPen=None),
            acc=_downsample(self.acc_plot.plot([], [], pen=pen(colour, self.theme.line_width)), "subsample",
                            SMOOTH_SAMPLES_PER_PIXEL),
            val_acc=self.acc_plot.plot([], [], pen=pen(colour, self.theme.line_width, dashed=True), symbol="o",
                                       symbolSize=self.theme.marker_size, symbolBrush=colour, symbolPen=None),
            nonfinite=pg.ScatterPlotItem(symbol="x", size=self.theme.marker_size * 1.8,
                                         pen=pg.mkPen(NONFINITE_COLOUR, width=2), brush=None),
            colour=colour,
        )
        self.loss_plot.addItem(items.nonfinite)
        return items

    def _sync_runs(self, runs: list[RunData]) -> None:
        wanted = {str(run.path): run for run in runs}
        for key in [k for k in self._items if k not in wanted or self._items[k].colour != wanted[k].style.colour]:
            items = self._items.pop(key)
            for item in (items.loss_raw, items.loss, items.val_loss, items.nonfinite):
                self.loss_plot.removeItem(item)
            for item in (items.acc, items.val_acc):
                self.acc_plot.removeItem(item)
        for key, run in wanted.items():
            if key not in self._items:
                self._items[key] = self._make_items(run)

    def draw(self, frame: Frame) -> None:
        self._sync_runs(frame.runs)
        for run in frame.runs:
            items = self._items[str(run.path)]
            n = run.rows_until(frame.step)
            steps = run.step.values[:n]
            items.loss_raw.setData(steps, run.loss.values[:n])
            items.loss.setData(steps, run.loss_smooth.values[:n])
            items.acc.setData(steps, run.acc_smooth.values[:n])
            evals = [e for e in run.evals if e.split in EVAL_SPLITS and e.step <= frame.step]
            eval_steps = np.array([e.step for e in evals], np.float64)
            items.val_loss.setData(eval_steps, np.array([e.loss for e in evals], np.float64))
            items.val_acc.setData(eval_steps, np.array([e.acc for e in evals], np.float64))
            flagged = thin(np.flatnonzero(run.nonfinite.values[:n]), MAX_MARKERS)
            if len(flagged):
                items.nonfinite.setData(steps[flagged].astype(np.float64), run.loss_smooth.values[flagged])
            else:
                items.nonfinite.setData([], [])
        self.set_title(self.title, frame.runs)
        replaying = not frame.following
        for cursor in self.cursors:
            cursor.setVisible(replaying)
            cursor.setValue(frame.step)
        # While replaying, the x range is the whole run so the curves grow into a fixed frame.
        if replaying and not self._fixed_x and frame.last_step > frame.first_step:
            self.loss_plot.setXRange(frame.first_step, frame.last_step, padding=0.02)
            self._fixed_x = True
        elif not replaying and self._fixed_x:
            self.loss_plot.enableAutoRange(x=True)
            self._fixed_x = False

    def restyle(self, theme: Theme) -> None:
        for cursor in self.cursors:
            cursor.setPen(pen(theme.foreground, max(1.0, theme.line_width / 1.5), dashed=True))
        for items in self._items.values():
            colour = items.colour
            items.loss.setPen(pen(colour, theme.line_width))
            items.loss_raw.setPen(pen(faint(colour, theme), 1))
            items.acc.setPen(pen(colour, theme.line_width))
            for item in (items.val_loss, items.val_acc):
                item.setPen(pen(colour, theme.line_width, dashed=True))
                item.setSymbolSize(theme.marker_size)
            items.nonfinite.setSize(theme.marker_size * 1.8)
        style_plot(self.loss_plot, theme)
