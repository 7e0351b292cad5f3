"""The main window, driven as a user would: models, trust, replay, following, export, errors.

Every window is closed at the end of its test and checked: no worker thread, active timer or
child process may be left behind (see ``conftest.make_window``).
"""

from __future__ import annotations

import html
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QImage, QKeySequence
from PySide6.QtWidgets import QMessageBox

from resviz.benchmarks.synthetic import write_synthetic_run
from resviz.gui.main_window import TABS
from resviz.gui.theme import PRESENTATION
from resviz.runfile import RunReader, RunWriter
from resviz.views.model_choice import ModelChoice

from gui_support import WRITER, write_trainer_like_run

USER_MODEL = '''
import pathlib
from torch import nn
pathlib.Path(__file__).with_name("ran.txt").write_text("the file's code ran")

def build_model():
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4))
    model.input_shape = (3, 8, 8)
    return model
'''


def write_twins(folder: Path, steps: int = 400, **kw) -> tuple[Path, Path]:
    residual, plain = folder / "demo-residual.resviz", folder / "demo-plain.resviz"
    write_synthetic_run(residual, steps=steps, residual=True, twin=plain, **kw)
    write_synthetic_run(plain, steps=steps, residual=False, twin=residual, **kw)
    return residual, plain


def runs_panel_items(panel) -> dict:
    """The runs panel's rows by the stem of the run file each opens."""
    items = (panel.tree.topLevelItem(i) for i in range(panel.tree.topLevelItemCount()))
    return {Path(item.data(0, Qt.UserRole)).stem: item for item in items}


def last_error_text(window) -> str:
    return window.errors[-1] if window.errors else ""


def test_opens_on_the_default_twins_ready_to_train(qtbot, make_window):
    window = make_window(open_default=True, tab="architecture")
    qtbot.waitUntil(lambda: window.loaded is not None, timeout=30_000)
    assert window.loaded.main.spec.name == "resnet20" and window.loaded.plain.spec.name == "plain20"
    assert window.loaded.choice.options == {"norm": "none"}  # the demonstration: no norm layers to hide the effect
    assert window.architecture.showing_twins
    qtbot.waitUntil(lambda: not window.architecture.is_busy() and not window.architecture.pending, timeout=60_000)
    assert window.architecture.twins.residual_view.traced is not None
    assert window.architecture.twins.plain_view.traced is not None
    assert "resnet20 vs plain20" in window.windowTitle()
    assert not window.windowIcon().isNull()
    assert window.controls.twins_button.isEnabled()  # one click to train
    shortcuts = {a.text(): a.shortcut().toString() for a in window.actions() if not a.shortcut().isEmpty()}
    assert shortcuts["Train &twins"] == "Ctrl+T" and shortcuts["Presentation &mode"] == "F11"
    assert window.open_model_action.shortcut() == QKeySequence(QKeySequence.Open)
    assert [window.tabs.tabText(i) for i in range(3)] == ["Architecture", "Training", "Attribution"]


def test_switches_models_in_the_picker_and_remembers_the_choice(qtbot, make_window, settings, tmp_path):
    window = make_window()
    picker = window.show_model_picker()
    picker.select_zoo_model("mlp_residual")
    picker.options_form.editors["depth"].setValue(6)
    picker.options_form.editors["activation"].setCurrentText("relu")
    picker._accept()
    qtbot.waitUntil(lambda: window.loaded is not None, timeout=30_000)
    loaded = window.loaded
    assert (loaded.main.spec.name, loaded.plain.spec.name) == ("mlp_residual", "mlp_plain")
    assert loaded.choice.options == {"depth": 6, "activation": "relu"}
    assert loaded.main.model.resviz_spec.options == {"depth": 6, "activation": "relu"}
    window.tabs.setCurrentIndex(TABS.index("attribution"))
    window.close()
    reopened = make_window(open_default=True, tab=None, store=QSettings(settings.fileName(), QSettings.IniFormat))
    qtbot.waitUntil(lambda: reopened.loaded is not None, timeout=30_000)
    assert reopened.loaded.choice.reference == "mlp_residual" and reopened.loaded.choice.options["depth"] == 6
    assert reopened.tabs.currentIndex() == TABS.index("attribution")


