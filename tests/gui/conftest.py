"""Fixtures for driving the main window (used by the window's tests only, never autouse)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, QTimer


def child_pids() -> set[int]:
    """Processes whose parent is this test process (training children would show here).

    multiprocessing's resource tracker is left out: one per interpreter, started with the first
    spawned process and ended with the interpreter, it belongs to no window.
    """
    pids = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            pids |= {int(p) for p in (task / "children").read_text().split()}
        except OSError:
            pass
    tracker = set()
    for pid in pids:
        try:
            if b"resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes():
                tracker.add(pid)
        except OSError:
            tracker.add(pid)  # already gone
    return pids - tracker


def assert_nothing_left(window) -> None:
    """No worker thread, active timer or child process survives a closed window."""
    from resviz.gui.workers_tasks import running_tasks

    assert not window.feed.running, "the run feed's thread is still running"
    assert running_tasks() == [], f"worker threads still running: {running_tasks()}"
    active = [t for t in window.findChildren(QTimer) if t.isActive()]
    assert active == [], f"timers still active: {[t.parent() for t in active]}"
    assert window.host.child_pids() == []
    leftover = child_pids()
    assert leftover == set() or all(not Path(f"/proc/{pid}").exists() for pid in leftover), \
        f"child processes left: {leftover}"


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
