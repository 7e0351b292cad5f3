"""Presentation mode (F11): full screen, large fonts, a high-contrast theme and a caption line.

The caption says what the audience sees ("ResNet-20 vs Plain-20 · step 1,200"); it follows
the view until the lecturer types their own, which then stays.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QLineEdit, QWidget

MIN_CAPTION_POINTS = 12  # smaller than this, a projector's back row cannot read it


class CaptionBar(QLineEdit):
    """One editable line under the figures, shown in presentation mode."""

    edited_by_user = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("captionBar")
        self.setAlignment(Qt.AlignCenter)
        self.setFrame(False)
        self.setPlaceholderText("Type a caption for the audience (Esc clears it)")
        self.custom = False
        self._theme = None
        self._points = 0.0
        self.textEdited.connect(self._edited)
        self.textChanged.connect(lambda _text: self._fit())

    def _edited(self, text: str) -> None:
        self.custom = bool(text.strip())
        self.edited_by_user.emit(text)

    def show_automatic(self, text: str) -> None:
        """Show ``text`` unless the user typed a caption of their own."""
        if not self.custom and self.text() != text:
            self.setText(text)

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key_Escape:
            self.custom = False
            self.clear()
            self.clearFocus()
            return
        super().keyPressEvent(event)

    def style_for(self, theme) -> None:
        self._theme = theme
        self._points = 0.0
        self._fit()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        """The theme's title size, or smaller until the whole caption fits the line (never cut off)."""
        theme = self._theme
        if theme is None:
            return
        font = QFont(self.font())
        font.setBold(True)
        points = float(theme.title_size)
        room = self.width() - 24  # the padding on both sides, and the cursor
        while points > MIN_CAPTION_POINTS:
            font.setPointSizeF(points)
            if QFontMetrics(font).horizontalAdvance(self.text() or self.placeholderText()) <= room:
                break
            points -= 1.0
        if points != self._points:
            self._points = points
            self.setStyleSheet(f"QLineEdit#captionBar {{ background: {theme.background}; "
                               f"color: {theme.foreground}; font-size: {points:.0f}pt; font-weight: bold; "
                               "padding: 6px; }")