def test_a_user_model_runs_only_after_trust(qtbot, make_window, tmp_path):
    model_file = tmp_path / "my_model.py"
    model_file.write_text(USER_MODEL)
    window = make_window()
    window.open_model_choice(ModelChoice(f"{model_file}:build_model", twin=False))
    dialog = window._trust_dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.path_field.text() == str(model_file.resolve())
    import hashlib

    assert dialog.sha_field.text() == hashlib.sha256(model_file.read_bytes()).hexdigest()
    qtbot.mouseClick(dialog.cancel_button, Qt.LeftButton)
    assert "chose not to run" in last_error_text(window)
    assert window.last_error.isVisible()
    assert not (tmp_path / "ran.txt").exists() and window.loaded is None

    window.open_model_choice(ModelChoice(f"{model_file}:build_model", twin=False))
    qtbot.mouseClick(window._trust_dialog.trust_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.loaded is not None, timeout=30_000)
    assert (tmp_path / "ran.txt").exists()
    assert window.loaded.main.spec.name.endswith("my_model.py:build_model")
    assert not window.controls.twins_button.isEnabled()  # a user's model has no twin to train


def test_a_bad_model_choice_shows_an_error_and_keeps_the_model(qtbot, make_window):
    window = make_window()
    window.open_model_choice(ModelChoice("resnet20"))
    qtbot.waitUntil(lambda: window.loaded is not None, timeout=30_000)
    window.open_model_choice(ModelChoice("resnet20", {"norm": "sparkles"}))
    qtbot.waitUntil(lambda: bool(window.errors), timeout=30_000)
    assert "norm" in last_error_text(window) and "sparkles" in last_error_text(window)
    assert window.loaded.choice.options == {}
    window.open_model_choice(ModelChoice("resnet2O"))
    qtbot.waitUntil(lambda: len(window.errors) == 2, timeout=30_000)
    assert "did you mean" in last_error_text(window)


def test_replays_twin_runs_with_the_scrubber_and_exports_a_figure(qtbot, make_window, tmp_path):
    residual, plain = write_twins(tmp_path / "runs", steps=400, nonfinite_at=(321,))
    window = make_window()
    window.open_run_file(Path("runs") / residual.name)  # relative here; the twin names it by its absolute path
    comparison = window.comparison
    qtbot.waitUntil(lambda: len(comparison) == 2 and all(len(r) == 400 for r in comparison.ordered),
                    timeout=20_000)
    qtbot.wait(300)
    assert len(comparison) == 2  # each file once, however it was named
    assert [run.name for run in comparison.ordered] == ["demo-residual", "demo-plain"]
    assert comparison.timeline.first == 1 and comparison.timeline.last == 400
    bar = window.training_view.timeline_bar
    bar.slider.setValue(150)  # the user drags the scrubber
    assert comparison.timeline.step == 150 and not comparison.timeline.following
    curves = window.training_view.curves
    qtbot.waitUntil(lambda: str(plain) in curves._items and len(curves._items[str(plain)].loss.xData) == 150,
                    timeout=20_000)  # the figures catch up over a few ticks
    assert "step 150" in bar.step_label.text()
    run = comparison.get(plain)
    expected = run.grad_norm.data[149][run.weight_layers]
    depth = window.training_view.depth_profile
    qtbot.waitUntil(lambda: not depth.is_stale(comparison.frame()), timeout=20_000)  # figures catch up in turn
    np.testing.assert_allclose(depth._items[str(plain)].curve.yData, expected, rtol=1e-6)

    bar.speed_box.setCurrentIndex(bar.speed_box.findData(300.0))
    qtbot.mouseClick(bar.play_button, Qt.LeftButton)
    assert comparison.timeline.playing
    qtbot.waitUntil(lambda: comparison.timeline.step > 200, timeout=20_000)
    comparison.timeline.pause()
    assert not comparison.timeline.playing

    out = window.export_figure("gradient_flow", tmp_path / "flow.png", (1280, 720))[0]
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1280, 720)

    dialog = window.show_export_dialog()
    dialog.figure_box.setCurrentIndex(dialog.figure_box.findData("depth_profile"))
    dialog.size_box.setCurrentIndex(dialog.size_box.count() - 1)  # custom
    dialog.width_box.setValue(640)
    dialog.height_box.setValue(480)
    dialog.path_field.setText(str(tmp_path / "depth.svg"))
    dialog.accept()
    assert "<svg" in (tmp_path / "depth.svg").read_text(encoding="utf-8")
    assert window.errors == []


