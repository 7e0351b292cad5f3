"""The architecture view's bar: title, level of detail, "Fold repeats", search, zoom, Fit, Export
and Details. The level and folding it shows are the model's (it listens to the model's state);
a choice made here is written to the model, never kept here.
"""

from __future__ import annotations

import shiboken6
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QLineEdit, QToolButton, QWidget

from ..graph import LEVELS
from ..views.architecture import ArchitectureModel
from .fitting import FlowLayout, group


class ArchitectureToolbar(QWidget):
    """Signals for what the view does itself: ``search_requested(str)``, ``zoom_requested(float)``
    (a factor), ``fit_requested()``, ``export_requested()``; ``details_button`` toggles the pane."""

    search_requested = Signal(str)
    zoom_requested = Signal(float)
    fit_requested = Signal()
    export_requested = Signal()

    def __init__(self, model: ArchitectureModel, parent: QWidget | None = None, *, show_details: bool = True) -> None:
        super().__init__(parent)
        self.model = model
        self.title_label = QLabel(model.title)
        font = self.title_label.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.title_label.setFont(font)
        self.level_box = QComboBox()
        self.level_box.addItems(list(LEVELS))
        self.level_box.setCurrentText(model.level)
        self.level_box.setToolTip("Level of detail: collapse or expand every block of a level")
        self.level_box.currentTextChanged.connect(self._on_level_box)
        self.fold_check = QCheckBox("Fold repeats")
        self.fold_check.setToolTip("Draw runs of identical blocks as one box (\"BasicBlock ×9\")")
        self.fold_check.setChecked(model.state.fold)
        self.fold_check.toggled.connect(self._on_fold_check)
        self.search_box = QLineEdit()
        self.search_box.setPlaceholderText("Find module…")
        self.search_box.setClearButtonEnabled(True)
        self.search_box.setMaximumWidth(200)
        self.search_box.returnPressed.connect(lambda: self.search_requested.emit(self.search_box.text()))
        self.search_status = QLabel("")
        self.search_status.setStyleSheet("color: #7B8794;")
        buttons = []
        for text, tip, slot in (("−", "Zoom out (−)", lambda: self.zoom_requested.emit(0.8)),
                                ("+", "Zoom in (+)", lambda: self.zoom_requested.emit(1.25)),
                                ("Fit", "Fit the whole graph in the view (F)", self.fit_requested.emit),
                                ("Export…", "Save the graph as PNG or SVG", self.export_requested.emit)):
            button = QToolButton()
            button.setText(text)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            buttons.append(button)
        self.details_button = QToolButton()
        self.details_button.setText("Details")
        self.details_button.setToolTip("Show or hide the details of the selected module")
        self.details_button.setCheckable(True)
        self.details_button.setChecked(show_details)

        # The bar wraps (title, level and folding, search, buttons) when its pane is narrow, so
        # twin panes side by side fit a 1024-pixel screen.
        bar = FlowLayout(self, spacing=6)
        bar.setContentsMargins(4, 2, 4, 2)
        bar.addWidget(self.title_label)
        bar.addWidget(group(QLabel("Level"), self.level_box, self.fold_check))
        bar.addWidget(group(self.search_box, self.search_status))
        bar.addWidget(group(*buttons, self.details_button))

        model.state.events.level.connect(self._show_level)
        model.state.events.fold.connect(self._show_fold)

    def _on_level_box(self, level: str) -> None:
        if level != self.model.level:
            self.model.set_level(level)

    def _on_fold_check(self, fold: bool) -> None:
        self.model.state.fold = fold

    def _show_level(self, level: str) -> None:
        if shiboken6.isValid(self.level_box):
            self.level_box.blockSignals(True)
            self.level_box.setCurrentText(level)
            self.level_box.blockSignals(False)

    def _show_fold(self, fold: bool) -> None:
        if shiboken6.isValid(self.fold_check):
            self.fold_check.blockSignals(True)
            self.fold_check.setChecked(fold)
            self.fold_check.blockSignals(False)
