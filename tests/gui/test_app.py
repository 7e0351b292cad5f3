"""The ``resviz gui`` command: its options, and the window it opens for each kind of target."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtWidgets import QApplication

from resviz.benchmarks.synthetic import write_synthetic_run
from resviz.cli import build_parser
from resviz.errors import ResvizError
from resviz.gui.app import LaunchOptions, launch, quit_when_loaded
from resviz.gui.main_window import TABS, app_icon

from gui_support import assert_nothing_left


def test_gui_command_options_parse():
    args = build_parser().parse_args(["gui", "runs/x.resviz", "--tab", "training", "--presentation", "--step", "40",
                                      "--play", "-o", "norm=none", "--max-steps", "20"])
    assert (args.target, args.tab, args.presentation, args.step, args.play) == ("runs/x.resviz", "training", True,
                                                                                40, True)
    assert args.option == ["norm=none"] and args.max_steps == 20


def test_the_application_icon_renders(qapp):
    icon = app_icon()  # the application's and the window's, read from the package (resviz.assets)
    image = icon.pixmap(64, 64).toImage()
    assert not image.isNull() and image.width() == 64
    assert image.pixelColor(32, 4).alpha() == 255 and image.pixelColor(32, 4).name() != "#000000"


@pytest.mark.parametrize("with_run, emitted, exits", [
    (False, ["model"], [0]), (True, ["model"], []), (True, ["run", "model"], [0]), (True, ["error"], [1])])
def test_quit_after_load_waits_for_the_model_and_the_run(monkeypatch, with_run, emitted, exits):
    class Window(QObject):  # the three signals of the main window that it listens to
        model_loaded = Signal(object)
        runs_read = Signal()
        error_shown = Signal(str)

    codes = []
    monkeypatch.setattr(QApplication, "exit", staticmethod(codes.append))
    window = Window()
    quit_when_loaded(window, with_run=with_run)
    for what in emitted:
        {"model": lambda: window.model_loaded.emit(None), "run": window.runs_read.emit,
         "error": lambda: window.error_shown.emit("boom")}[what]()
    assert codes == exits


@pytest.mark.parametrize("target, message", [("resnet2O", "did you mean"), ("nowhere.resviz", "does not exist")])
def test_bad_targets_fail_before_a_window_opens(qapp, target, message):
    with pytest.raises(ResvizError, match=message):
        launch(LaunchOptions(target=target))


def test_opens_a_run_file_at_a_step(qtbot, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_synthetic_run(tmp_path / "runs" / "r.resviz", steps=300)
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat)
    window = launch(LaunchOptions(target=str(path), tab="training", step=120, runs_folder=str(tmp_path / "runs")),
                    settings=settings)
    try:
        window.show()
        qtbot.waitUntil(lambda: window.comparison.timeline.step == 120 and not window.comparison.timeline.following,
                        timeout=20_000)
        assert window.tabs.currentIndex() == TABS.index("training")
        qtbot.waitUntil(lambda: window.loaded is not None, timeout=30_000)  # the run's model, for its graph
        assert window.loaded.main.spec.name == "resnet20"
    finally:
        window.close()
        assert_nothing_left(window)