def test_follows_a_run_written_by_another_process(qtbot, make_window, tmp_path):
    path, gate = tmp_path / "runs" / "outside.resviz", tmp_path / "go"
    path.parent.mkdir()
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(gate)])
    try:
        qtbot.waitUntil(path.exists, timeout=30_000)
        qtbot.wait(300)
        window = make_window()
        window.open_run_file(path)
        qtbot.waitUntil(lambda: len(window.comparison) == 1 and len(window.comparison.ordered[0]) == 30,
                        timeout=30_000)
        run = window.comparison.ordered[0]
        assert run.status == "running"
        qtbot.waitUntil(lambda: "live" in window.run_label.text(), timeout=20_000)
        gate.touch()  # the other process writes on
        qtbot.waitUntil(lambda: run.status == "finished" and len(run) == 60, timeout=30_000)
    finally:
        gate.touch()
        process.wait(timeout=30)
    assert np.array_equal(run.step.values, np.arange(1, 61))
    assert window.comparison.timeline.following and window.comparison.timeline.step == 60
    qtbot.waitUntil(lambda: "finished" in window.run_label.text(), timeout=20_000)


def test_runs_panel_marks_live_runs_and_opens_them(qtbot, make_window, tmp_path):
    folder = tmp_path / "runs"
    write_synthetic_run(folder / "old.resviz", steps=20)
    writer = RunWriter(folder / "live.resviz", model_spec=None, config={}, layer_ids=["a"], block_ids=["b"])
    try:
        window = make_window()
        panel = window.runs_panel
        panel.refresh()
        qtbot.waitUntil(lambda: panel.tree.topLevelItemCount() == 2, timeout=10_000)
        rows = runs_panel_items(panel)
        assert rows["live"].text(0) == "● live"
        assert rows["old"].text(0) == "finished"
        writer.finish("stopped")
        panel.refresh()
        qtbot.waitUntil(lambda: runs_panel_items(panel)["live"].text(0) == "stopped", timeout=10_000)
        panel.tree.itemActivated.emit(runs_panel_items(panel)["old"], 1)
        qtbot.waitUntil(lambda: len(window.comparison) == 1, timeout=10_000)
        assert window.comparison.ordered[0].name == "old"
        assert window.tabs.currentIndex() == TABS.index("training")
    finally:
        writer.close()


def test_bad_and_failed_run_files_show_errors_and_keep_what_was_shown(qtbot, make_window, tmp_path):
    folder = tmp_path / "runs"
    failed = write_synthetic_run(folder / "broke.resviz", steps=50, status="failed",
                                 error="RuntimeError: mat1 and mat2 shapes cannot be multiplied (4x10 and 12x2)")
    window = make_window()
    window.open_run_file(failed)
    qtbot.waitUntil(lambda: bool(window.errors), timeout=10_000)
    assert "broke: the run failed" in last_error_text(window) and "mat1 and mat2" in last_error_text(window)
    box = window.last_error
    assert isinstance(box, QMessageBox) and "kept in" in box.detailedText()
    qtbot.waitUntil(lambda: len(window.comparison) == 1 and len(window.comparison.ordered[0]) == 50, timeout=10_000)

    garbage = folder / "garbage.resviz"
    garbage.write_bytes(b"\x00" * 3000)
    window.feed.watch(garbage)  # shown beside the failed run
    qtbot.waitUntil(lambda: len(window.errors) == 2, timeout=10_000)
    assert str(garbage) in last_error_text(window)
    assert len(window.comparison) == 1 and len(window.comparison.ordered[0]) == 50  # nothing recorded is lost
    window.open_run_file(tmp_path / "missing.resviz")
    qtbot.waitUntil(lambda: len(window.errors) == 3, timeout=10_000)
    assert "does not exist" in last_error_text(window)


def test_presentation_mode_is_full_screen_large_and_high_contrast(qtbot, make_window, tmp_path):
    residual, _ = write_twins(tmp_path / "runs", steps=100)
    window = make_window()
    window.open_run_file(residual)
    qtbot.waitUntil(lambda: len(window.comparison) == 2, timeout=10_000)
    normal_size = window.font().pointSizeF()
    window.presentation_action.trigger()  # F11
    assert window.presenting and window.isFullScreen()
    qtbot.waitUntil(lambda: window.font().pointSizeF() > normal_size, timeout=20_000)  # large fonts
    assert window.caption.isVisible() and not window.runs_dock.isVisible()
    heatmap = window.training_view.heatmap
    assert heatmap.theme is PRESENTATION and heatmap.backgroundBrush().color().name() == "#000000"
    qtbot.waitUntil(lambda: "step 100" in window.caption.text(), timeout=20_000)
    window.caption.setText("Where the gradient dies")
    window.caption.textEdited.emit("Where the gradient dies")  # typed by the lecturer: it stays
    window.comparison.timeline.seek(50)
    window.update_caption()
    assert window.caption.text() == "Where the gradient dies"
    window.leave_presentation_action.trigger()  # Esc
    assert not window.presenting and not window.isFullScreen() and window.runs_dock.isVisible()
    assert not window.caption.isVisible()
    qtbot.waitUntil(lambda: window.font().pointSizeF() == normal_size, timeout=20_000)


