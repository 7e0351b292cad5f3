"""The lecture page: the whole skip-connection story on one dark, high-contrast screen.

The twins' gradient-flow heatmaps, their gradient profile by depth, the two architectures
coloured by gradient (blocks level, repeats folded, fitted, legends beside the graphs) and
loss and accuracy, with a caption line that puts the point in numbers. It is what
presentation mode (F11) shows, and "Train twins" sits on the page itself, so a lecturer gets
from a cold start to the picture in two clicks.

The widgets are the training view's figures and the architecture view, created once and
updated in place; what they show lives in the view-models: the window's ``RunComparison``
(runs, step, colour levels) and the page's own ``TwinArchitectureModel`` (so the lecture's
level and folding never change what the Architecture tab shows).
"""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ..views.architecture import TwinArchitectureModel
from ..views.lecture import lecture_caption
from ..views.model_choice import LoadedChoice
from ..views.run_comparison import RunComparison
from .architecture_tab import colour_twins
from .figures import DepthProfileFigure, Figure, GradientFlowFigure, LossAccuracyFigure
from .graph_legend import legend_rows
from .theme import PRESENTATION, Theme
from .twin_architecture_view import TwinArchitectureView, twin_model_at_level

REFRESH_MS = 66  # about 15 Hz: a lecture's picture, not a benchmark
LABEL_PX = 20  # the page's own text, in pixels: readable from the back of a hall at 1280x720
HEADING_PX = 26
FIT_ZOOM = 0.3  # the folded blocks graph fits its pane whole: its colours, not its small print, make the point
LECTURE_LEVEL = "blocks"  # one box per residual block, repeats folded: the architecture at a glance


def lecture_architecture_model() -> TwinArchitectureModel:
    """The lecture's own twin model: blocks level (chosen, so it stays), repeats folded."""
    return twin_model_at_level(LECTURE_LEVEL, fold=True)


