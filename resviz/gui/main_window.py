"""The main window: model picker, architecture, training and attribution tabs, the runs panel.

It wires the parts together and owns no data of its own: models come from the zoo or a file
(built in a worker thread), recorded runs from run files (read in the feed's thread), and
training happens in child processes. Everything the figures show lives in the
``RunComparison`` view-model.
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QFontMetrics, QKeySequence
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
from ..errors import ResvizError, describe_exception, first_line
from ..models import find_twin_pair
from ..runfile import FINISHED, RUNNING, status_label, status_sentence
from ..views.model_choice import LoadedChoice, ModelChoice, load_choice
from ..views.run_comparison import RunComparison
from .architecture_tab import ArchitectureTab
from .dialogs import ExportDialog, ShortcutsDialog, TrustDialog, error_dialog
from .model_picker import ModelPicker
from .presentation import CaptionBar
from .preset_runner import PresetRunner
from .run_feed import RunFeed
from .runs_panel import RunsPanel
from .settings import Settings
from .theme import LIGHT, PRESENTATION, STATUS_COLOURS, Theme, apply_application_theme
from .training_controls import TrainingControls
from .training_host import TrainingHost
from .training_view import TrainingView
from .workers_tasks import TaskThread, stop_all_tasks

TABS = ("architecture", "training", "attribution")
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
        self._reported_failures: set[str] = set()
        self._speed_chosen_for: set[str] = set()
        self._unread: set[str] = set()

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

        self._build_actions()
        self._build_menus()
        self._build_status_bar()
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

    def _action(self, text: str, slot, shortcut: str | QKeySequence | None = None, *, tip: str = "",
                checkable: bool = False) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        self.addAction(action)  # shortcuts work in full screen, where menus may be hidden
        return action

    def _build_actions(self) -> None:
        a = self._action
        self.open_model_action = a("&Open model…", self.show_model_picker, QKeySequence.Open,
                                   tip="Choose a zoo model, your model file, or weights")
        self.open_run_action = a("Open &run file…", self.choose_run_file, "Ctrl+Shift+O",
                                 tip="Replay a finished run, or follow one being written")
        self.default_action = a("Open the &default (ResNet-20 vs Plain-20, no norm layers)", self.open_default,
                                "Ctrl+Shift+D")
        self.export_action = a("&Export figure…", self.show_export_dialog, "Ctrl+E",
                               tip="Save a figure as PNG or SVG at a chosen size")
        self.quit_action = a("&Quit", self.close, QKeySequence.Quit)
        self.train_twins_action = a("Train &twins", self.train_twins, "Ctrl+T",
                                    tip="Train the residual net and its plain twin from the same seed")
        self.train_one_action = a("Train this &model", self.train_one, "Ctrl+Shift+T")
        self.pause_action = a("&Pause / resume training", self.toggle_pause, "Ctrl+P")
        self.stop_action = a("&Stop training", self.stop_training, "Ctrl+.")
        from ..presets import list_presets

        self.preset_actions = [a(f"{preset.name}: {preset.title}",
                                 lambda checked=False, name=preset.name: self.run_preset(name),
                                 tip=preset.description.replace("\n", " "))
                               for preset in list_presets()]
        self.play_action = a("Play / pause &replay", self.comparison.timeline.toggle_play, "Space")
        self.play_action.setShortcutContext(Qt.WidgetWithChildrenShortcut)
        self.training_view.addAction(self.play_action)
        self.first_step_action = a("&First step", lambda: self.comparison.timeline.seek(self.comparison.timeline.first),
                                   "Home")
        self.first_step_action.setShortcutContext(Qt.WidgetWithChildrenShortcut)
        self.training_view.addAction(self.first_step_action)
        self.latest_action = a("Follow the &latest step", self.comparison.timeline.follow_latest, "End")
        self.latest_action.setShortcutContext(Qt.WidgetWithChildrenShortcut)
        self.training_view.addAction(self.latest_action)
        self.tab_actions = [a(f"&{i + 1} {name.title()}", lambda checked=False, i=i: self.tabs.setCurrentIndex(i),
                              f"Ctrl+{i + 1}") for i, name in enumerate(TABS)]
        self.presentation_action = a("Presentation &mode", self.toggle_presentation, "F11", checkable=True,
                                     tip="Full screen, large fonts, high contrast and a caption line")
        self.leave_presentation_action = a("Leave presentation mode", lambda: self.set_presentation(False), "Esc")
        self.leave_presentation_action.setEnabled(False)
        self.runs_panel_action = self.runs_dock.toggleViewAction()
        self.runs_panel_action.setShortcut(QKeySequence("Ctrl+R"))
        self.addAction(self.runs_panel_action)
        self.shortcuts_action = a("&Keyboard shortcuts", self.show_shortcuts, QKeySequence.HelpContents)
        self.about_action = a("&About resviz", self.show_about)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        for action in (self.open_model_action, self.open_run_action, self.default_action):
            file_menu.addAction(action)
        file_menu.addSeparator()
        file_menu.addAction(self.export_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        view_menu = bar.addMenu("&View")
        for action in self.tab_actions:
            view_menu.addAction(action)
        view_menu.addSeparator()
        view_menu.addAction(self.runs_panel_action)
        view_menu.addAction(self.presentation_action)
        run_menu = bar.addMenu("&Run")
        for action in (self.train_twins_action, self.train_one_action, self.pause_action, self.stop_action):
            run_menu.addAction(action)
        presets_menu = run_menu.addMenu("The seeds' &experiments")
        presets_menu.setToolTipsVisible(True)
        for action in self.preset_actions:
            presets_menu.addAction(action)
        run_menu.addSeparator()
        for action in (self.play_action, self.first_step_action, self.latest_action):
            run_menu.addAction(action)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.shortcuts_action)
        help_menu.addAction(self.about_action)

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self.model_label = QLabel()
        self.run_label = QLabel()
        self.run_label.setObjectName("runStatus")
        self.run_label.setTextFormat(Qt.RichText)  # statuses that call for attention are coloured
        status.addPermanentWidget(self.run_label)
        status.addPermanentWidget(self.model_label)
        self._fix_label_sizes()

    def _fix_label_sizes(self, font=None) -> None:
        """Give the labels whose text changes several times a second a fixed size.

        A label whose text changes width asks the window to lay itself out again; with live
        figures that relayout (and the repaint of everything it moves) is what freezes a busy
        machine for tens of milliseconds. Fixed sizes make a new text a repaint of the label.
        """
        metrics = QFontMetrics(font or QApplication.font())
        height = metrics.height() + 6
        run_sample = "2 runs · replay · 1 finished, 1 interrupted · step 1,234,567 / 1,234,567"
        for label, sample in ((self.run_label, run_sample),
                              (self.controls.status_label, "step 12,345/12,345 · epoch 10/10 · 12.3 steps/s"),
                              (self.training_view.timeline_bar.step_label, "step 1,234,567 / 1,234,567")):
            label.setFixedSize(metrics.horizontalAdvance(sample) + 8, height)

    def _connect(self) -> None:
        feed = self.feed
        feed.opened.connect(self._run_opened)
        feed.steps_arrived.connect(self.comparison.append_steps)
        feed.records_changed.connect(self.comparison.set_records)
        feed.info_changed.connect(self._run_info_changed)
        feed.failed.connect(self._feed_failed)
        feed.caught_up.connect(self._run_caught_up)
        self.runs_read.connect(self._sync_architecture_with_runs)
        host = self.host
        host.run_file_ready.connect(self._training_file_ready)
        host.state_changed.connect(self._training_state_changed)
        host.run_ended.connect(self._training_ended)
        host.failed.connect(lambda message, details: self.show_error("Training failed", message, details))
        host.progressed.connect(self._training_progressed)
        self.controls.train_twins_clicked.connect(self.train_twins)
        self.controls.train_one_clicked.connect(self.train_one)
        self.controls.pause_clicked.connect(self.host.pause)
        self.controls.resume_clicked.connect(self.host.resume)
        self.controls.stop_clicked.connect(self.stop_training)
        self.runs_panel.run_activated.connect(self.open_run_file)
        self.runs_panel.folder_changed.connect(lambda folder: self.settings.set_runs_folder(folder))
        self.architecture.module_selected.connect(
            lambda name: self.statusBar().showMessage(f"selected {name}", 4000))
        self.comparison.runs_changed.connect(self._offer_model_to_attribution)
        self.tabs.currentChanged.connect(lambda index: self._update_attribution())
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
        picker = ModelPicker(self.choice, self, runs_folder=self.runs_panel.folder)
        picker.model_chosen.connect(self.open_model_choice)
        picker.run_chosen.connect(self.open_run_file)
        self._picker = picker
        picker.open()
        return picker

    def open_default(self) -> None:
        self.open_model_choice(ModelChoice.embedded_default())

    def open_model_choice(self, choice: ModelChoice) -> None:
        """Load the chosen model(s) in a worker; a user's file first needs the user's trust."""
        if choice.is_user_file and choice.trusted_sha256 is None:
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
        self.controls.show_state(self.host.state, can_twin=loaded.plain is not None)
        self.controls.show_recipe(_recipe_text(loaded))
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
            if checkpointed:
                panel.set_run(checkpointed[0].path)
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
        from PySide6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(self, "Open a run file", str(self.runs_panel.folder),
                                              "resviz runs (*.resviz);;All files (*)")
        if path:
            self.open_run_file(path)

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
            self._show_runs([Path(p) for p in paths[:2]])  # the first pair side by side
            self.tabs.setCurrentIndex(TABS.index("training"))
        box = QMessageBox(QMessageBox.Information if code == 0 else QMessageBox.Warning,
                          f"Experiment '{name}'", text or f"the experiment ended with code {code}", parent=self)
        box.setTextInteractionFlags(Qt.TextSelectableByMouse)
        box.setModal(False)
        box.show()
        self.last_preset_report = box

    def open_run_file(self, path: str | Path) -> None:
        """Show a run file (and its twin): replayed when finished, followed while it is written."""
        self._show_runs([Path(path)])
        self.tabs.setCurrentIndex(TABS.index("training"))

    def _show_runs(self, paths: list[Path]) -> None:
        self.feed.unwatch_all()
        self.comparison.clear()
        self._speed_chosen_for.clear()
        self._unread.clear()
        for path in paths:
            self._watch(path)

    def _watch(self, path: str | Path) -> None:
        self._unread.add(self.feed.watch(path))

    def _run_opened(self, path: str, info: Any, weight_mask: Any = None) -> None:
        if self._closed or path not in self.feed.paths:
            return  # opened after the user moved on
        self.comparison.add(info, weight_mask)
        twin = info.twin
        if twin:
            twin_path = Path(twin)
            if not twin_path.is_absolute() and not twin_path.exists():
                twin_path = Path(path).parent / twin_path.name  # the pair was moved together
            twin_path = twin_path.resolve()
            if twin_path.is_file() and str(twin_path) not in self.feed.paths and twin_path not in self.host.paths:
                self._watch(twin_path)
        if info.status != "running" and len(self.comparison) == 1:
            self.statusBar().showMessage(f"{'following' if info.status == 'running' else 'replaying'} {path}", 6000)
        self._report_failed_run(path, info)
        self._update_title()

    def _sync_architecture_with_runs(self) -> None:
        """Show the architecture of the runs' models, so the graph can be coloured by their gradients.

        Runs of a user's model file are left alone: rebuilding one would run its code.
        """
        specs = [run.info.model_spec for run in self.comparison.ordered if run.info.model_spec is not None]
        if not specs or any(spec.is_user_model for spec in specs):
            return
        main = specs[0]
        names = {spec.name for spec in specs}
        wanted = ModelChoice(main.name, dict(main.options))
        pair = find_twin_pair(main)
        wanted.twin = pair is not None and pair.other in names
        current = self._requested  # what this session asked for (the remembered choice may never have loaded)
        if current is not None and (current.reference, current.options, current.twin) == \
                (wanted.reference, wanted.options, wanted.twin):
            return
        if self.loaded is not None and self.host.active:
            return  # training from this window: its model is the one shown
        self.open_model_choice(wanted)

    def _run_info_changed(self, path: str, info: Any) -> None:
        self.comparison.set_info(path, info)
        self._report_failed_run(path, info)

    def _report_failed_run(self, path: str, info: Any) -> None:
        """A dialog for a run that failed (once per run); the steps it recorded stay on show."""
        if info.status != "failed" or Path(path).resolve() in self.host.paths:  # the host reports its own runs
            return
        if path in self._reported_failures:
            return
        self._reported_failures.add(path)
        reason = (info.error or "no reason recorded").strip()
        self.show_error("Run failed", f"{info.name}: the run failed: {first_line(reason)}",
                        f"{reason}\n\nEvery step it recorded is kept in {path}.")

    def _feed_failed(self, path: str, message: str, details: str) -> None:
        self.feed.paths.discard(path)
        self._unread.discard(path)
        self.show_error("Could not read the run file", message, details)

    # ------------------------------------------------------------------ training

    def _train_config(self, twins: bool) -> Any:
        """The ``TrainConfig`` for the open model and the settings in the training bar."""
        from ..train.config import TrainConfig

        if self.loaded is None:
            raise ResvizError("no model is open yet: wait for it to load, or open one (Ctrl+O)")
        choice = self.loaded.choice
        settings = self.controls.settings()
        self.settings.set_train_settings(settings)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        if choice.is_user_file:
            model, stem = choice.reference, Path(choice.reference.split(":")[0]).stem
        else:
            model = stem = self.loaded.main.spec.name
        name = f"{stem}-twins-{stamp}" if twins else f"{stem}-{stamp}"
        out = _unique(self.runs_panel.folder / f"{name}.resviz")
        # A user's file trains only while it holds the content the user trusted (the child checks).
        return TrainConfig(model=model, model_options=dict(choice.options), trust=choice.is_user_file,
                           trusted_sha256=choice.trusted_sha256 if choice.is_user_file else None,
                           weights=None if twins else choice.weights, max_steps=self.max_steps, out=str(out),
                           **settings)

    max_steps: int | None = None  # set from the command line (``--max-steps``) for short demonstrations

    def train_twins(self) -> None:
        self._start_training(twins=True)

    def train_one(self) -> None:
        self._start_training(twins=False)

    def _start_training(self, twins: bool) -> None:
        if self.host.active:
            self.statusBar().showMessage("a run is already training: stop it first", 5000)
            return
        twins = twins and self.loaded is not None and self.loaded.plain is not None
        try:
            config = self._train_config(twins)
            self.feed.unwatch_all()
            self.comparison.clear()
            paths = self.host.start(config, twins=twins)
        except ResvizError as exc:
            self.show_error("Cannot start training", str(exc))
            return
        except Exception as exc:  # noqa: BLE001
            self.show_error("Cannot start training", describe_exception(exc), traceback.format_exc())
            return
        self.tabs.setCurrentIndex(TABS.index("training"))
        self.comparison.timeline.follow_latest()
        names = " and ".join(path.name for path in paths)
        self.controls.show_state("starting", f"starting {names}…")

    def toggle_pause(self) -> None:
        if self.host.state == "paused":
            self.host.resume()
        elif self.host.state == "running":
            self.host.pause()

    def stop_training(self) -> None:
        self.host.stop()

    def _training_file_ready(self, path: str) -> None:
        self._watch(path)
        self.runs_panel.refresh()

    def _training_state_changed(self, state: str) -> None:
        texts = {"idle": "ready", "starting": "starting…", "running": "training", "paused": "paused",
                 "stopping": "stopping…"}
        self.controls.show_state(state, texts.get(state, state),
                                 can_twin=self.loaded is None or self.loaded.plain is not None)

    def _training_progressed(self, path: str, progress: dict) -> None:
        total = progress.get("total_steps")
        rate = progress.get("steps_per_second") or 0.0
        text = f"step {progress.get('step', 0):,}"
        if total:
            text += f"/{total:,}"
        text += f" · epoch {progress.get('epoch', 0) + 1}/{progress.get('epochs', 1)}"
        if rate:
            text += f" · {rate:.1f} steps/s"
        self.controls.status_label.setText(text)

    def _training_ended(self, path: str, status: str, error: str) -> None:
        self.runs_panel.refresh()
        if status != "failed":  # failures come with their own dialog (host.failed)
            self.statusBar().showMessage(f"{Path(path).name}: {status_label(status, error)}", 8000)

    # ------------------------------------------------------------------ the views

    def _run_caught_up(self, path: str) -> None:
        """Once a finished run is read, pick a replay speed that plays it in about twenty seconds."""
        if self._closed:
            return
        if path in self._unread:
            self._unread.discard(path)
            if not self._unread:
                self.runs_read.emit()
        if path in self._speed_chosen_for:
            return
        self._speed_chosen_for.add(path)
        runs = self.comparison.ordered
        if runs and all(run.status_word != RUNNING for run in runs):
            timeline = self.comparison.timeline
            timeline.set_speed(timeline.suggest_speed(20.0))

    def _colour_architecture(self) -> None:
        if self.tabs.currentWidget() is self.architecture and len(self.comparison):
            self.architecture.colour_by(self.comparison)

    def _update_status(self) -> None:
        self.model_label.setText(self.loaded.choice.label() if self.loaded else "no model")
        self.comparison.refresh_statuses()  # a writer that died leaves its run marked running
        runs = self.comparison.ordered
        if not runs:
            self.run_label.setText("no run open")
            self.run_label.setToolTip("")
        else:
            timeline = self.comparison.timeline
            live = any(run.status_word == RUNNING for run in runs)
            parts = [f"{len(runs)} run{'s' if len(runs) > 1 else ''}"]
            if live and timeline.following:
                parts.append("live")
            elif not timeline.following:
                parts.append("replay")
            if not all(run.status_word == RUNNING for run in runs):  # how they ended, in 'resviz runs' words
                parts.append(runs_status_html(runs))
            if not timeline.empty:
                parts.append(f"step {timeline.step:,} / {timeline.last:,}")
            rate = _steps_per_second(runs[0])
            if live and rate:
                parts.append(f"{rate:.1f} steps/s")
            self.run_label.setText(" · ".join(parts))
            self.run_label.setToolTip("\n".join(
                f"{run.style.label}: {status_sentence(run.status_word, run.info.error)}" for run in runs))
        self._update_caption()

    def _update_caption(self) -> None:
        if not self.presenting:
            return
        runs = self.comparison.ordered
        if runs:
            names = " vs ".join(run.style.label for run in runs)
            step = self.comparison.timeline.step
            text = f"{names} · step {step:,}"
        elif self.loaded is not None:
            text = self.loaded.choice.label()
        else:
            text = "resviz"
        self.caption.show_automatic(text)

    def _update_title(self) -> None:
        runs = self.comparison.ordered
        if runs:
            subject = " vs ".join(run.name for run in runs)
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
        if on == self.presenting:
            self.presentation_action.setChecked(on)
            return
        self.presenting = on
        self.presentation_action.setChecked(on)
        self.leave_presentation_action.setEnabled(on)
        self.theme = PRESENTATION if on else LIGHT
        app = QApplication.instance()
        if on:
            self._normal_font_size = app.font().pointSizeF()
            self._dock_was_visible = self.runs_dock.isVisible()
            self._normal_geometry = self.geometry()
            apply_application_theme(app, self.theme, base_font_size=self._normal_font_size * 1.5)
            self.runs_dock.hide()
            self.statusBar().hide()
            screen = self.screen() or QApplication.primaryScreen()
            if screen is not None:
                self.setGeometry(screen.geometry())  # full screen with or without a window manager
            self.showFullScreen()
        else:
            apply_application_theme(app, self.theme, base_font_size=getattr(self, "_normal_font_size", None))
            if getattr(self, "_dock_was_visible", True):
                self.runs_dock.show()
            self.statusBar().show()
            self.showNormal()
            if getattr(self, "_normal_geometry", None) is not None:
                self.setGeometry(self._normal_geometry)
        self._fix_label_sizes(app.font())
        self.caption.style_for(self.theme)
        self.caption.setVisible(on)
        self.training_view.set_presentation_layout(on)
        self.training_view.apply_theme(self.theme)
        self.architecture.apply_theme(self.theme)
        self._update_caption()

    def export_targets(self) -> list[tuple[str, str]]:
        targets = [(figure.title, figure.slug) for figure in self.training_view.figures]
        if self.architecture.available:
            targets.insert(0, ("Architecture (the graph)", "architecture"))
        return targets

    def export_figure(self, slug: str, path: str | Path, size: tuple[int, int] | None = None) -> list[Path]:
        """Save one figure (a training figure's slug, or "architecture") at ``size`` pixels."""
        if slug == "architecture":
            return self.architecture.export_image(path, size)
        figure = self.training_view.figure_by_slug(slug)
        figure.refresh(self.comparison.frame())
        return [figure.export_image(path, size)]

    def show_export_dialog(self) -> ExportDialog:
        current = "architecture" if self.tabs.currentWidget() is self.architecture else "gradient_flow"
        dialog = ExportDialog(self.export_targets(), self, folder=self.settings.export_folder(), current=current)

        def save() -> None:
            try:
                paths = self.export_figure(dialog.slug, dialog.path, dialog.size)
            except ResvizError as exc:
                self.show_error("Export failed", str(exc))
                return
            except Exception as exc:  # noqa: BLE001
                self.show_error("Export failed", describe_exception(exc), traceback.format_exc())
                return
            self.settings.set_export_folder(dialog.path.parent)
            self.statusBar().showMessage("saved " + ", ".join(str(p) for p in paths), 8000)

        dialog.accepted.connect(save)
        dialog.open()
        return dialog

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
        if self.presenting:
            self.set_presentation(False)
        self.settings.save_window(self, self.tabs.currentIndex())
        self.status_timer.stop()
        self.colour_timer.stop()
        self.statusBar().clearMessage()  # stops the status bar's message timer
        self.training_view.stop()
        self.presets.stop()
        self.host.shutdown()
        self.runs_panel.stop()
        self.feed.close()
        self.architecture.shutdown()
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


def _unique(path: Path) -> Path:
    """``path``, or ``path`` with -2, -3, ... when a run file of that name exists."""
    candidate, n = path, 2
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        n += 1
    return candidate


def _has_checkpoints(path: Path) -> bool:
    from ..runfile import RunReader

    try:
        with RunReader(path) as reader:
            return bool(reader.checkpoints())
    except ResvizError:
        return False


def runs_status_html(runs: list) -> str:
    """How the runs stand, in one short phrase: "finished", "stopped", or "1 finished, 1 stopped".

    Words other than finished and running are coloured, so a run that did not end as planned
    stands out in the status bar.
    """
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.status_word] = counts.get(run.status_word, 0) + 1

    def word(text: str) -> str:
        colour = STATUS_COLOURS.get(text) if text not in (FINISHED, RUNNING) else None
        return f"<span style='color:{colour}; font-weight:bold'>{text}</span>" if colour else text

    if len(counts) == 1:
        return word(next(iter(counts)))
    return ", ".join(f"{n} {word(text)}" for text, n in counts.items())


def _steps_per_second(run) -> float | None:
    n = len(run)
    if n < 2:
        return None
    first = max(0, n - 50)
    steps = run.step.data[n - 1] - run.step.data[first]
    seconds = run.time.data[n - 1] - run.time.data[first]
    return float(steps / seconds) if seconds > 0 else None


def _recipe_text(loaded: LoadedChoice) -> str:
    """The open model's training recipe in words (the same one ``resviz train`` uses)."""
    from ..models.recipes import recipe_for

    choice = loaded.choice
    model = choice.reference if choice.is_user_file else loaded.main.spec.name
    try:
        return recipe_for(model, dict(choice.options)).describe()
    except ResvizError:
        return ""