@pytest.mark.timeout(240)
def test_trains_twins_pauses_resumes_and_stops(qtbot, make_window, tmp_path):
    window = make_window()
    window.open_model_choice(ModelChoice("resnet20"))
    qtbot.waitUntil(lambda: window.loaded is not None, timeout=30_000)
    window.controls.batch_box.setValue(8)
    window.controls.epochs_box.setValue(1)
    window.max_steps = 2000  # far more than the test waits for: it is stopped
    qtbot.mouseClick(window.controls.twins_button, Qt.LeftButton)
    assert window.host.state == "starting" and not window.controls.twins_button.isEnabled()
    comparison = window.comparison
    qtbot.waitUntil(lambda: len(comparison) == 2 and all(len(run) >= 3 for run in comparison.ordered),
                    timeout=150_000)
    names = sorted(run.style.label for run in comparison.ordered)
    assert names == ["plain20", "resnet20"]
    assert window.training_view.frames_drawn > 0

    qtbot.mouseClick(window.controls.pause_button, Qt.LeftButton)
    assert window.host.state == "paused" and window.controls.pause_button.text() == "Resume"
    qtbot.wait(1500)  # steps recorded before the pause reach the file within a flush (1 s)
    paused_at = [len(run) for run in comparison.ordered]
    qtbot.wait(1000)
    assert [len(run) for run in comparison.ordered] == paused_at

    qtbot.mouseClick(window.controls.pause_button, Qt.LeftButton)  # resume
    assert window.host.state == "running"
    qtbot.waitUntil(lambda: all(len(run) > n for run, n in zip(comparison.ordered, paused_at)), timeout=60_000)

    ended = []
    window.host.run_ended.connect(lambda path, status, error: ended.append(status))
    qtbot.mouseClick(window.controls.stop_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: len(ended) == 2, timeout=60_000)
    assert ended == ["stopped", "stopped"]
    qtbot.waitUntil(lambda: window.host.state == "idle", timeout=10_000)
    qtbot.waitUntil(lambda: all(run.status == "stopped" for run in comparison.ordered), timeout=10_000)
    qtbot.waitUntil(lambda: "stopped" in window.run_label.text(), timeout=10_000)
    assert "finished" not in window.run_label.text()  # a stopped run is never called finished
    for run in comparison.ordered:
        with RunReader(run.path) as reader:
            assert reader.step_count() == len(run)  # everything recorded is shown
    assert window.host.child_pids() == [] and window.errors == []


@pytest.mark.timeout(180)
def test_a_failing_run_shows_its_error_and_the_window_keeps_working(qtbot, make_window, tmp_path):
    window = make_window()
    window.open_model_choice(ModelChoice("resnet20", twin=False))
    qtbot.waitUntil(lambda: window.loaded is not None, timeout=30_000)
    window.controls.dataset_box.setCurrentIndex(window.controls.dataset_box.findData("mnist"))
    window.train_one()
    qtbot.waitUntil(lambda: bool(window.errors), timeout=120_000)
    assert "mnist" in last_error_text(window).lower()
    assert window.last_error.windowTitle() == "Training failed"
    qtbot.waitUntil(lambda: window.host.state == "idle", timeout=20_000)
    assert window.controls.one_button.isEnabled()


def test_checkpoints_load_into_the_model_and_bad_ones_are_reported(qtbot, make_window, tmp_path):
    import torch

    from resviz.models import get_model, save_weights

    model = get_model("resnet20")
    good = tmp_path / "good.safetensors"
    save_weights(model, good)
    wrong = tmp_path / "wrong.pt"
    torch.save({"conv1.weight": torch.zeros(3, 3)}, wrong)
    window = make_window()
    window.open_model_choice(ModelChoice("resnet20", twin=False, weights=str(good)))
    qtbot.waitUntil(lambda: window.loaded is not None, timeout=30_000)
    assert window.loaded.main.weights is not None and window.loaded.main.weights.ok
    torch.testing.assert_close(window.loaded.main.model.state_dict()["fc.weight"], model.state_dict()["fc.weight"])
    window.open_model_choice(ModelChoice("resnet20", twin=False, weights=str(wrong)))
    qtbot.waitUntil(lambda: bool(window.errors), timeout=30_000)
    assert "conv1.weight" in last_error_text(window)
    assert window.loaded.choice.weights == str(good)  # the model shown before stays


