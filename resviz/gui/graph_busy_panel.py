"""Progress and Cancel over the graph while a model is traced or laid out."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget


class BusyPanel(QFrame):
    """Progress and Cancel while the model is traced."""

    cancel_requested = Signal()

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setStyleSheet("QFrame#busy { background: rgba(255,255,255,240); border: 1px solid #9AA5B1;"
                           " border-radius: 8px; }")
        self.setObjectName("busy")
        layout = QVBoxLayout(self)
        self.label = QLabel("Tracing…")
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)
        self.bar.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_requested)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button, 0, Qt.AlignmentFlag.AlignRight)
        self.setFixedWidth(320)
        self.adjustSize()

    def start(self, text: str) -> None:
        """A new task: its text, and a busy bar until it reports progress."""
        self.label.setText(text)
        self.bar.setRange(0, 0)

    def progress(self, done: int, total: int, text: str = "") -> None:
        self.bar.setRange(0, total)
        self.bar.setValue(done)
        if text:
            self.label.setText(text)

