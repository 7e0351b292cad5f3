"""Closing the window while twins train: "Stopping…" at once, gone within 2 s, children ended,
their runs marked stopped. Pausing first also checks that a paused run says so everywhere."""

from __future__ import annotations

import os
import time

from PySide6.QtCore import Qt

from resviz.runfile import RunReader
from resviz.views.model_choice import ModelChoice


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A child that ended but was not reaped yet still answers; it is gone when it is a zombie.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def test_closing_while_twins_train_is_instant_and_marks_the_runs_stopped(qtbot, make_window):
    window = make_window()
    window.open_model_choice(ModelChoice("resnet20"))
    qtbot.waitUntil(lambda: window.loaded is not None, timeout=30_000)
    window.controls.batch_box.setValue(8)
    window.controls.epochs_box.setValue(1)
    window.max_steps = 2000  # far more than the test waits for
    qtbot.mouseClick(window.controls.twins_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.host.state == "running", timeout=120_000)
    pids = window.host.child_pids()
    paths = window.host.paths
    assert len(pids) == 2 and all(process_exists(pid) for pid in pids)

    qtbot.mouseClick(window.controls.pause_button, Qt.LeftButton)
    assert window.host.state == "paused"
    assert "paused" in window.controls.status_label.text()  # on the Training page
    qtbot.waitUntil(lambda: "paused" in window.run_label.text(), timeout=10_000)  # in the status bar
    panel = window.runs_panel
    qtbot.waitUntil(lambda: (row := panel.row_of(paths[0])) is not None and row.paired and row.status == "paused",
                    timeout=20_000)  # the twins in one row

    stopping, page = [], []
    window.statusBar().messageChanged.connect(stopping.append)
    label = window.controls.status_label
    label.setText = lambda text, set_text=label.setText: (page.append(text), set_text(text))
    started = time.perf_counter()
    window.close()
    seconds = time.perf_counter() - started
    assert not window.isVisible()
    assert seconds < 2.0, f"closing took {seconds:.2f} s"
    assert any(message.startswith("Stopping") for message in stopping)
    assert page[0] == "Stopping…"  # the first thing closing does
    print(f"closed in {seconds:.2f} s")
    assert not any(process_exists(pid) for pid in pids)
    for path in paths:
        with RunReader(path) as reader:
            assert reader.info().status == "stopped"
