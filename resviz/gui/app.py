"""Start the Qt application and the main window."""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from ..errors import ResvizError
from ..views.model_choice import ModelChoice
from .main_window import TABS, MainWindow, app_icon

RUN_SUFFIX = ".resviz"


@dataclass
class LaunchOptions:
    """What the command line asks the window to do once it is open."""

    target: str | None = None  # a zoo model, path/to/model.py[:factory], or a run file
    options: dict[str, Any] = field(default_factory=dict)  # zoo model options
    twin: bool = True
    tab: str | None = None  # architecture, training, attribution, lecture, why
    presentation: bool = False
    train: bool = False  # start training the twins right away
    max_steps: int | None = None
    step: int | None = None  # show this step of a run file
    play: bool = False  # start replaying
    runs_folder: str | None = None


def create_application() -> QApplication:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("resviz")
    app.setOrganizationName("resviz")
    app.setApplicationDisplayName("resviz")
    app.setWindowIcon(app_icon())
    return app


def is_run_file(target: str) -> bool:
    return target.endswith(RUN_SUFFIX)


def launch(options: LaunchOptions, window: MainWindow | None = None, settings: QSettings | None = None) -> MainWindow:
    """Open the window as the command line asked (the target, a tab, presentation, training).

    ``settings`` defaults to the user's; bad targets raise ``ResvizError`` before any window opens.
    """
    target = options.target
    if target and is_run_file(target) and not Path(target).is_file():
        raise ResvizError(f"run file {target} does not exist")
    choice = None
    if target and not is_run_file(target):
        choice = ModelChoice(target, dict(options.options), twin=options.twin)
        if not choice.is_user_file:
            from ..models import model_entry

            model_entry(choice.reference)  # an unknown zoo name fails here, before the window opens
    if window is None:
        # With a run file, the remembered model opens too (ready to train); the run's own models
        # replace it once the run is read.
        window = MainWindow(settings, runs_folder=options.runs_folder, open_default=choice is None)
    window.max_steps = options.max_steps
    if choice is not None:
        window.open_model_choice(choice)
    if target and is_run_file(target):
        window.open_run_file(target)  # the architecture follows the run's models once it is read
    if options.tab:
        window.tabs.setCurrentIndex(TABS.index(options.tab))
    if options.step is not None or options.play:
        def seek() -> None:
            window.runs_read.disconnect(seek)
            timeline = window.comparison.timeline
            if options.step is not None:
                timeline.seek(options.step)
            if options.play:
                timeline.play()
        window.runs_read.connect(seek)
    if options.train:
        def train(loaded) -> None:
            window.model_loaded.disconnect(train)
            window.train_twins() if loaded.plain is not None else window.train_one()
        window.model_loaded.connect(train)  # models load in a worker: train once they are there
    return window


def run_app(target: str | None = None, options: LaunchOptions | None = None,
            on_open: Callable[[MainWindow], None] | None = None) -> int:
    from pyqtgraph.util.garbage_collector import GarbageCollector

    options = options or LaunchOptions(target=target)
    app = create_application()
    # Cycle collection on a timer in the GUI thread only: an automatic one could run on a worker
    # thread and destroy a widget there, which deadlocks on the interpreter lock.
    collector = GarbageCollector(interval=1.0)
    window = launch(options)
    if on_open is not None:
        on_open(window)
    else:
        window.host.warm_up()  # a window that closes once loaded never trains
    if options.presentation:
        window.set_presentation(True)
    else:
        window.show_on_screen()
    code = app.exec()
    window.shutdown()
    window.deleteLater()
    app.processEvents()  # delete the window's widgets while Qt is still whole
    collector.timer.stop()
    gc.collect()
    gc.enable()
    return code


def quit_when_loaded(window: MainWindow, with_run: bool) -> None:
    """Close the application once ``window`` shows its model (and its run file), or at an error."""
    pending = {"model", "run"} if with_run else {"model"}

    def loaded(what: str) -> None:
        pending.discard(what)
        if not pending:
            QApplication.exit(0)

    window.model_loaded.connect(lambda _: loaded("model"))
    window.runs_read.connect(lambda: loaded("run"))
    window.error_shown.connect(lambda _: QApplication.exit(1))
