"""The PNG export question the panels share: the file dialog's path, ".png" added when it is
missing, and a question before replacing a file the dialog did not ask about."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from resviz.gui.dialogs import ask_png_export


def test_a_png_export_adds_the_suffix_and_asks_before_replacing_what_the_dialog_did_not(qtbot, tmp_path,
                                                                                          monkeypatch):
    parent = QWidget()
    qtbot.addWidget(parent)
    chosen = {"path": str(tmp_path / "figure")}
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args, **kwargs: (chosen["path"], ""))
    saved = []
    assert ask_png_export(parent, "Export", "figure.png", saved.append) is None   # a new file: saved at once
    assert saved == [tmp_path / "figure.png"]
    (tmp_path / "figure.png").write_bytes(b"old")
    question = ask_png_export(parent, "Export", "figure.png", saved.append)      # ".png" added: asked here
    assert question is not None and len(saved) == 1
    question.button(QMessageBox.Yes).click()
    assert saved == [tmp_path / "figure.png"] * 2
    chosen["path"] = str(tmp_path / "figure.png")   # the dialog named it itself (and asked): saved at once
    assert ask_png_export(parent, "Export", "figure.png", saved.append) is None and len(saved) == 3
    chosen["path"] = ""                                  # cancelled
    assert ask_png_export(parent, "Export", "figure.png", saved.append) is None and len(saved) == 3
