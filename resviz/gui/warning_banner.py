"""The banner across the Training page that says a run is in trouble (it collapsed or diverged).

The warnings are the run files' events of kind "warning", written by the trainer's health checks
("loss diverged at step 12 (2.3 -> 10.4); try a lower learning rate ..."). The banner shows those
the timeline has reached, live or in replay; its close button hides the ones on show until a new
one arrives.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QApplication, QFrame, QHBoxLayout, QLabel, QToolButton

from .theme import WARNING_BACKGROUND, WARNING_BORDER, WARNING_TEXT

MAX_LINES = 4  # warnings listed in the banner; the rest are counted (and listed in its tooltip)


@dataclass(frozen=True)
class RunWarning:
    """One warning event of one run, as the banner shows it."""

    run_label: str
    colour: str
    step: int
    message: str

    @property
    def key(self) -> tuple:
        return (self.run_label, self.step, self.message)


class WarningBanner(QFrame):
    """Warning-coloured, one line per warning, with a close button; hidden while there is none."""

    dismissed = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("warningBanner")
        self.setStyleSheet(f"QFrame#warningBanner {{ background: {WARNING_BACKGROUND}; "
                           f"border: 1px solid {WARNING_BORDER}; border-radius: 4px; }}"
                           f"QFrame#warningBanner QLabel {{ color: {WARNING_TEXT}; background: transparent; }}"
                           f"QFrame#warningBanner QToolButton {{ color: {WARNING_TEXT}; border: none; "
                           f"background: transparent; font-weight: bold; padding: 0 4px; }}")
        self.icon = QLabel("⚠")
        self.icon.setAlignment(Qt.AlignTop)
        self.message = QLabel()
        self.message.setObjectName("warningMessage")
        self.message.setTextFormat(Qt.RichText)
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.close_button = QToolButton()
        self.close_button.setObjectName("warningClose")
        self.close_button.setText("✕")
        self.close_button.setToolTip("Hide these warnings (a new one shows the banner again)")
        self.close_button.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.addWidget(self.icon)
        layout.addWidget(self.message, 1)
        layout.addWidget(self.close_button, 0, Qt.AlignTop)
        self.warnings: list[RunWarning] = []  # on show
        self._reached: tuple = ()
        self._dismissed: set[tuple] = set()
        self.setVisible(False)

    def show_warnings(self, reached: list[RunWarning], *, name_runs: bool = False) -> None:
        """Show the warnings the timeline has reached, less those dismissed (cheap when unchanged).

        ``name_runs``: begin each line with its run's name (when several runs are shown).
        """
        keys = (tuple(w.key for w in reached), name_runs)
        if keys == self._reached:
            return
        self._reached = keys
        self.warnings = [w for w in reached if w.key not in self._dismissed]
        if not self.warnings:
            self.setVisible(False)
            return
        lines = [self._line(w, name_runs) for w in self.warnings]
        shown = lines[:MAX_LINES]
        if len(lines) > MAX_LINES:
            shown.append(f"and {len(lines) - MAX_LINES} more (hover for all)")
        self.message.setText("<br/>".join(shown))
        self.setToolTip("\n".join(f"{w.run_label}: {w.message}" for w in self.warnings))
        self.setVisible(True)

    @staticmethod
    def _line(warning: RunWarning, with_run: bool) -> str:
        text = escape(warning.message)
        if with_run:
            text = f"<b style='color:{warning.colour}'>{escape(warning.run_label)}</b>: {text}"
        return text

    def dismiss(self) -> None:
        """Hide the warnings on show; later ones show the banner again."""
        self._dismissed.update(w.key for w in self.warnings)
        self.warnings = []
        self.setVisible(False)
        self.dismissed.emit()

    def apply_theme(self) -> None:
        """Take the application's font (its style sheet keeps a banner from following it on its own)."""
        font = QApplication.font()
        for widget in (self.icon, self.message, self.close_button):
            widget.setFont(font)

    def reset(self) -> None:
        """Forget what was shown and dismissed (other runs are shown)."""
        self._dismissed.clear()
        self._reached = ()
        self.warnings = []
        self.setVisible(False)
