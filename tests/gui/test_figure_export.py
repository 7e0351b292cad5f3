"""Exports say where they saved and never replace a file without asking."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox

from resviz.benchmarks.synthetic import write_synthetic_run


def export_depth_profile(window, path):
    dialog = window.show_export_dialog()
    dialog.figure_box.setCurrentIndex(dialog.figure_box.findData("depth_profile"))
    dialog.path_field.setText(str(path))
    dialog.accept()


def test_export_confirms_where_it_saved_and_asks_before_replacing(qtbot, make_window, tmp_path):
    run = write_synthetic_run(tmp_path / "runs" / "r.resviz", steps=30, residual=True)
    window = make_window()
    window.open_run_file(run)
    qtbot.waitUntil(lambda: len(window.comparison) == 1, timeout=10_000)
    path = tmp_path / "out" / "depth.png"
    path.parent.mkdir()
    export_depth_profile(window, path)
    assert path.is_file() and window.exporter.replace_question is None  # a new file: no question
    assert str(path.resolve()) in window.statusBar().currentMessage()

    path.write_bytes(b"the lecturer's earlier figure")
    window.statusBar().clearMessage()
    export_depth_profile(window, path)
    question = window.exporter.replace_question
    assert question is not None and question.isVisible() and str(path) in question.text()
    assert question.defaultButton() is question.button(QMessageBox.No)
    question.button(QMessageBox.No).click()  # keep the old one
    assert path.read_bytes() == b"the lecturer's earlier figure" and window.statusBar().currentMessage() == ""

    export_depth_profile(window, path)
    window.exporter.replace_question.button(QMessageBox.Yes).click()  # replace it
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(path.resolve()) in window.statusBar().currentMessage()
    assert window.errors == []
