"""The confusion matrix of the latest evaluation, with per-class precision and recall.

One matrix per compared run (at most two side by side, the twins). Cells are coloured by the
row-normalised rate (so each row shows where a true class went) and labelled with counts; the
recall of each class stands at the row's end, its precision under its column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF
from PySide6.QtWidgets import QSizePolicy

from ...views.run_data import RunData
from ..theme import LIGHT, Theme
from .base import Figure, FigureFrame, style_plot

MAX_RUNS = 2
MAX_LABELLED_CLASSES = 15  # above this, cells carry no numbers (100 CIFAR classes would be noise)
NARROW_WIDTH = 600  # below this (pixels), the second matrix drops its class names: the first one's say them


def confusion_lookup_table(theme: Theme) -> np.ndarray:
    """White (or black) to a strong blue: counts read as ink on paper."""
    start = np.array([0, 0, 0] if theme.dark else [255, 255, 255], np.float64)
    end = np.array([86, 180, 233] if theme.dark else [0, 90, 160], np.float64)
    ramp = np.linspace(0.0, 1.0, 256)[:, None]
    return np.ascontiguousarray((start + (end - start) * ramp).round().astype(np.uint8))


def precision_recall(confusion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class precision (column-wise) and recall (row-wise); NaN where a class never occurs."""
    confusion = np.asarray(confusion, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.diag(confusion) / confusion.sum(axis=0)
        recall = np.diag(confusion) / confusion.sum(axis=1)
    return precision, recall


def percent(value: float) -> str:
    return "–" if not np.isfinite(value) else f"{100 * value:.0f}%"


class CellLabels(pg.GraphicsObject):
    """Many short texts at data positions, drawn by one item at a fixed pixel size.

    A matrix of K x K counts as separate text items would be K² objects to create and paint;
    this draws them all in one pass, in device coordinates so zooming never scales the font.
    """

    def __init__(self) -> None:
        super().__init__()
        self.labels: list[tuple[float, float, str, str, tuple[float, float]]] = []
        self.font = QFont()
        self._bounds = QRectF()

    def set_labels(self, labels: list[tuple[float, float, str, str, tuple[float, float]]], font: QFont) -> None:
        """``labels``: (x, y, text, colour, (anchor x, anchor y)) with anchors in 0..1 of the text box."""
        self.prepareGeometryChange()
        self.labels = labels
        self.font = font
        if labels:
            xs = [label[0] for label in labels]
            ys = [label[1] for label in labels]
            self._bounds = QRectF(min(xs) - 2, min(ys) - 2, max(xs) - min(xs) + 4, max(ys) - min(ys) + 4)
        else:
            self._bounds = QRectF()
        self.update()

    def texts(self) -> list[str]:
        return [label[2] for label in self.labels]

    def boundingRect(self) -> QRectF:
        return self._bounds

    def paint(self, painter, *args) -> None:
        transform = painter.transform()
        painter.save()
        painter.resetTransform()
        painter.setFont(self.font)
        metrics = QFontMetricsF(self.font)
        for x, y, text, colour, (ax, ay) in self.labels:
            point = transform.map(QPointF(x, y))
            width, height = metrics.horizontalAdvance(text), metrics.height()
            painter.setPen(QColor(colour))
            painter.drawText(QRectF(point.x() - ax * width, point.y() - ay * height, width + 1, height),
                             Qt.AlignCenter, text)
        painter.restore()


@dataclass
class _MatrixItems:
    plot: pg.PlotItem
    image: pg.ImageItem
    labels: CellLabels
    key: tuple | None = None  # the evaluation drawn
    classes_shown: tuple = ()


class ConfusionFigure(Figure):
    title = "Confusion matrix, latest evaluation"
    slug = "confusion"
    title_span = 2

    def __init__(self, theme: Theme = LIGHT, parent=None) -> None:
        super().__init__(theme, parent)
        self._matrices: list[_MatrixItems] = []
        for col in range(MAX_RUNS):
            plot = self.ci.addPlot(row=1, col=col)
            plot.invertY(True)
            plot.setAspectLocked(True)
            plot.setMenuEnabled(False)
            plot.hideButtons()
            plot.setMouseEnabled(x=False, y=False)
            plot.titleLabel.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
            image = pg.ImageItem(axisOrder="row-major")
            plot.addItem(image)
            labels = CellLabels()
            plot.addItem(labels)
            self._matrices.append(_MatrixItems(plot, image, labels))
        self._narrow = False
        self.message = pg.TextItem("", anchor=(0.5, 0.5))
        self._matrices[0].plot.addItem(self.message)
        self.apply_theme(theme)

    def draw(self, frame: FigureFrame) -> None:
        shown = 0
        for run in frame.runs[:MAX_RUNS]:
            record = run.eval_at(frame.step, None)
            record = _prefer_validation(run, frame.step) or record
            if record is None or np.asarray(record.confusion).size == 0:
                continue
            items = self._matrices[shown]
            # New steps arrive many times per evaluation: redraw only when the evaluation shown changes.
            key = (str(run.path), run.style.colour, run.style.label, record.step, record.split, self.theme.name)
            if key != items.key:
                self._draw_matrix(items, run, record)
                items.key = key
            items.plot.setVisible(True)
            shown += 1
        for items in self._matrices[shown:]:
            items.plot.setVisible(False)
            items.key = None
        self.message.setVisible(shown == 0)
        if shown == 0:
            self._matrices[0].plot.setVisible(True)
            self._matrices[0].image.clear()
            self._matrices[0].labels.set_labels([], self.theme.font(0.9))
            self._matrices[0].plot.setTitle("")
            for name in ("left", "bottom"):
                self._matrices[0].plot.getAxis(name).setTicks([[], []])
                self._matrices[0].plot.setLabel(name, "")
            self._matrices[0].classes_shown = ()
            self.message.setHtml(f"<div style='text-align:center; color:{self.theme.foreground}'>no evaluation yet"
                                 f"<br/><small>one is recorded at the end of each epoch</small></div>")
            self.message.setTextWidth(max(60.0, self._matrices[0].plot.vb.width() - 8))  # wraps, never cut
            self.message.setPos(0.5, 0.5)
            self._matrices[0].plot.setRange(QRectF(0, 0, 1, 1))

    def _draw_matrix(self, items: _MatrixItems, run: RunData, record) -> None:
        confusion = np.asarray(record.confusion, np.int64)
        k = confusion.shape[0]
        items.plot.setVisible(True)
        totals = confusion.sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            rates = np.where(totals > 0, confusion / np.maximum(totals, 1), 0.0).astype(np.float32)
        items.image.setImage(np.ascontiguousarray(rates), autoLevels=False, levels=(0.0, 1.0))
        items.image.setRect(QRectF(0, 0, k, k))
        precision, recall = precision_recall(confusion)
        classes = list(run.info.classes) if len(run.info.classes) == k else [str(i) for i in range(k)]
        self._set_axes(items, k, classes)
        if items is self._matrices[1]:
            items.plot.showAxis("left", not self._narrow)  # after the axis label, which shows the axis
        labels = []
        labelled = k <= MAX_LABELLED_CLASSES and self._cells_fit_numbers(items, k)
        if labelled:
            fg = self.theme.foreground
            for i in range(k):
                for j in range(k):
                    labels.append((j + 0.5, i + 0.5, str(confusion[i, j]), self._ink(rates[i, j]), (0.5, 0.5)))
                labels.append((k + 0.1, i + 0.5, percent(recall[i]), fg, (0.0, 0.5)))
                labels.append((i + 0.5, k + 0.05, percent(precision[i]), fg, (0.5, 0.0)))
            labels.append((k + 0.1, -0.05, "recall", fg, (0.0, 1.0)))
            labels.append((-0.1, k + 0.05, "precision", fg, (1.0, 0.0)))
        items.labels.set_labels(labels, self.theme.font(0.9))
        title = (f"<b>{run.style.label}</b><br/>{record.split} accuracy {100 * record.acc:.1f}% "
                 f"· step {record.step:,}")
        if self._narrow:  # the short form, so two titles fit side by side
            title = f"<b>{run.style.label}</b><br/>{record.split} {100 * record.acc:.1f}%"
        items.plot.setTitle(title, color=run.style.colour, size=f"{self.theme.font_size}pt")
        items.plot.titleLabel.setMinimumWidth(0)  # a title never widens the figure past its place
        if labelled:  # room for the recall column, the precision row and their headers
            items.plot.setRange(QRectF(-2.0, -0.6, k + 3.4, k + 1.4), padding=0)
        else:
            items.plot.setRange(QRectF(0, 0, k, k), padding=0)
        self.relayout()  # the axes and titles may need less room now: fit the layout to the view again

    def _cells_fit_numbers(self, items: _MatrixItems, k: int) -> bool:
        """Whether a cell is wide enough for "100%" (a small window shows colours without numbers,
        rather than numbers written over each other)."""
        width = items.plot.vb.width() or self.width() / MAX_RUNS
        cell = min(width, items.plot.vb.height() or width) / (k + 3.4)
        return cell >= QFontMetricsF(self.theme.font(0.9)).horizontalAdvance("100%") + 2

    def resizeEvent(self, event) -> None:
        matrices = getattr(self, "_matrices", [])  # Qt resizes the figure while it is being built
        narrow = self.width() < NARROW_WIDTH
        if matrices and narrow != self._narrow:
            self._narrow = narrow
            matrices[1].plot.showAxis("left", not narrow)
        for items in matrices:
            items.key = None  # the numbers are shown or left out for the new size
        super().resizeEvent(event)

    def _ink(self, rate: float) -> str:
        if self.theme.dark:
            return "#000000" if rate > 0.6 else "#FFFFFF"
        return "#FFFFFF" if rate > 0.5 else "#1F2933"

    def _set_axes(self, items: _MatrixItems, k: int, classes: list[str]) -> None:
        """Class names on the axes (restyled only when they or the theme change)."""
        if k > MAX_LABELLED_CLASSES or (tuple(classes), self.theme.name) == items.classes_shown:
            return
        items.classes_shown = (tuple(classes), self.theme.name)
        items.plot.getAxis("left").setTicks([[(i + 0.5, f"{name}  {i}") for i, name in enumerate(classes)], []])
        items.plot.getAxis("bottom").setTicks([[(i + 0.5, str(i)) for i in range(len(classes))], []])
        items.plot.setLabel("left", "true class")
        items.plot.setLabel("bottom", "predicted class")
        style_plot(items.plot, self.theme)
        items.plot.showGrid(x=False, y=False)

    def restyle(self, theme: Theme) -> None:
        lut = confusion_lookup_table(theme)
        for items in self._matrices:
            items.key = None
            items.image.setLookupTable(lut)
            items.plot.showGrid(x=False, y=False)
        self.message.setFont(theme.font())


def _prefer_validation(run: RunData, step: int):
    """The latest held-out evaluation at or before ``step``; training-split ones only as a fallback."""
    for split in ("val", "validation", "valid", "test"):
        record = run.eval_at(step, split)
        if record is not None:
            return record
    return None
