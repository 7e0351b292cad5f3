"""The base of the panels drawn over the graph (legend, colour bar): fixed to the viewport,
transparent to the mouse."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QWidget


class GraphOverlay(QFrame):
    """A small panel drawn over the graph (legend, colour bar), fixed to the viewport."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setStyleSheet("QFrame { background: rgba(255,255,255,230); border: 1px solid #CBD2D9;"
                           " border-radius: 6px; }")
