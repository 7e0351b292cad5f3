"""Dialogs: errors with expandable details, the trust confirmation, export size, replacing a
file, shortcuts.

Dialogs open window-modal with ``open()`` and report through signals, so the event loop
(and a live run's plots) keep going while one is shown, and tests can answer them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QStyle,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..models import file_sha256


def error_dialog(parent: QWidget | None, title: str, message: str, details: str = "") -> QMessageBox:
    """A warning box with the one-line message; the traceback or full text under "Show Details"."""
    box = QMessageBox(QMessageBox.Warning, title, message, QMessageBox.Ok, parent)
    box.setObjectName("errorDialog")
    box.setTextInteractionFlags(Qt.TextSelectableByMouse)
    if details and details.strip() != message.strip():
        box.setDetailedText(details)
    box.setWindowModality(Qt.WindowModal)
    box.setAttribute(Qt.WA_DeleteOnClose)
    return box


class TrustDialog(QDialog):
    """Asks before a user's model file is run: shows its path and SHA-256.

    ``decided(bool, sha256)`` fires once: True and the digest the user saw when trusted.
    """

    decided = Signal(bool, str)

    def __init__(self, path: str | Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("trustDialog")
        self.setWindowTitle("Run this model file?")
        self.path = Path(path).resolve()
        self.sha256 = file_sha256(self.path)
        heading = QLabel("<b>Run the code in this model file?</b>")
        text = QLabel("Opening this model runs the Python code in the file below with your permissions. "
                      "Only continue if you know where it came from and what it does; the SHA-256 lets you "
                      "check it is the file you expect.")
        text.setWordWrap(True)
        icon = QLabel()
        icon.setPixmap(self.style().standardIcon(QStyle.SP_MessageBoxWarning).pixmap(40, 40))
        top = QHBoxLayout()
        top.addWidget(icon, 0, Qt.AlignTop)
        words = QVBoxLayout()
        words.addWidget(heading)
        words.addWidget(text)
        top.addLayout(words, 1)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.Monospace)
        self.path_field = QLineEdit(str(self.path))
        self.sha_field = QLineEdit(self.sha256)
        for field in (self.path_field, self.sha_field):
            field.setReadOnly(True)
            field.setFont(mono)
            field.setMinimumWidth(560)
        form = QFormLayout()
        form.addRow("File:", self.path_field)
        form.addRow("SHA-256:", self.sha_field)
        self.buttons = QDialogButtonBox()
        self.trust_button = self.buttons.addButton("Trust and run", QDialogButtonBox.AcceptRole)
        self.cancel_button = self.buttons.addButton("Do not run", QDialogButtonBox.RejectRole)
        # Enter or Space must never run code by accident: the safe answer has the default and the focus.
        self.trust_button.setAutoDefault(False)
        self.cancel_button.setDefault(True)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(form)
        layout.addWidget(self.buttons)
        self.setWindowModality(Qt.WindowModal)
        self.cancel_button.setFocus()
        self.finished.connect(lambda result: self.decided.emit(result == QDialog.Accepted, self.sha256))


class ExportDialog(QDialog):
    """Choose a figure, a size in pixels and a file for export."""

    SIZES = (("1920 × 1080 (slide, full HD)", 1920, 1080), ("1280 × 720 (slide)", 1280, 720),
             ("3840 × 2160 (4K)", 3840, 2160), ("1200 × 800 (paper)", 1200, 800),
             ("800 × 600", 800, 600))

    def __init__(self, figures: list[tuple[str, str]], parent: QWidget | None = None, *,
                 folder: str | Path = ".", current: str | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("exportDialog")
        self.setWindowTitle("Export figure")
        self.figure_box = QComboBox()
        for title, slug in figures:
            self.figure_box.addItem(title, slug)
        if current is not None:
            index = self.figure_box.findData(current)
            if index >= 0:
                self.figure_box.setCurrentIndex(index)
        self.size_box = QComboBox()
        for label, width, height in self.SIZES:
            self.size_box.addItem(label, (width, height))
        self.size_box.addItem("custom", None)
        self.width_box = QSpinBox(minimum=16, maximum=16384, value=1920, suffix=" px")
        self.height_box = QSpinBox(minimum=16, maximum=16384, value=1080, suffix=" px")
        size_row = QHBoxLayout()
        size_row.addWidget(self.width_box)
        size_row.addWidget(QLabel("×"))
        size_row.addWidget(self.height_box)
        self.path_field = QLineEdit()
        self.path_field.setMinimumWidth(420)
        browse = QPushButton("Browse…")
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_field, 1)
        path_row.addWidget(browse)
        self.folder = Path(folder)
        form = QFormLayout()
        form.addRow("Figure:", self.figure_box)
        form.addRow("Size:", self.size_box)
        form.addRow("", size_row)
        form.addRow("File (.png, .jpg, .svg):", path_row)
        buttons = QDialogButtonBox(QDialogButtonBox.Save | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.size_box.currentIndexChanged.connect(self._size_chosen)
        self.figure_box.currentIndexChanged.connect(self._suggest_path)
        browse.clicked.connect(self._browse)
        self._size_chosen(0)
        self._suggest_path()
        self.setWindowModality(Qt.WindowModal)

    def _size_chosen(self, index: int) -> None:
        size = self.size_box.itemData(index)
        custom = size is None
        self.width_box.setEnabled(custom)
        self.height_box.setEnabled(custom)
        if size is not None:
            self.width_box.setValue(size[0])
            self.height_box.setValue(size[1])

    def _suggest_path(self) -> None:
        slug = self.figure_box.currentData() or "figure"
        suffix = Path(self.path_field.text()).suffix or ".png"
        self.path_field.setText(str(self.folder / f"{slug}{suffix}"))

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export figure", self.path_field.text(),
                                              "PNG image (*.png);;SVG drawing (*.svg);;JPEG image (*.jpg)")
        if path:
            self.path_field.setText(path)

    @property
    def slug(self) -> str:
        return self.figure_box.currentData()

    @property
    def size(self) -> tuple[int, int]:
        return self.width_box.value(), self.height_box.value()

    @property
    def path(self) -> Path:
        return Path(self.path_field.text()).expanduser()


class ShortcutsDialog(QDialog):
    """Every menu action that has a keyboard shortcut, in one table."""

    def __init__(self, actions: list, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        rows = [(a.text().replace("&", "").rstrip("…."), a.shortcut().toString(QKeySequence.NativeText))
                for a in actions if not a.shortcut().isEmpty()]
        table = QTableWidget(len(rows), 2)
        table.setHorizontalHeaderLabels(["Action", "Shortcut"])
        for row, (name, keys) in enumerate(rows):
            table.setItem(row, 0, QTableWidgetItem(name))
            table.setItem(row, 1, QTableWidgetItem(keys))
        table.resizeColumnsToContents()
        table.horizontalHeader().setStretchLastSection(True)
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QTableWidget.NoEditTriggers)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(table)
        layout.addWidget(buttons)
        self.table = table
        # Wide enough for the longest name and its keys, so nothing is cut off.
        width = table.horizontalHeader().length() + table.verticalScrollBar().sizeHint().width() + 48
        self.resize(max(460, width), 520)


def ask_to_replace(parent: QWidget, paths: Sequence[Path], save: Callable[[], None]) -> QMessageBox | None:
    """Call ``save`` now when none of ``paths`` exists; else ask first (window-modal, "Keep" by
    default) and call it only if the user chooses to replace. Returns the question, if asked."""
    existing = [Path(p) for p in paths if Path(p).exists()]
    if not existing:
        save()
        return None
    names = "\n".join(str(p) for p in existing)
    box = QMessageBox(QMessageBox.Question, "Replace the existing file?",
                      f"{'This file exists' if len(existing) == 1 else 'These files exist'}:\n{names}\n\n"
                      "Replace it with the new export?", QMessageBox.Yes | QMessageBox.No, parent)
    box.setObjectName("replaceQuestion")
    box.button(QMessageBox.Yes).setText("Replace")
    box.button(QMessageBox.No).setText("Keep the old one")
    box.setDefaultButton(QMessageBox.No)
    box.buttonClicked.connect(lambda button: save() if box.standardButton(button) == QMessageBox.Yes else None)
    box.setWindowModality(Qt.WindowModal)
    box.open()
    return box


def ask_png_export(parent: QWidget, title: str, default_name: str,
                   save: Callable[[Path], None]) -> QMessageBox | None:
    """Ask where to save a PNG and call ``save(path)``. The file dialog asks before replacing the
    file it names; when ".png" had to be added, that file is asked about here. Returns the
    replace question, if one was asked."""
    path, _ = QFileDialog.getSaveFileName(parent, title, default_name, "PNG image (*.png)")
    if not path:
        return None
    target = Path(path if path.lower().endswith(".png") else path + ".png")
    return ask_to_replace(parent, [] if target == Path(path) else [target], lambda: save(target))


def announce_saved(widget: QWidget, paths: Sequence[Path]) -> str:
    """Say in the window's status bar where an export was saved; returns the message."""
    message = "saved " + ", ".join(str(Path(p).resolve()) for p in paths)
    window = widget.window()
    if isinstance(window, QMainWindow):
        window.statusBar().showMessage(message, 10000)
    return message
