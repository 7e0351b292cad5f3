"""What every lens panel of the "Why it trains" page shares: a title, a row of controls, a
progress bar with Cancel, an Export button, an Enlarge toggle (the lens alone on the page), and
one worker at a time (``TaskThread``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ..errors import ResvizError
from ..views.run_data import PLAIN_COLOUR, RESIDUAL_COLOUR
from ..views.why_it_trains import WhyItTrains
from .dialogs import announce_saved, ask_png_export
from .figures.base import style_plot
from .theme import LIGHT, Theme
from .workers_tasks import TaskThread, stop_all_tasks

SIDE_COLOURS = {"plain": PLAIN_COLOUR, "residual": RESIDUAL_COLOUR}


class StatusLabel(QLabel):
    """A panel's status line, wrapped, and out of the way (hidden) while it says nothing."""

    def __init__(self) -> None:
        super().__init__("")
        self.setWordWrap(True)
        self.hide()

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        super().setText(text)
        self.setVisible(bool(text))


class LensPanel(QWidget):
    """One lens over the page's ``WhyItTrains``; subclasses fill ``self.body`` and ``self.controls``
    and draw in ``redraw``. ``finished(lens)`` is emitted when a computation ends, any way."""

    finished = Signal(str)
    enlarge_toggled = Signal(str, bool)   # lens, whether it asks to be shown alone on the page
    lens = "lens"
    title = "Lens"

    def __init__(self, model: WhyItTrains, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(f"lensPanel_{self.lens}")
        self.model = model
        self.theme: Theme = LIGHT
        self.task: TaskThread | None = None
        self.compute_button: QPushButton | None = None   # add_compute_button's, for lenses a click computes
        self.replace_question = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.heading = QLabel(self.title)
        self.heading.setWordWrap(True)  # the lecture theme's large titles wrap rather than widen the page
        self.enlarge_button = QPushButton("Enlarge")
        self.enlarge_button.setCheckable(True)
        self.enlarge_button.setToolTip("Show this lens alone on the page (on a projector, say)")
        self.enlarge_button.toggled.connect(lambda on: self.enlarge_toggled.emit(self.lens, on))
        top = QHBoxLayout()
        top.addWidget(self.heading, 1)
        top.addWidget(self.enlarge_button)
        layout.addLayout(top)
        self.controls = QHBoxLayout()
        layout.addLayout(self.controls)
        self.graphics = pg.GraphicsLayoutWidget()
        self.body = QSplitter(Qt.Orientation.Horizontal)   # the plots, and what a lens shows beside them
        self.body.setChildrenCollapsible(False)
        self.body.addWidget(self.graphics)
        layout.addWidget(self.body, 1)
        bar = QHBoxLayout()
        self.status = StatusLabel()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(160)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.export_button = QPushButton("Export PNG…")
        self.export_button.clicked.connect(self._on_export_clicked)
        bar.addStretch(1)
        bar.addWidget(self.progress)
        bar.addWidget(self.cancel_button)
        bar.addWidget(self.export_button)
        layout.addWidget(self.status)   # a line of its own: beside the buttons it wrapped word by word
        layout.addLayout(bar)
        self._update_enabled()

    def add_compute_button(self) -> QPushButton:
        """A Compute button (calls ``compute``) at the end of the controls row, enabled while the
        lens is not computing."""
        self.compute_button = QPushButton("Compute")
        self.compute_button.clicked.connect(self.compute)
        self.controls.addWidget(self.compute_button)
        self._update_enabled()
        return self.compute_button

    def compute(self) -> bool:
        """Start this lens's computation; False when there is nothing to compute it on (subclasses)."""
        return False

    def add_beside_plots(self, widget: QWidget, stretch: int = 1) -> None:
        """Show ``widget`` to the right of the plots, ``stretch`` times as wide as they are."""
        self.body.addWidget(widget)
        self.body.setStretchFactor(0, 1)
        self.body.setStretchFactor(self.body.count() - 1, stretch)

    # -- work ----------------------------------------------------------------------------------

    def start(self, function: Callable[[Callable, Any], Any], on_done: Callable[[Any], None], text: str) -> None:
        """Run ``function(progress, cancel_event)`` in a worker; ``on_done(result)`` on the GUI thread."""
        self.cancel()
        task = TaskThread(function, f"lens-{self.lens}", owner=self)
        task.progressed.connect(self._on_progress)
        task.succeeded.connect(lambda result: self._done(on_done, result))
        task.failed.connect(self._on_failed)
        task.cancelled.connect(self._on_cancelled)
        self.task = task
        self.model.set_busy(self.lens, True)
        self.progress.setValue(0)
        self.status.setText(text)
        self._update_enabled()
        task.start_task()

    def is_busy(self) -> bool:
        return self.task is not None

    def cancel(self) -> None:
        """Stop the computation before its next forward pass; what is shown stays."""
        task, self.task = self.task, None
        if task is None:
            return
        task.cancel()
        for signal in (task.progressed, task.succeeded, task.failed, task.cancelled):
            signal.disconnect()
        self._end("Cancelled.")

    def shutdown(self, timeout_ms: int = 30000) -> None:
        self.cancel()
        stop_all_tasks(timeout_ms, owner=self)

    def _end(self, text: str) -> None:
        self.task = None
        self.model.set_busy(self.lens, False)
        self.progress.setValue(0)
        self.status.setText(text)
        self._update_enabled()
        self.finished.emit(self.lens)

    def _done(self, on_done: Callable[[Any], None], result: Any) -> None:
        self.task = None
        self.model.set_busy(self.lens, False)
        self._update_enabled()
        on_done(result)
        self.progress.setValue(1000)
        self.finished.emit(self.lens)

    def _on_progress(self, done: int, total: int, text: str) -> None:
        if total > 0:
            self.progress.setValue(int(1000 * done / total))

    def _on_failed(self, message: str, details: str) -> None:
        self._end(message)

    def _on_cancelled(self) -> None:
        self._end("Cancelled.")

    def _update_enabled(self) -> None:
        self.cancel_button.setEnabled(self.task is not None)
        if self.compute_button is not None:
            self.compute_button.setEnabled(self.task is None)

    # -- drawing -------------------------------------------------------------------------------

    def redraw(self) -> None:
        """Draw what the model holds for this lens (subclasses)."""

    def plots(self) -> list[pg.PlotItem]:
        return [item for item in self.graphics.ci.items if isinstance(item, pg.PlotItem)]

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.graphics.setBackground(theme.background)
        for plot in self.plots():
            style_plot(plot, theme)
            plot.titleLabel.setText(plot.titleLabel.text, color=theme.foreground)
        self.heading.setStyleSheet(f"font-weight: bold; font-size: {theme.title_size}pt;")
        self.redraw()

    # -- export --------------------------------------------------------------------------------

    def export_png(self, path: str | os.PathLike) -> Path:
        """Save the lens's plots (and what it shows beside them) as shown to a PNG."""
        path = Path(path)
        if not self.body.grab().save(str(path), "PNG"):
            raise ResvizError(f"{path}: the image could not be written")
        return path

    def _on_export_clicked(self) -> None:
        self.replace_question = ask_png_export(self, f"Export {self.title}", f"{self.lens}.png", self._save)

    def _save(self, path: Path) -> None:
        try:
            saved = self.export_png(path)
        except ResvizError as error:
            self.status.setText(str(error))
            return
        self.status.setText(announce_saved(self, [saved]))


def run_progress(progress: Callable[[int, int, str], None], index: int, count: int) -> Callable[[float], None]:
    """A lens's fraction-done callback for run ``index`` of ``count``, reported as the worker's progress."""
    return lambda fraction: progress(int(1000 * (index + fraction)), 1000 * count, "")


def add_plot(panel: LensPanel, title: str, x_label: str, y_label: str, row: int, col: int) -> pg.PlotItem:
    plot = panel.graphics.addPlot(row=row, col=col, title=title)
    plot.setLabel("bottom", x_label)
    plot.setLabel("left", y_label)
    plot.setMenuEnabled(False)
    return plot
