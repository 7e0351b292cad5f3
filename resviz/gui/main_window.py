"""The main window: model picker, architecture, training and attribution tabs, the runs panel.

It wires the parts together and owns no data of its own: models come from the zoo or a file
(built in a worker thread), recorded runs from run files (read in the feed's thread), and
training happens in child processes. Everything the figures show lives in the
``RunComparison`` view-model.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QLabel,
    QMainWindow,
    QMessageBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from .. import __version__
from ..assets import ICON, asset_path
from ..errors import ResvizError, describe_exception
from ..views.lecture import lecture_caption
from ..views.model_choice import LoadedChoice, ModelChoice, load_choice
from ..views.run_comparison import RunComparison
from .architecture_tab import ArchitectureTab
from .dialogs import ExportDialog, ShortcutsDialog, TrustDialog, error_dialog
from .figure_export import FigureExport
from .lecture_page import LecturePage
from .model_picker import ModelPicker
from .presentation import CaptionBar
from .presentation_mode import PresentationMode
from .preset_runner import PresetRunner
from .run_feed import RunFeed
from .run_opener import RunOpener
from .run_status_line import RUN_SAMPLE, RunStatusLine, fix_label_sizes
from .runs_panel import RunsPanel
from .settings import Settings
from .theme import LIGHT, Theme
from .training_controls import TrainingControls
from .training_host import TrainingHost
from .training_launcher import TrainingLauncher, recipe_text
from .training_view import TrainingView
from .why_page import WhyPage
from .window_menus import TABS, build_actions, build_menus
from .workers_tasks import TaskThread, stop_all_tasks

ARCHITECTURE_COLOUR_MS = 100  # the graph is recoloured at most 10 times a second


class MainWindow(QMainWindow):
    """The resviz window. ``settings`` defaults to the user's QSettings (tests pass their own)."""

    model_loaded = Signal(object)  # LoadedChoice
    runs_read = Signal()  # every run file opened has been read up to its newest step
    error_shown = Signal(str)  # the message of every error dialog

    def __init__(self, settings: QSettings | None = None, *, runs_folder: str | Path | None = None,
                 open_default: bool = True) -> None:
        super().__init__()
        self.settings = Settings(settings)
        self.setObjectName("resvizMainWindow")
        self.setWindowIcon(app_icon())
        self.theme: Theme = LIGHT
        self.presenting = False
        self.comparison = RunComparison()
        self.choice = self.settings.model_choice()
        self.loaded: LoadedChoice | None = None
        self.last_error: QMessageBox | None = None
        self.errors: list[str] = []
        self._load_task: TaskThread | None = None
        self._requested: ModelChoice | None = None
        self._trust_dialog: TrustDialog | None = None
        self._picker: ModelPicker | None = None
        self._closed = False

        # Parts that work in the background.
        self.feed = RunFeed(self)
        self.host = TrainingHost(self)
        self.presets = PresetRunner(self)
        self.presets.preset_started.connect(self._preset_started)
        self.presets.preset_finished.connect(self._preset_finished)

        # The tabs.
        self.architecture = ArchitectureTab()
        self.controls = TrainingControls()
        self.controls.set_settings(self.settings.train_settings())
        self.training_view = TrainingView(self.comparison, self.controls)
        self.attribution = self._make_attribution_panel()
        self.tabs = QTabWidget()
        self.tabs.setObjectName("mainTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.architecture, "Architecture")
        self.tabs.addTab(self.training_view, "Training")
        self.tabs.addTab(self.attribution, "Attribution")
        self.lecture = LecturePage(self.comparison)
        self.tabs.addTab(self.lecture, "Lecture")
        self.why = WhyPage(self.comparison)
        self.tabs.addTab(self.why, "Why it trains")
        self.caption = CaptionBar()
        self.caption.setVisible(False)
        central = QWidget()
        central_layout = QVBoxLayout(central)
        central_layout.setContentsMargins(0, 0, 0, 0)
        central_layout.setSpacing(0)
        central_layout.addWidget(self.tabs, 1)
        central_layout.addWidget(self.caption)
        self.setCentralWidget(central)

        # The runs panel.
        folder = Path(runs_folder) if runs_folder is not None else self.settings.runs_folder()
        self.runs_panel = RunsPanel(folder)
        self.runs_dock = QDockWidget("Runs", self)
        self.runs_dock.setObjectName("runsDock")
        self.runs_dock.setWidget(self.runs_panel)
        self.addDockWidget(Qt.RightDockWidgetArea, self.runs_dock)
        self.resizeDocks([self.runs_dock], [250], Qt.Horizontal)

        self.exporter = FigureExport(self)
        self.presentation = PresentationMode(self)
        build_actions(self)
        build_menus(self)
        self.status_line = RunStatusLine(self.statusBar())
        self.model_label, self.run_label = self.status_line.model_label, self.status_line.run_label
        self.fix_label_sizes()
        self.launcher = TrainingLauncher(self)
        self.opener = RunOpener(self)
        self._connect()
        self.resize(1500, 940)
        self.first_launch = not self.settings.restore_window(self)
        self.tabs.setCurrentIndex(self.settings.tab_index())
        self._update_title()

        self.status_timer = QTimer(self)
        self.status_timer.setInterval(500)
        self.status_timer.timeout.connect(self._update_status)
        self.status_timer.start()
        self.colour_timer = QTimer(self)
        self.colour_timer.setInterval(ARCHITECTURE_COLOUR_MS)
        self.colour_timer.timeout.connect(self._colour_architecture)
        self.colour_timer.start()
        if open_default:
            self.open_model_choice(self.choice)

    def show_on_screen(self) -> None:
        """Show the window: where it was last time, or filling the screen on a first launch."""
        screen = QApplication.primaryScreen()
        if self.first_launch and screen is not None:
            self.setGeometry(screen.availableGeometry())  # works with and without a window manager
        self.show()

    # ------------------------------------------------------------------ construction

    def _make_attribution_panel(self) -> QWidget:
        try:
            from .attribution_panel import AttributionPanel
        except ImportError:
            label = QLabel("Attribution maps (Captum) will appear here.")
            label.setAlignment(Qt.AlignCenter)
            return label
        try:
            return AttributionPanel()
        except Exception as exc:  # noqa: BLE001 - the window works without this panel
            label = QLabel(f"The attribution panel could not start: {exc}")
            label.setAlignment(Qt.AlignCenter)
            label.setWordWrap(True)
            return label

    def fix_label_sizes(self, font=None) -> None:
        """Fixed sizes for the labels whose text changes several times a second (see ``fix_label_sizes``)."""
        fix_label_sizes([(self.run_label, RUN_SAMPLE),
                         (self.controls.status_label, "step 12,345/12,345 · epoch 10/10 · 12.3 steps/s"),
                         (self.training_view.timeline_bar.step_label, "step 1,234,567 / 1,234,567")], font)

    def _connect(self) -> None:
        self.controls.train_twins_clicked.connect(self.train_twins)
        self.controls.train_one_clicked.connect(self.train_one)
        self.controls.pause_clicked.connect(self.host.pause)
        self.controls.resume_clicked.connect(self.host.resume)
        self.controls.stop_clicked.connect(self.stop_training)
        self.lecture.train_twins_clicked.connect(self.train_twins)
        self.lecture.stop_clicked.connect(self.stop_training)
        self.host.state_changed.connect(self.lecture.show_state)
        self.runs_panel.run_activated.connect(self.open_run_file)
        # One clock: the status line shows the step the figures have just drawn, in the same frame.
        self.training_view.refreshed.connect(lambda: self._update_status(check_writers=False))
        self.host.state_changed.connect(
            lambda state: self.runs_panel.set_paused(self.host.paths if state == "paused" else ()))
        self.runs_panel.folder_changed.connect(lambda folder: self.settings.set_runs_folder(folder))
        self.architecture.module_selected.connect(
            lambda name: self.statusBar().showMessage(f"selected {name}", 4000))
        self.comparison.runs_changed.connect(self._offer_model_to_attribution)
        self.tabs.currentChanged.connect(lambda index: self._update_attribution())
        self.tabs.currentChanged.connect(lambda index: self._update_title())
        self.comparison.runs_changed.connect(self._update_title)
        set_layer = getattr(self.attribution, "set_layer", None)
        if callable(set_layer):  # a click on a graph node picks the Grad-CAM layer
            self.architecture.module_selected.connect(set_layer)

    # ------------------------------------------------------------------ errors

    def show_error(self, title: str, message: str, details: str = "") -> QMessageBox:
        """A dialog with the message (details expandable); the window keeps working behind it."""
        box = error_dialog(self, title, message, details)
        self.last_error = box
        self.errors.append(message)
        self.statusBar().showMessage(message, 10000)
        self.error_shown.emit(message)
        if not self._closed:
            box.open()
        return box

    # ------------------------------------------------------------------ models

    def show_model_picker(self) -> ModelPicker:
        picker = ModelPicker(self.choice, self, runs_folder=self.runs_panel.folder,
                             dataset=self.controls.settings()["dataset"])
        picker.model_chosen.connect(self.open_model_choice)
        picker.run_chosen.connect(self.open_run_file)
        self._picker = picker
        picker.open()
        return picker

    def open_default(self) -> None:
        self.open_model_choice(ModelChoice.embedded_default())

    def open_model_choice(self, choice: ModelChoice) -> None:
        """Load the chosen model(s) in a worker; a user's file first needs the user's trust."""
        if choice.needs_trust and choice.trusted_sha256 is None:
            self._ask_trust(choice)
            return
        if self._load_task is not None:
            self._load_task.cancel()
            for signal in (self._load_task.succeeded, self._load_task.failed):
                signal.disconnect()
        self._requested = choice  # a result for an earlier request that still arrives is dropped
        task = TaskThread(lambda progress, cancel: load_choice(choice), "load-model")
        task.succeeded.connect(self._model_loaded)
        task.failed.connect(lambda message, details: self._model_failed(choice, message, details))
        self._load_task = task
        self.statusBar().showMessage(f"loading {choice.label()}…")
        task.start_task()

    def _ask_trust(self, choice: ModelChoice) -> None:
        from ..models.user import split_reference

        path, _ = split_reference(choice.reference)
        if not path.is_file():
            self.show_error("Model file not found", f"{path}: model file not found")
            return
        dialog = TrustDialog(path, self)
        self._trust_dialog = dialog

        def decided(trusted: bool, sha256: str) -> None:
            self._trust_dialog = None
            if trusted:
                choice.trusted_sha256 = sha256
                self.open_model_choice(choice)
            else:
                self.show_error("Model not loaded",
                                f"{path}: not loaded — you chose not to run its code (sha256 {sha256})")

        dialog.decided.connect(decided)
        dialog.open()
        dialog.cancel_button.setFocus()

    def _model_loaded(self, loaded: LoadedChoice) -> None:
        if self._closed or loaded.choice is not self._requested:
            return
        self._load_task = None
        self.loaded = loaded
        self.choice = loaded.choice
        if not loaded.choice.is_user_file:
            self.settings.set_model_choice(loaded.choice)
        self.architecture.show_models(loaded)
        self.lecture.show_models(loaded)
        self.lecture.show_state(self.host.state)
        self.controls.show_state(self.host.state, can_twin=loaded.plain is not None)
        self.controls.show_recipe(recipe_text(loaded))
        report = loaded.main.weights
        message = f"opened {loaded.choice.label()}"
        if report is not None:
            message += f" — weights: {report.summary()}"
        self.statusBar().showMessage(message, 8000)
        self._update_title()
        self.model_loaded.emit(loaded)
        self._offer_model_to_attribution(loaded)

    def _model_failed(self, choice: ModelChoice, message: str, details: str) -> None:
        if choice is not self._requested:
            return
        self._load_task = None
        self.show_error("Could not open the model", message, details)

    def _offer_model_to_attribution(self, loaded: LoadedChoice | None = None) -> None:
        """Hand the attribution panel what to explain, once its tab is shown (it loads samples then).

        A finished run with checkpoints is explained as trained; otherwise the open model(s), the
        residual net and its twin side by side.
        """
        self._attribution_stale = True
        if self.tabs.currentWidget() is self.attribution:
            self._update_attribution()

    def _update_attribution(self) -> None:
        panel = self.attribution
        if not getattr(self, "_attribution_stale", False) or not hasattr(panel, "set_models") or self._closed:
            return
        self._attribution_stale = False
        try:
            runs = [run for run in self.comparison.ordered if run.status != "running"]
            checkpointed = [run for run in runs if _has_checkpoints(run.path)]
            if checkpointed:  # the trained twins side by side
                panel.set_runs([run.path for run in checkpointed])
            elif self.loaded is not None:
                models = {self.loaded.main.spec.label(): self.loaded.main.model}
                if self.loaded.plain is not None:
                    models[self.loaded.plain.spec.label()] = self.loaded.plain.model
                panel.set_models(models, tuple(self.loaded.main.input_shape))
        except ResvizError as exc:
            self.statusBar().showMessage(f"attribution: {exc}", 8000)
        except Exception as exc:  # noqa: BLE001 - the panel's trouble never stops the window
            self.statusBar().showMessage(f"attribution panel: {describe_exception(exc)}", 8000)

    # ------------------------------------------------------------------ run files

    def choose_run_file(self) -> None:
        """Open one run file, or several (both twins) side by side."""
        from PySide6.QtWidgets import QFileDialog

        paths, _ = QFileDialog.getOpenFileNames(self, "Open run files (select both twins to compare them)",
                                                str(self.runs_panel.folder), "resviz runs (*.resviz);;All files (*)")
        if paths:
            self.open_run_files(paths)

    def run_preset(self, name: str) -> None:
        """Run one of the seeds' experiments (as ``resviz demo NAME``) into the runs folder."""
        if self.presets.running or self.host.state != "idle":
            self.statusBar().showMessage("wait for the current training to end before starting an experiment", 6000)
            return
        self.presets.start(name, self.runs_panel.folder)

    def _preset_started(self, name: str) -> None:
        for action in self.preset_actions:
            action.setEnabled(False)
        self.statusBar().showMessage(f"experiment '{name}' is training; its runs appear in the runs panel", 10000)

    def _preset_finished(self, name: str, code: int, text: str, paths: list) -> None:
        for action in self.preset_actions:
            action.setEnabled(True)
        if self._closed:
            return
        if paths:
            self.opener.show([Path(p) for p in paths[:2]])  # the first pair side by side
            self.tabs.setCurrentIndex(TABS.index("training"))
        box = QMessageBox(QMessageBox.Information if code == 0 else QMessageBox.Warning,
                          f"Experiment '{name}'", text or f"the experiment ended with code {code}", parent=self)
        box.setTextInteractionFlags(Qt.TextSelectableByMouse)
        box.setModal(False)
        box.show()
        self.last_preset_report = box

    def open_run_file(self, path: str | Path) -> None:
        """Show a run file (and its twin): replayed when finished, followed while it is written."""
        self.open_run_files([path])

    def open_run_files(self, paths: list[str | Path]) -> None:
        """Show these run files side by side (and the twin of each)."""
        self.opener.show([Path(path) for path in paths])
        self.tabs.setCurrentIndex(TABS.index("training"))

    def watch_run(self, path: str | Path) -> None:
        """Read the run file at ``path`` into the comparison, following it while it is written."""
        self.opener.watch(path)

    # ------------------------------------------------------------------ training

    max_steps: int | None = None  # set from the command line (``--max-steps``) for short demonstrations

    def _train_config(self, twins: bool) -> Any:
        """The ``TrainConfig`` for the open model and the settings in the training bar."""
        return self.launcher.config(twins)

    def train_twins(self) -> None:
        self.launcher.start(twins=True)

    def train_one(self) -> None:
        self.launcher.start(twins=False)

    def toggle_pause(self) -> None:
        self.launcher.toggle_pause()

    def stop_training(self) -> None:
        self.host.stop()

    # ------------------------------------------------------------------ the views

    def _colour_architecture(self) -> None:
        if self.tabs.currentWidget() is self.architecture and len(self.comparison):
            self.architecture.colour_by(self.comparison)

    def _update_status(self, check_writers: bool = True) -> None:
        self.status_line.show(self.comparison, self.loaded.choice.label() if self.loaded else "no model",
                              check_writers, paused=self.host.state == "paused")
        self.update_caption()

    def update_caption(self) -> None:
        """The caption line says what is shown (in presentation mode, until the user types their own)."""
        if not self.presenting:
            return
        runs = self.comparison.ordered
        if self.tabs.currentWidget() is self.lecture:
            text = lecture_caption(self.comparison)  # the lecture page's own line, here editable
        elif runs:
            names = " vs ".join(run.style.label for run in runs)
            step = self.comparison.timeline.step
            text = f"{names} · step {step:,}"
        elif self.loaded is not None:
            text = self.loaded.choice.label()
        else:
            text = "resviz"
        self.caption.show_automatic(text)

    def _update_title(self) -> None:
        """The title names what the current tab shows: the open runs, or (on the architecture tab,
        or with no run open) the open model."""
        if not hasattr(self, "tabs"):
            return
        runs = self.comparison.ordered
        if runs and self.tabs.currentWidget() is not self.architecture:
            subject = " vs ".join(run.style.label for run in runs) + f" · {runs[0].name}"
        elif self.loaded is not None:
            subject = self.loaded.choice.label()
        else:
            subject = self.choice.label()
        self.setWindowTitle(f"{subject} — resviz")

    # ------------------------------------------------------------------ presentation and export

    def toggle_presentation(self) -> None:
        self.set_presentation(not self.presenting)

    def set_presentation(self, on: bool) -> None:
        """Full screen, large fonts, the high-contrast theme and the caption line (or back)."""
        self.presentation.set(on)

    def export_targets(self) -> list[tuple[str, str]]:
        return self.exporter.targets()

    def export_figure(self, slug: str, path: str | Path, size: tuple[int, int] | None = None) -> list[Path]:
        """Save one figure (a training figure's slug, or "architecture") at ``size`` pixels."""
        return self.exporter.export(slug, path, size)

    def show_export_dialog(self) -> ExportDialog:
        return self.exporter.show_dialog()

    # ------------------------------------------------------------------ help

    def show_shortcuts(self) -> None:
        ShortcutsDialog(self.actions(), self).open()

    def show_about(self) -> None:
        QMessageBox.about(self, "About resviz",
                          f"<b>resviz {__version__}</b><p>See why skip connections matter: block graphs, live "
                          "gradient flow and attribution maps for plain and residual networks.</p>")

    # ------------------------------------------------------------------ closing

    def closeEvent(self, event) -> None:
        try:
            self.shutdown()
        except Exception:  # noqa: BLE001 - an exception must never cross back into Qt's event handling
            traceback.print_exc()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop training (its run files keep every step), threads and timers. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self.host.active:  # say so at once: ending the children takes up to a second
            self.controls.show_state("stopping", "Stopping…")
            self.statusBar().showMessage("Stopping the training…")
            self.repaint()
        if self.presenting:
            self.set_presentation(False)
        self.settings.save_window(self, self.tabs.currentIndex())
        self.status_timer.stop()
        self.colour_timer.stop()
        self.statusBar().clearMessage()  # stops the status bar's message timer
        self.training_view.stop()
        self.lecture.stop()
        self.presets.stop()
        self.host.shutdown()
        self.runs_panel.stop()
        self.feed.close()
        self.architecture.shutdown()
        self.why.shutdown()
        shutdown = getattr(self.attribution, "shutdown", None)
        if callable(shutdown):
            shutdown()
        if self._load_task is not None:
            self._load_task.cancel()
        stop_all_tasks()
        self.settings.sync()


def app_icon():
    from PySide6.QtGui import QIcon

    return QIcon(str(asset_path(ICON)))


def _has_checkpoints(path: Path) -> bool:
    from ..runfile import RunReader

    try:
        with RunReader(path) as reader:
            return bool(reader.checkpoints())
    except ResvizError:
        return False
