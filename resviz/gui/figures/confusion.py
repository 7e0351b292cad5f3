"""The confusion matrix of the latest evaluation, with per-class precision and recall.

One matrix per compared run (at most two side by side, the twins). Cells are coloured by the
row-normalised rate (so each row shows where a true class went) and labelled with counts; the
recall of each class stands at the row's end, its precision under its column.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF

from ..run_data import RunData
from ..theme import LIGHT, Theme
from .base import Figure, Frame, style_plot

MAX_RUNS = 2
MAX_LABELLED_CLASSES = 15  # above this, cells carry no numbers (100 CIFAR classes would be noise)


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


@dataclass
class _MatrixItems:
    plot: pg.PlotItem
    image: pg.ImageItem
    classes: int = 0
    cells: list[pg.TextItem] = field(default_factory=list)
    recall: list[pg.TextItem] = field(default_factory=list)
    precision: list[pg.TextItem] = field(default_factory=list)
    headers: list[pg.TextItem] = field(default_factory=list)


class ConfusionFigure(Figure):
    title = "Confusion matrix (latest evaluation)"
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
            image = pg.ImageItem(axisOrder="row-major")
            plot.addItem(image)
            self._matrices.append(_MatrixItems(plot, image))
        self.message = pg.TextItem("", anchor=(0.5, 0.5))
        self._matrices[0].plot.addItem(self.message)
        self.apply_theme(theme)

    def draw(self, frame: Frame) -> None:
        shown = 0
        for run in frame.runs[:MAX_RUNS]:
            record = run.eval_at(frame.step, None)
            record = _prefer_validation(run, frame.step) or record
            if record is None or np.asarray(record.confusion).size == 0:
                continue
            self._draw_matrix(self._matrices[shown], run, record)
            shown += 1
        for items in self._matrices[shown:]:
            items.plot.setVisible(False)
        self.message.setVisible(shown == 0)
        if shown == 0:
            self._matrices[0].plot.setVisible(True)
            self._matrices[0].image.clear()
            self._set_texts(self._matrices[0], 0, [])
            self._matrices[0].plot.setTitle("")
            self.message.setText("no evaluation yet: one is recorded at the end of each epoch",
                                 color=self.theme.foreground)
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
        self._set_texts(items, k, classes)
        if k <= MAX_LABELLED_CLASSES:
            for i in range(k):
                for j in range(k):
                    cell = items.cells[i * k + j]
                    cell.setText(str(confusion[i, j]))
                    cell.setColor(self._ink(rates[i, j]))
                items.recall[i].setText(percent(recall[i]))
                items.precision[i].setText(percent(precision[i]))
        title = f"{run.style.label}: {record.split} acc {100 * record.acc:.1f}% at step {record.step}"
        items.plot.setTitle(title, color=run.style.colour, size=f"{self.theme.font_size}pt")
        if k <= MAX_LABELLED_CLASSES:  # room for the recall column, the precision row and their headers
            items.plot.setRange(QRectF(-2.0, -0.6, k + 3.4, k + 1.4), padding=0)
        else:
            items.plot.setRange(QRectF(0, 0, k, k), padding=0)

    def _ink(self, rate: float) -> str:
        if self.theme.dark:
            return "#000000" if rate > 0.6 else "#FFFFFF"
        return "#FFFFFF" if rate > 0.5 else "#1F2933"

    def _set_texts(self, items: _MatrixItems, k: int, classes: list[str]) -> None:
        """Create the text items once per class count; labels change without new items."""
        labelled = k if k <= MAX_LABELLED_CLASSES else 0
        if items.classes != labelled:
            for text in items.cells + items.recall + items.precision + items.headers:
                items.plot.removeItem(text)
            items.cells, items.recall, items.precision, items.headers = [], [], [], []
            for i in range(labelled):
                for j in range(labelled):
                    items.cells.append(self._text(items.plot, j + 0.5, i + 0.5, (0.5, 0.5)))
                items.recall.append(self._text(items.plot, labelled + 0.1, i + 0.5, (0.0, 0.5)))
                items.precision.append(self._text(items.plot, i + 0.5, labelled + 0.05, (0.5, 0.0)))
            if labelled:
                items.headers.append(self._text(items.plot, labelled + 0.1, -0.05, (0.0, 1.0), "recall"))
                items.headers.append(self._text(items.plot, -0.1, labelled + 0.05, (1.0, 0.0), "precision"))
            items.classes = labelled
        if labelled:
            items.plot.getAxis("left").setTicks([[(i + 0.5, f"{name}  {i}") for i, name in enumerate(classes)], []])
            items.plot.getAxis("bottom").setTicks([[(i + 0.5, str(i)) for i in range(len(classes))], []])
            items.plot.setLabel("left", "true class")
            items.plot.setLabel("bottom", "predicted class")
            style_plot(items.plot, self.theme)
            items.plot.showGrid(x=False, y=False)

    def _text(self, plot: pg.PlotItem, x: float, y: float, anchor: tuple[float, float], text: str = "") -> pg.TextItem:
        item = pg.TextItem(text, anchor=anchor, color=self.theme.foreground)
        item.setFont(self.theme.font(0.9))
        item.setPos(x, y)
        plot.addItem(item)
        return item

    def restyle(self, theme: Theme) -> None:
        lut = confusion_lookup_table(theme)
        for items in self._matrices:
            items.image.setLookupTable(lut)
            items.plot.showGrid(x=False, y=False)
            for text in items.cells + items.recall + items.precision + items.headers:
                text.setFont(theme.font(0.9))
                text.setColor(theme.foreground)
        self.message.setFont(theme.font())


def _prefer_validation(run: RunData, step: int):
    """The latest held-out evaluation at or before ``step``; training-split ones only as a fallback."""
    for split in ("val", "validation", "valid", "test"):
        record = run.eval_at(step, split)
        if record is not None:
            return record
    return None
