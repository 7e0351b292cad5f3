"""Fixtures for driving the main window (used by the window's tests only, never autouse)."""

from __future__ import annotations

import gc

import pytest
from PySide6.QtCore import QSettings

from gui_support import assert_nothing_left


@pytest.fixture(autouse=True)
def _collect_garbage_on_the_gui_thread():
    """As the window does (resviz.gui.app): no automatic cycle collection, which could run on a
    worker thread (the run feed's, say) and destroy a widget there, whose destructor then waits
    for the interpreter lock that thread holds: a hang. Garbage is collected here, on the GUI thread."""
    gc.disable()
    try:
        yield
    finally:
        gc.collect()
        # What survives is moved out of the collector's sight, so the next test's collection
        # scans only what that test made (a full scan of torch's and Qt's heaps costs ~0.25 s).
        gc.freeze()
        gc.enable()


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)


@pytest.fixture
def make_window(qtbot, tmp_path, settings, monkeypatch):
    """``make_window(open_default=False, tab="training")``: a window on an isolated settings file and
    runs folder; closed and checked for leftovers after the test."""
    from resviz.gui.main_window import TABS, MainWindow

    monkeypatch.chdir(tmp_path)
    windows = []

    def make(*, open_default: bool = False, tab: str | None = "training", store=None):
        store = store if store is not None else settings
        if tab is not None:
            store.setValue("window/tab", TABS.index(tab))
        window = MainWindow(store, runs_folder=tmp_path / "runs", open_default=open_default)
        window.show()
        qtbot.waitExposed(window)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()
    for window in windows:
        assert_nothing_left(window)
        window.deleteLater()
