"""Training and validation loss and accuracy of every compared run, with non-finite steps marked."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor, QFontMetricsF

from ...views.run_data import RunData
from ..theme import LIGHT, NONFINITE_COLOUR, Theme
from .base import Figure, FigureFrame, pen, style_plot

EVAL_SPLITS = ("val", "valid", "validation", "test")
MAX_MARKERS = 400  # non-finite markers drawn per run; more are thinned evenly
# Samples per pixel drawn: the raw (noisy) loss keeps its peaks, one min/max pair per pixel; the
# smoothed curves are smooth, so one sample every three pixels looks the same at a sixth of the cost.
RAW_SAMPLES_PER_PIXEL = 1.0
SMOOTH_SAMPLES_PER_PIXEL = 0.34
# The loss axis spans the bulk of the shown losses, so one diverged evaluation (a test loss of 61
# beside losses near 1) cannot flatten every curve: values beyond the 1st-99th percentile band,
# widened by OUTLIER_FENCE band widths on each side, are drawn as marks at the edge instead.
OUTLIER_PERCENTILES = (1.0, 99.0)
OUTLIER_FENCE = 1.5
MIN_VALUES_FOR_FENCES = 20  # fewer values tell no bulk from outliers: all are shown
FENCE_SAMPLE = 8192  # percentiles of longer series are taken on an even sample of them (fast each frame)
LOSS_MARGIN = 0.05  # of the axis span, above and below the bulk


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
    clipped_high: pg.ScatterPlotItem  # losses above the axis, marked at its top edge
    clipped_low: pg.ScatterPlotItem
    colour: str


def outlier_fences(series: list[np.ndarray]) -> tuple[float, float]:
    """(low, high) outside which a loss is an outlier: the 1st-99th percentile band of the finite
    values of ``series`` widened by ``OUTLIER_FENCE`` band widths; (-inf, inf) when there are too
    few to tell. Long series are sampled evenly (the band needs no exact percentiles)."""
    total = sum(len(values) for values in series)
    stride = max(1, math.ceil(total / FENCE_SAMPLE))
    sample = np.concatenate([np.asarray(values, np.float64)[::stride] for values in series]) if series else np.zeros(0)
    sample = sample[np.isfinite(sample)]
    if sample.size < MIN_VALUES_FOR_FENCES:
        return -math.inf, math.inf
    low, high = (float(q) for q in np.percentile(sample, OUTLIER_PERCENTILES))
    # A flat bulk (a loss stuck at ln K) still has a band: a tenth of its size.
    band = max(high - low, 0.1 * max(abs(low), abs(high)), 1e-12)
    return low - OUTLIER_FENCE * band, high + OUTLIER_FENCE * band


def extremes(values: np.ndarray) -> tuple[float, float]:
    """(min, max) of the finite values; (inf, -inf) when there are none."""
    values = np.asarray(values, np.float64)
    finite_at = np.isfinite(values)
    finite = values if finite_at.all() else values[finite_at]
    return (float(finite.min()), float(finite.max())) if finite.size else (math.inf, -math.inf)


def span_inside(series: list[np.ndarray], fence_low: float, fence_high: float) -> tuple[float, float] | None:
    """(min, max) of the finite values of ``series`` inside the fences; None when there are none.

    This runs on every frame of a live run: a series with nothing beyond the fences (the usual
    case) costs one min and one max.
    """
    low, high = math.inf, -math.inf
    for values in series:
        values = np.asarray(values, np.float64)
        least, most = extremes(values)
        if least < fence_low or most > fence_high:
            inside = (values >= fence_low) & (values <= fence_high)  # false for NaN
            least = float(np.fmin.reduce(values, where=inside, initial=math.inf))
            most = float(np.fmax.reduce(values, where=inside, initial=-math.inf))
        low, high = min(low, least), max(high, most)
    return (low, high) if low <= high else None


def outlier_text(above: list[float], below: list[float]) -> str:
    """ "▲ 1 point above (61.2)", "▲ 3 points above (max 1.2e+03)": what the edges of the axis hide."""
    parts = []
    for values, where, pick, name, arrow in ((above, "above", max, "max", "▲"), (below, "below", min, "min", "▼")):
        if values:
            extreme = f"{pick(values):.3g}"
            count = len(values)
            parts.append(f"{arrow} {count} point{'s' if count > 1 else ''} {where} "
                         f"({extreme if count == 1 else f'{name} {extreme}'})")
    return " · ".join(parts)


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
        self.acc_plot.vb.sigResized.connect(self._space_accuracy_ticks)
        self.cursors = [pg.InfiniteLine(angle=90, movable=False) for _ in range(2)]
        for plot, cursor in zip((self.loss_plot, self.acc_plot), self.cursors):
            plot.addItem(cursor, ignoreBounds=True)
            cursor.setVisible(False)
        self._items: dict[str, _CurveItems] = {}
        self._fixed_x = False
        # The loss axis follows the bulk of the data until the user zooms or pans it; the plot's
        # "A" button hands it back.
        self.robust_y = True
        self.loss_range: tuple[float, float] | None = None  # the y range last set, without margins
        self.loss_plot.enableAutoRange(y=False)
        self.loss_plot.vb.sigRangeChangedManually.connect(self._loss_zoomed)
        self.loss_plot.autoBtn.clicked.connect(self._loss_auto)
        self.outlier_note = pg.TextItem("", anchor=(1, 0))
        self.outlier_note.setParentItem(self.loss_plot.vb)  # pinned to the plot's corner, not to data
        self.outlier_note.setZValue(20)
        self.loss_plot.vb.sigResized.connect(self._place_outlier_note)
        self.apply_theme(theme)

    def _space_accuracy_ticks(self, *_args) -> None:
        """Fewer accuracy ticks when the plot is short (a small screen, large fonts), so that
        their labels never write over each other."""
        height = self.acc_plot.vb.height()
        line = QFontMetricsF(self.theme.font()).height() * 1.2
        step = 0.2 if height >= 5 * line else 0.5  # 0.5: the middle label shows even when very short
        self.acc_plot.getAxis("left").setTickSpacing(step, step / 2)
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
            clipped_high=self._clip_marks("t1", colour),
            clipped_low=self._clip_marks("t", colour),
            colour=colour,
        )
        for item in (items.nonfinite, items.clipped_high, items.clipped_low):
            self.loss_plot.addItem(item, ignoreBounds=True)
        return items

    def _clip_marks(self, symbol: str, colour: str) -> pg.ScatterPlotItem:
        """Triangles at an edge of the loss axis, one per loss beyond it, pointing the way it lies."""
        return pg.ScatterPlotItem(symbol=symbol, size=self.theme.marker_size * 1.8, brush=pg.mkBrush(colour),
                                  pen=pg.mkPen(self.theme.foreground, width=1))

    def _sync_runs(self, runs: list[RunData]) -> None:
        wanted = {str(run.path): run for run in runs}
        for key in [k for k in self._items if k not in wanted or self._items[k].colour != wanted[k].style.colour]:
            items = self._items.pop(key)
            for item in (items.loss_raw, items.loss, items.val_loss, items.nonfinite, items.clipped_high,
                         items.clipped_low):
                self.loss_plot.removeItem(item)
            for item in (items.acc, items.val_acc):
                self.acc_plot.removeItem(item)
        for key, run in wanted.items():
            if key not in self._items:
                self._items[key] = self._make_items(run)

    def _loss_zoomed(self, *_args) -> None:
        self.robust_y = False

    def _loss_auto(self, *_args) -> None:
        self.robust_y = True
        self.invalidate()

    def _place_outlier_note(self, *_args) -> None:
        self.outlier_note.setPos(self.loss_plot.vb.width() - 4, 2)

    def draw(self, frame: FigureFrame) -> None:
        self._sync_runs(frame.runs)
        for run in frame.runs:
            items = self._items[str(run.path)]
            n = run.rows_until(frame.step)
            steps = run.step.values[:n]
            items.loss_raw.setData(steps, run.loss.values[:n])
            items.loss.setData(steps, run.loss_smooth.values[:n])
            items.acc.setData(steps, run.acc_smooth.values[:n])
            evals = [e for e in run.evals_until(frame.step) if e.split in EVAL_SPLITS]
            eval_steps = np.array([e.step for e in evals], np.float64)
            items.val_loss.setData(eval_steps, np.array([e.loss for e in evals], np.float64))
            items.val_acc.setData(eval_steps, np.array([e.acc for e in evals], np.float64))
            flagged = thin(np.flatnonzero(run.nonfinite.values[:n]), MAX_MARKERS)
            if len(flagged):
                items.nonfinite.setData(steps[flagged].astype(np.float64), run.loss_smooth.values[flagged])
            else:
                items.nonfinite.setData([], [])
        self._fit_loss_axis(frame)
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

    def _fit_loss_axis(self, frame: FigureFrame) -> None:
        """Span the bulk of the shown losses (training steps and evaluations); mark what lies beyond."""
        shown = []  # per run: its items, (steps, losses) of the training steps and the evaluations, smoothed losses
        for run in frame.runs:
            items = self._items[str(run.path)]
            shown.append((items, (items.loss_raw.xData, items.loss_raw.yData),
                          (items.val_loss.xData, items.val_loss.yData), items.loss.yData))
        if not self.robust_y:
            for items, *_ in shown:
                items.clipped_high.setData([], [])
                items.clipped_low.setData([], [])
            self.outlier_note.setText("")
            return
        marked = [(xs, ys) for _, raw, evals, _ in shown for xs, ys in (raw, evals) if ys is not None and len(ys)]
        fence_low, fence_high = outlier_fences([ys for _, ys in marked])
        # The smoothed curve is an average of the steps' losses: inside their span unless they reach beyond.
        span = span_inside([ys for _, ys in marked], fence_low, fence_high)
        if span is None:
            self.loss_range = None
            self.outlier_note.setText("")
            return
        low, high = span
        if high - low < 1e-12:
            low, high = low - 0.5 * max(abs(low), 1.0), high + 0.5 * max(abs(high), 1.0)
        margin = LOSS_MARGIN * (high - low)
        self.loss_range = (low, high)
        self.loss_plot.setYRange(low - margin, high + margin, padding=0)
        top, bottom = high + 0.6 * margin, low - 0.6 * margin  # where the marks of clipped values sit
        above, below = [], []
        for items, raw, evals, smooth_ys in shown:
            marks_high, marks_low = [], []
            for item, (xs, ys) in ((items.loss_raw, raw), (items.val_loss, evals), (items.loss, (raw[0], smooth_ys))):
                if ys is None or not len(ys):
                    continue
                if item is items.loss and not marks_high and not marks_low:
                    continue  # the steps' losses stay inside the fences, so does their average
                least, most = extremes(ys)
                if fence_low <= least and most <= fence_high:
                    continue
                high_at = np.flatnonzero(ys > fence_high)
                low_at = np.flatnonzero(ys < fence_low)
                # The line runs to the edge, into the value's mark, instead of shooting off the plot
                # as a near-vertical stroke.
                item.setData(xs, np.clip(ys, bottom, top))
                if item is items.loss:
                    continue  # the smoothed curve follows the steps' losses: those are marked
                above += ys[high_at].tolist()
                below += ys[low_at].tolist()
                marks_high.append(np.asarray(xs, np.float64)[high_at])
                marks_low.append(np.asarray(xs, np.float64)[low_at])
            for marks, edge, points in ((items.clipped_high, top, marks_high), (items.clipped_low, bottom, marks_low)):
                x = thin(np.concatenate(points), MAX_MARKERS) if points else np.zeros(0)
                marks.setData(x, np.full(len(x), edge))
        note = outlier_text(above, below)
        if note != self.outlier_note.toPlainText():
            self.outlier_note.setText(note, color=self.theme.foreground)
            self._place_outlier_note()

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
            for marks in (items.clipped_high, items.clipped_low):
                marks.setSize(theme.marker_size * 1.8)
                marks.setPen(pg.mkPen(theme.foreground, width=1))
        self.outlier_note.setFont(theme.font())
        backdrop = QColor(theme.background)
        backdrop.setAlpha(210)  # the note stays readable over the curves it covers
        self.outlier_note.fill = pg.mkBrush(backdrop)
        self.outlier_note.setText(self.outlier_note.toPlainText(), color=theme.foreground)
        style_plot(self.loss_plot, theme)