class LecturePage(QWidget):
    """The lecture page over ``comparison``. ``train_twins_clicked`` and ``stop_clicked`` ask the
    window to train or stop; ``show_state`` shows what the training host reports."""

    train_twins_clicked = Signal()
    stop_clicked = Signal()

    def __init__(self, comparison: RunComparison, parent: QWidget | None = None,
                 theme: Theme = PRESENTATION) -> None:
        super().__init__(parent)
        self.setObjectName("lecturePage")
        self.comparison = comparison
        self.theme = theme
        self.loaded: LoadedChoice | None = None
        self._pending: LoadedChoice | None = None
        self._colour_key: tuple | None = None

        self.heading = QLabel("Why skip connections matter")
        self.heading.setObjectName("lectureHeading")
        self.train_button = QPushButton("Train twins")
        self.train_button.setObjectName("lectureTrainButton")
        self.train_button.setToolTip("Train the residual net and its plain twin side by side, from the same seed "
                                     "(Ctrl+T)")
        self.train_button.clicked.connect(self.train_twins_clicked)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("lectureStopButton")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop_clicked)
        self.state_label = QLabel("")
        self.state_label.setObjectName("lectureState")
        header = QHBoxLayout()
        header.setContentsMargins(8, 4, 8, 0)
        header.addWidget(self.heading)
        header.addStretch(1)
        header.addWidget(self.state_label)
        header.addWidget(self.train_button)
        header.addWidget(self.stop_button)

        self.heatmap = GradientFlowFigure(theme, on_levels_chosen=comparison.levels.lock)
        self.depth_profile = DepthProfileFigure(theme)
        self.curves = LossAccuracyFigure(theme)
        self.figures: list[Figure] = [self.heatmap, self.depth_profile, self.curves]
        for figure in self.figures:
            figure.setMinimumSize(160, 120)
        self.architecture = TwinArchitectureView(model=lecture_architecture_model())
        # One legend for both graphs, under them, as two lines of text (the graphs keep their
        # height). Their boxes are coloured on the comparison's levels, the heatmap's: its
        # colour bar is theirs too.
        self.legend = QLabel()
        self.legend.setObjectName("lectureLegend")
        self.legend.setWordWrap(True)
        self.legend.setAlignment(Qt.AlignCenter)
        self.legend.setTextFormat(Qt.RichText)
        self._legend_key: tuple | None = None
        self.architecture.show_only_graphs(FIT_ZOOM)   # the page is for looking: only the titles stay
        self.architecture.graph_ready.connect(self._graph_drawn)
        self.architecture.apply_theme(theme)
        self.no_twin = QLabel("This model has no plain twin: open one that has (File → Open the default)")
        self.no_twin.setObjectName("lectureNoTwin")
        self.no_twin.setWordWrap(True)
        self.no_twin.setAlignment(Qt.AlignCenter)
        self.no_twin.hide()

        grid = QGridLayout()
        grid.setContentsMargins(4, 4, 4, 4)
        grid.setSpacing(6)
        grid.addWidget(self.heatmap, 0, 0, 1, 2)
        grid.addWidget(self.depth_profile, 1, 0)
        grid.addWidget(self.curves, 1, 1)
        graphs = QWidget()
        graphs_layout = QVBoxLayout(graphs)
        graphs_layout.setContentsMargins(0, 0, 0, 0)
        graphs_layout.setSpacing(4)
        graphs_layout.addWidget(self.architecture, 1)
        graphs_layout.addWidget(self.legend)
        self.graphs = graphs
        grid.addWidget(graphs, 0, 2, 2, 1)
        grid.addWidget(self.no_twin, 0, 2, 2, 1)
        grid.setColumnStretch(0, 5)
        grid.setColumnStretch(1, 5)
        grid.setColumnStretch(2, 7)
        grid.setRowStretch(0, 1)
        grid.setRowStretch(1, 1)
        self.caption = QLabel(lecture_caption(comparison))
        self.caption.setObjectName("lectureCaption")
        self.caption.setWordWrap(True)
        self.caption.setAlignment(Qt.AlignCenter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(header)
        layout.addLayout(grid, 1)
        layout.addWidget(self.caption)
        self._style()

        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.refresh)
        self.timer.start()

    def _style(self) -> None:
        theme = self.theme
        self.setAttribute(Qt.WA_StyledBackground, True)
        self.setStyleSheet(
            f"QWidget#lecturePage {{ background: {theme.background}; }}"
            f"QWidget#lecturePage QLabel {{ color: {theme.foreground}; font-size: {LABEL_PX}px; }}"
            f"QLabel#lectureHeading {{ font-size: {HEADING_PX}px; font-weight: bold; }}"
            f"QLabel#lectureCaption {{ font-size: {LABEL_PX + 2}px; font-weight: bold; padding: 4px 8px; }}"
            f"QPushButton {{ font-size: {LABEL_PX}px; padding: 6px 18px; color: #000000; background: #FFD60A;"
            f" border: 2px solid #FFD60A; border-radius: 6px; }}"
            f"QPushButton:disabled {{ color: #8A8A8A; background: #262626; border: 2px dashed #5A5A5A; }}")
        for view in self.architecture.views:
            font = view.title_label.font()
            font.setPixelSize(LABEL_PX)
            font.setBold(True)
            view.title_label.setFont(font)
            view.title_label.setStyleSheet(f"color: {theme.foreground}; background: {theme.background};")
            view.toolbar.setStyleSheet(f"background: {theme.background};")

    # -- the model ----------------------------------------------------------------------------

    def show_models(self, loaded: LoadedChoice) -> None:
        """Trace the twins of ``loaded`` (once the page is shown: a hidden page traces nothing)."""
        self.loaded = loaded
        self._colour_key = None
        self._pending = loaded
        if self.isVisible():
            self._trace_pending()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._trace_pending()
        self.refresh(force=True)

    def _trace_pending(self) -> None:
        loaded, self._pending = self._pending, None
        if loaded is None:
            return
        twin = loaded.plain is not None
        self.graphs.setVisible(twin)
        self.no_twin.setVisible(not twin)
        if twin:
            self.architecture.set_models(loaded.plain.model, loaded.main.model, loaded.main.example_input(),
                                         plain_title=loaded.plain.spec.name, residual_title=loaded.main.spec.name)

    @property
    def pending(self) -> bool:
        """A model waits to be traced until the page is shown."""
        return self._pending is not None

    def is_busy(self) -> bool:
        return self.architecture.is_busy()

    def _graph_drawn(self) -> None:
        self._colour_key = None

    # -- training state -----------------------------------------------------------------------

    def show_state(self, state: str) -> None:
        """Enable Train or Stop as the training host's ``state`` allows."""
        idle = state == "idle"
        self.train_button.setEnabled(idle and (self.loaded is None or self.loaded.plain is not None))
        self.stop_button.setEnabled(state in ("starting", "running", "paused"))
        self.state_label.setText({"idle": "", "starting": "starting…", "running": "training",
                                  "paused": "paused", "stopping": "stopping…"}.get(state, state))

    # -- drawing ------------------------------------------------------------------------------

    def refresh(self, force: bool = False) -> bool:
        """Draw the comparison's current frame into the figures, colour the graphs and say it in
        the caption; only what changed, and nothing while the page is hidden."""
        if not self.isVisible() and not force:
            return False
        frame = self.comparison.frame()
        drew = False
        for figure in self.figures:
            if force or figure.is_stale(frame):
                drew = figure.refresh(frame) or drew
        self.colour_graphs()
        self._update_legend()
        caption = lecture_caption(self.comparison)
        if caption != self.caption.text():
            self.caption.setText(caption)
        return drew

    def colour_graphs(self) -> bool:
        """Colour the twin graphs by the runs' gradients at the shown step; False when unchanged."""
        if self.loaded is None or self.loaded.plain is None:
            return False
        key = (self.comparison.revision, self.comparison.step, self.comparison.levels.levels)
        if key == self._colour_key:
            return False
        self._colour_key = key
        colour_twins(self.architecture, self.loaded, self.comparison)
        return True

    def _update_legend(self) -> None:
        """The shared legend: the residual graph's skip kinds (the plain one has none)."""
        model = self.architecture.model.residual
        counts = model.layout.skip_counts if model.layout is not None else {}
        key = (tuple(sorted(counts.items())), model.block_norms is not None)
        if key == self._legend_key:
            return
        self._legend_key = key
        marks = [f"<span style='white-space:nowrap'><span style='color:{colour}'>━━</span>&nbsp;"
                 f"{escape(' '.join(text.split()))}</span>" if colour else escape(text)
                 for colour, text in legend_rows(counts)]
        note = "colour: gradient norm, on the heatmap's scale"
        self.legend.setText(" &nbsp; ".join(marks) + f"<br/>{note}")
        self.legend.setVisible(model.layout is not None)

    def stop(self) -> None:
        """Stop the refresh timer and the graphs' workers (the window calls it when closing)."""
        self.timer.stop()
        self.architecture.shutdown()
