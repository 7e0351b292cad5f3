"""The graph's legend: the model's skip kinds with their counts, in the colours the graph draws them."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QSize
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QWidget

from ..graph.types import MAIN_EDGE_COLOUR, SKIP_COLOURS, SKIP_KINDS
from ..views.architecture_details import skip_label
from .graph_overlay import GraphOverlay


def legend_rows(counts: dict[str, int]) -> list[tuple[str | None, str]]:
    """(colour, text) of each skip kind drawn, with its count, then the main path."""
    rows: list[tuple[str | None, str]] = [(SKIP_COLOURS[k], f"{skip_label(k)}  ×{n}")
                                          for k in SKIP_KINDS if (n := int(counts.get(k, 0)))]
    if not rows:
        rows.append((None, "none: a plain network"))
    rows.append((MAIN_EDGE_COLOUR, "main path"))
    return rows


class SkipLegend(GraphOverlay):
    """The skip kinds of the model with their counts, in the colours the graph draws them."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.counts: dict[str, int] = {}
        self.gradient = False

    def set_counts(self, counts: dict[str, int], gradient: bool = False) -> None:
        self.counts = {k: int(counts[k]) for k in SKIP_KINDS if counts.get(k)}
        self.gradient = gradient
        self.resize(self.sizeHint())
        self.update()

    def rows(self) -> list[tuple[str | None, str]]:
        return legend_rows(self.counts)

    def sizeHint(self) -> QSize:
        metrics = self.fontMetrics()
        texts = [text for _, text in self.rows()] + ["skip connections"]
        if self.gradient:
            texts.append("skips coloured by gradient")
        width = max(metrics.horizontalAdvance(t) for t in texts) + 64
        lines = len(self.rows()) + 1 + (1 if self.gradient else 0)
        return QSize(width, lines * (metrics.height() + 5) + 12)

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        metrics = self.fontMetrics()
        line = metrics.height() + 5
        baseline = metrics.ascent() / 2 - 1
        y = 6 + line / 2
        bold = QFont(self.font())
        bold.setBold(True)
        painter.setFont(bold)
        painter.setPen(QColor("#1F2933"))
        painter.drawText(QPointF(10, y + baseline), "skip connections")
        painter.setFont(self.font())
        for colour, text in self.rows():
            y += line
            if colour is not None:
                painter.setPen(QPen(QColor(colour), 3.0 if colour != MAIN_EDGE_COLOUR else 1.6))
                painter.drawLine(QPointF(12, y), QPointF(42, y))
                painter.setPen(QColor("#1F2933"))
                painter.drawText(QPointF(52, y + baseline), text)
            else:
                painter.setPen(QColor("#7B8794"))
                painter.drawText(QPointF(12, y + baseline), text)
        if self.gradient:
            y += line
            painter.setPen(QColor("#52606D"))
            painter.drawText(QPointF(10, y + baseline), "skips coloured by gradient")
        painter.end()

