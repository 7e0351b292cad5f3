"""The graph's colour bar: gradient norms on a log10 scale, high at the top, and the NaN / Inf colour."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize
from PySide6.QtGui import QColor, QFont, QLinearGradient, QPainter
from PySide6.QtWidgets import QWidget

from ..colours import NONFINITE_FILL, gradient_lut
from .graph_overlay import GraphOverlay
from .graph_scene import format_power, log_ticks


class ColourBar(GraphOverlay):
    """A vertical log10 colour bar for the gradient colours (high at the top)."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.levels: tuple[float, float] | None = None
        self._lut = gradient_lut(64)
        self.setMinimumSize(110, 180)

    def set_levels(self, levels: tuple[float, float] | None) -> None:
        self.levels = levels
        self.setVisible(levels is not None)
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(118, 220)

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if self.levels is None:
            return
        painter = QPainter(self)
        metrics = self.fontMetrics()
        top, bottom = 10 + metrics.height() * 2, self.height() - 12 - metrics.height()
        bar = QRectF(10, top, 16, max(10, bottom - top))
        gradient = QLinearGradient(bar.bottomLeft(), bar.topLeft())
        for i, (r, g, b) in enumerate(self._lut):
            gradient.setColorAt(i / (len(self._lut) - 1), QColor(int(r), int(g), int(b)))
        painter.fillRect(bar, gradient)
        painter.setPen(QColor("#52606D"))
        painter.drawRect(bar)
        bold = QFont(self.font())
        bold.setBold(True)
        painter.setFont(bold)
        painter.setPen(QColor("#1F2933"))
        painter.drawText(QPointF(8, 6 + metrics.ascent()), "gradient norm")
        painter.setFont(self.font())
        painter.drawText(QPointF(8, 6 + metrics.ascent() + metrics.height()), "(log scale)")
        for exponent, fraction in log_ticks(self.levels):
            y = bar.bottom() - fraction * bar.height()
            painter.drawLine(QPointF(bar.right(), y), QPointF(bar.right() + 4, y))
            painter.drawText(QPointF(bar.right() + 7, y + metrics.ascent() / 2 - 1), format_power(exponent))
        painter.setPen(QColor(NONFINITE_FILL))
        painter.fillRect(QRectF(10, self.height() - 8 - metrics.height() * 0.8, 16, metrics.height() * 0.7),
                         QColor(NONFINITE_FILL))
        painter.setPen(QColor("#1F2933"))
        painter.drawText(QPointF(33, self.height() - 8), "NaN / Inf")
        painter.end()

