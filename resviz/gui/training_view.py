"""The training view: live (or replayed) figures of the compared runs, and the timeline.

Figures are created once; a 30 Hz timer draws the comparison's current frame into the
figures that are visible, and only when something changed. The data come from a
``RunComparison`` (the view-model the run feed fills); this widget never reads a file.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QGridLayout, QLabel, QVBoxLayout, QWidget

from ..views.run_comparison import RunComparison
from .figures import (
    BlockGradientFigure,
    ConfusionFigure,
    DepthProfileFigure,
    Figure,
    GradientFlowFigure,
    LossAccuracyFigure,
    UpdateRatioFigure,
)
from .theme import LIGHT, Theme
from .timeline_bar import TimelineBar
from .warning_banner import RunWarning, WarningBanner

REFRESH_MS = 33  # about 30 Hz
FRAME_BUDGET_MS = 12.0  # GUI-thread time one tick may spend drawing and painting figures


class TrainingView(QWidget):
    """Figures over a ``RunComparison``; ``controls`` (start, pause, stop) sit above them."""

    refreshed = Signal()  # a frame was drawn (the graph colouring follows it)

    def __init__(self, comparison: RunComparison, controls: QWidget | None = None, parent: QWidget | None = None,
                 theme: Theme = LIGHT) -> None:
        super().__init__(parent)
        self.comparison = comparison
        self.theme = theme
        self.heatmap = GradientFlowFigure(theme, on_levels_chosen=comparison.levels.lock)
        self.curves = LossAccuracyFigure(theme)
        self.depth_profile = DepthProfileFigure(theme)
        self.block_gradients = BlockGradientFigure(theme)
        self.update_ratio = UpdateRatioFigure(theme)
        self.confusion = ConfusionFigure(theme)
        self.figures: list[Figure] = [self.heatmap, self.depth_profile, self.curves, self.block_gradients,
                                      self.update_ratio, self.confusion]
        self.grid = QGridLayout()
        self.grid.setSpacing(4)
        self.presentation_layout = False
        self._arrange()
        self.timeline_bar = TimelineBar(comparison.timeline)
        self.layers_box = QComboBox()
        self.layers_box.setObjectName("layersBox")
        self.layers_box.addItem("conv / linear layers", True)
        self.layers_box.addItem("all layers (with norms)", False)
        self.layers_box.setToolTip("Layers in the heatmap and the per-layer profiles: normalisation layers' "
                                   "gradients live on another scale and zig-zag the depth profile")
        self.layers_box.currentIndexChanged.connect(
            lambda index: comparison.set_weights_only(bool(self.layers_box.itemData(index))))
        self.timeline_bar.layout().addWidget(self.layers_box)
        self.hint = QLabel()
        self.hint.setAlignment(Qt.AlignCenter)
        self.hint.setWordWrap(True)
        self.hint.setObjectName("trainingHint")
        self.banner = WarningBanner()
        self._warnings_key: tuple | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        if controls is not None:
            layout.addWidget(controls)
        layout.addWidget(self.banner)
        layout.addWidget(self.hint)
        layout.addLayout(self.grid, 1)
        layout.addWidget(self.timeline_bar)
        self._focused: Figure | None = None
        self._viewports = {figure.viewport(): figure for figure in self.figures}
        for figure in self.figures:
            figure.viewport().installEventFilter(self)
            figure.setToolTip("Double-click to show this figure alone; double-click again to show all")
        self._next_figure = 0
        self._last_tick = time.perf_counter()
        self.frames_drawn = 0
        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.tick)
        self.timer.start()
        self.empty_hint = ("Press <b>Train twins</b> (Ctrl+T) to train the residual net and its plain twin side by "
                           "side, or open a run file (Ctrl+Shift+O) to replay it.")
        comparison.runs_changed.connect(self._runs_changed)
        self._runs_changed()

    def _runs_changed(self) -> None:
        self.set_hint(None if len(self.comparison) else self.empty_hint)
        self.banner.reset()
        self._warnings_key = None

    # -- refresh ----------------------------------------------------------------------------

    def tick(self) -> None:
        """One timer tick: advance a playing replay, then draw what changed."""
        now = time.perf_counter()
        elapsed, self._last_tick = now - self._last_tick, now
        timeline = self.comparison.timeline
        if timeline.playing:
            timeline.advance(min(elapsed, 0.25))
        self.refresh()

    def refresh(self, force: bool = False) -> bool:
        """Draw the current frame into the visible figures that show an older one.

        One tick draws as many stale figures as fit in ``FRAME_BUDGET_MS`` (each figure's cost is
        the running average of its drawing and painting), taking them in turn so every figure
        gets its go. On a fast machine that is all of them at 30 Hz; on a busy one the figures
        catch up over a few ticks instead of one long paint that freezes the window.
        That holds while following a live run only: at a step the user chose (scrubbing, playing,
        stepping) every visible figure draws the same frame in the same tick — one clock, so the
        panels never disagree about the step while someone narrates a replay.
        ``force`` draws every figure now, hidden ones too.
        """
        if not self.isVisible() and not force:
            return False
        frame = self.comparison.frame()
        self._show_warnings(frame)
        shown = [f for f in self.figures if force or f.isVisible()]
        stale = [f for f in shown if f.is_stale(frame)]
        if not stale:
            return False
        start = self._next_figure % len(self.figures)
        stale.sort(key=lambda f: (self.figures.index(f) - start) % len(self.figures))
        spent = 0.0
        for figure in stale:
            if not force and frame.following and spent > 0.0 and spent + figure.cost_ms > FRAME_BUDGET_MS:
                break
            figure.refresh(frame)
            spent += figure.cost_ms
            self._next_figure = self.figures.index(figure) + 1
        self.frames_drawn += 1
        self.refreshed.emit()
        return True

    def _show_warnings(self, frame) -> None:
        """List the health warnings the shown step has reached (looked up only when the frame changed)."""
        key = frame.key()
        if key == self._warnings_key:
            return
        self._warnings_key = key
        self.banner.show_warnings([RunWarning(run.style.label, run.style.colour, event.step, event.message)
                                   for run, event in self.comparison.warnings_at(frame.step)],
                                  name_runs=len(frame.runs) > 1)

    def set_hint(self, text: str | None) -> None:
        self.hint.setText(text or "")
        self.hint.setVisible(bool(text))

    def stop(self) -> None:
        """Stop the refresh timer (the window calls it when closing)."""
        self.timer.stop()

    # -- theme and focus --------------------------------------------------------------------

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        for figure in self.figures:
            figure.apply_theme(theme)
        size = theme.font_size * (1.15 if theme.dark else 1.0)
        self.hint.setStyleSheet(f"font-size: {size:.0f}pt; padding: 6px;")
        self.banner.apply_theme()
        self.refresh(force=True)

    # Where the figures sit: (row, column, row span, column span). The lecture-hall layout keeps
    # the four that tell the skip-connection story, large enough to read from the back row.
    EVERYDAY_LAYOUT = {"gradient_flow": (0, 0, 1, 2), "depth_profile": (0, 2, 1, 1), "loss_accuracy": (0, 3, 1, 1),
                       "block_gradients": (1, 0, 1, 1), "update_ratio": (1, 1, 1, 1), "confusion": (1, 2, 1, 2)}
    PRESENTATION_LAYOUT = {"gradient_flow": (0, 0, 1, 1), "depth_profile": (0, 1, 1, 1),
                           "loss_accuracy": (1, 0, 1, 1), "block_gradients": (1, 1, 1, 1)}

    def _arrange(self) -> None:
        places = self.PRESENTATION_LAYOUT if self.presentation_layout else self.EVERYDAY_LAYOUT
        for figure in self.figures:
            self.grid.removeWidget(figure)
        columns = 1 + max(col + span - 1 for _, col, _, span in places.values())
        for column in range(4):
            self.grid.setColumnStretch(column, 1 if column < columns else 0)
        self.grid.setRowStretch(0, 1 if self.presentation_layout else 3)
        self.grid.setRowStretch(1, 1 if self.presentation_layout else 2)
        for figure in self.figures:
            place = places.get(figure.slug)
            if place is not None:
                self.grid.addWidget(figure, *place)
        self.focus_figure(getattr(self, "_focused", None))

    def set_presentation_layout(self, on: bool) -> None:
        """The four key figures, large (on), or all six (off)."""
        self.presentation_layout = on
        self._focused = None
        self._arrange()

    def focus_figure(self, figure: Figure | None) -> None:
        """Show one figure alone (None: all those of the layout)."""
        self._focused = figure
        places = self.PRESENTATION_LAYOUT if self.presentation_layout else self.EVERYDAY_LAYOUT
        for other in self.figures:
            other.setVisible(other is figure if figure is not None else other.slug in places)
        if figure is not None:
            figure.invalidate()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        figure = self._viewports.get(watched)
        if figure is not None and event.type() == QEvent.MouseButtonDblClick:
            self.focus_figure(None if self._focused is figure else figure)
            return True
        return super().eventFilter(watched, event)

    def figure_by_slug(self, slug: str) -> Figure:
        for figure in self.figures:
            if figure.slug == slug:
                return figure
        raise KeyError(slug)