def test_the_attribution_panel_gets_the_model_and_the_clicked_layer(qtbot, make_window):
    window = make_window()
    window.open_model_choice(ModelChoice.embedded_default())
    qtbot.waitUntil(lambda: window.loaded is not None, timeout=30_000)
    panel = window.attribution
    if not hasattr(panel, "set_models"):
        pytest.fail("the attribution panel is not embedded")
    window.tabs.setCurrentIndex(TABS.index("attribution"))  # handed over when its tab is shown
    assert any("resnet20" in choice for choice in panel.source_choices())
    window.architecture.module_selected.emit("layer2.0.conv1")  # a click on a graph node
    assert panel.layer() == "layer2.0.conv1"


def test_statuses_are_labelled_so_in_the_runs_panel_and_the_status_bar(qtbot, make_window, tmp_path, request):
    folder = tmp_path / "runs"
    folder.mkdir()
    write_trainer_like_run(folder / "done.resviz", status="finished")
    write_trainer_like_run(folder / "halted.resviz", status="stopped", steps=60, eval_steps=(47,))
    write_trainer_like_run(folder / "ctrl-c.resviz", status="stopped", error="interrupted", steps=60,
                           eval_steps=(47,))
    # A run whose writer died without ending it: the file says "running", its process and lock are gone.
    write_trainer_like_run(folder / "killed.resviz", status="finished", steps=60, eval_steps=(47,))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with sqlite3.connect(folder / "killed.resviz") as db:
        db.execute("UPDATE run SET pid = ?, status = 'running' WHERE id = 1", (gone.pid,))
    db.close()
    window = make_window()
    panel = window.runs_panel
    panel.refresh()
    qtbot.waitUntil(lambda: panel.tree.topLevelItemCount() == 4, timeout=10_000)
    words = {name: item.text(0) for name, item in runs_panel_items(panel).items()}
    assert words == {"done": "finished", "halted": "stopped", "ctrl-c": "interrupted", "killed": "interrupted"}
    for name, word in words.items():
        window.open_run_file(folder / f"{name}.resviz")
        qtbot.waitUntil(lambda: len(window.comparison) == 1 and window.comparison.ordered[0].name == name,
                        timeout=10_000)
        qtbot.waitUntil(lambda: word in window.run_label.text(), timeout=10_000)
        assert "finished" not in window.run_label.text() or word == "finished"
        curves = window.training_view.curves
        qtbot.waitUntil(lambda: f"({word})" in curves.title_label.text, timeout=20_000)  # the Training page's legend


def test_a_health_warning_shows_a_banner_live_and_in_replay(qtbot, make_window, tmp_path):
    folder = tmp_path / "runs"
    folder.mkdir()
    writer = write_trainer_like_run(folder / "live.resviz", status=None)  # still being written (by this process)
    message = "loss diverged at step 12 (2.3 -> 10.4); try a lower learning rate (--lr 0.005) or --optimizer adam"
    try:
        window = make_window()
        window.open_run_file(folder / "live.resviz")
        qtbot.waitUntil(lambda: len(window.comparison) == 1 and len(window.comparison.ordered[0]) == 141,
                        timeout=10_000)
        banner = window.training_view.banner
        qtbot.waitUntil(lambda: "live" in window.run_label.text(), timeout=10_000)
        assert not banner.isVisible()
        # Live: the last evaluation is shown at the newest step.
        confusion = window.training_view.confusion
        qtbot.waitUntil(lambda: "step 141" in confusion._matrices[0].plot.titleLabel.text, timeout=20_000)
        writer.add_event(12, "warning", message)
        qtbot.waitUntil(banner.isVisible, timeout=10_000)
        assert message in html.unescape(banner.message.text()) and [w.message for w in banner.warnings] == [message]
    finally:
        writer.finish("finished")
    qtbot.waitUntil(lambda: "finished" in window.run_label.text(), timeout=10_000)
    timeline = window.comparison.timeline
    timeline.seek(5)  # a replay before the warning's step
    qtbot.waitUntil(lambda: not banner.isVisible(), timeout=5_000)
    timeline.seek(12)
    qtbot.waitUntil(banner.isVisible, timeout=5_000)
    qtbot.mouseClick(banner.close_button, Qt.LeftButton)
    assert not banner.isVisible()
    timeline.seek(5)
    timeline.seek(100)
    qtbot.wait(200)
    assert not banner.isVisible()  # dismissed: the same warning does not come back
