"""Replay for narration: the keys step through a replay, the slowest speed is a step a second,
both twin files open from one dialog, and every panel shows the same step at every moment."""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from resviz.benchmarks.synthetic import write_synthetic_run


def write_pair(folder: Path, steps: int = 300) -> tuple[Path, Path]:
    """Two runs that do not name each other: only a multiple selection opens both."""
    residual, plain = folder / "narrate-residual.resviz", folder / "narrate-plain.resviz"
    write_synthetic_run(residual, steps=steps, residual=True)
    write_synthetic_run(plain, steps=steps, residual=False)
    return residual, plain


def open_both(qtbot, window, monkeypatch, paths) -> None:
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(lambda *a, **k: ([str(p) for p in paths], "")))
    window.open_run_action.trigger()
    comparison = window.comparison
    qtbot.waitUntil(lambda: len(comparison) == 2 and all(len(r) == 300 for r in comparison.ordered), timeout=20_000)


def test_keys_step_through_a_replay(qtbot, make_window, tmp_path, monkeypatch):
    window = make_window()
    open_both(qtbot, window, monkeypatch, write_pair(tmp_path / "runs"))
    timeline = window.comparison.timeline
    view = window.training_view
    view.setFocus()
    qtbot.waitUntil(view.hasFocus)
    presses = [(Qt.Key_Home, 1), (Qt.Key_Right, 2), (Qt.Key_Right, 3), (Qt.Key_PageDown, 13), (Qt.Key_Left, 12),
               (Qt.Key_PageUp, 2), (Qt.Key_PageUp, 1), (Qt.Key_End, 300)]
    for key, expected in presses:
        qtbot.keyClick(view, key)
        assert timeline.step == expected, (key, timeline.step)
    qtbot.keyClick(view, Qt.Key_Left)
    assert timeline.step == 299 and not timeline.following
    bar = view.timeline_bar
    assert bar.speed_box.itemData(0) == 1.0 and bar.speed_box.itemText(0) == "1 steps/s"


def test_every_panel_shows_the_same_step_while_playing(qtbot, make_window, tmp_path, monkeypatch):
    window = make_window()
    open_both(qtbot, window, monkeypatch, write_pair(tmp_path / "runs"))
    timeline = window.comparison.timeline
    view = window.training_view
    seen: list[tuple] = []

    def check() -> None:
        if timeline.following:
            return
        drawn = {figure._last_key[1] for figure in view.figures if figure.isVisible()}
        bar = int(re.search(r"step ([\d,]+)", view.timeline_bar.step_label.text()).group(1).replace(",", ""))
        status = int(re.search(r"step ([\d,]+)", window.run_label.text()).group(1).replace(",", ""))
        seen.append((timeline.step, drawn, bar, status))

    view.refreshed.connect(check)
    timeline.seek(1)
    timeline.set_speed(300.0)
    timeline.play()
    qtbot.waitUntil(lambda: len(seen) >= 20 or not timeline.playing, timeout=20_000)
    timeline.pause()
    view.refreshed.disconnect(check)
    assert len({step for step, *_ in seen}) >= 5  # it did play through several steps
    for step, drawn, bar, status in seen:
        assert drawn == {step} and bar == step and status == step, (step, drawn, bar, status)


def test_the_keys_step_on_the_lecture_page_too(qtbot, make_window, tmp_path, monkeypatch):
    window = make_window(tab="lecture")
    open_both(qtbot, window, monkeypatch, write_pair(tmp_path / "runs"))
    window.tabs.setCurrentWidget(window.lecture)
    timeline = window.comparison.timeline
    window.lecture.setFocus()
    qtbot.waitUntil(window.lecture.hasFocus)
    qtbot.keyClick(window.lecture, Qt.Key_Home)
    qtbot.keyClick(window.lecture, Qt.Key_PageDown)
    assert timeline.step == 11
