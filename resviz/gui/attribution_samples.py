"""The samples box of the attribution panel: a data set's samples and image files to pick from.

The picker shows the samples offered (image files first, then the data set's pool) and writes
the picked ones to the ``AttributionRequest``; it follows the request's choice and data set.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..attribution.grid import SampleSet, merge_samples
from ..attribution.sources import Samples
from ..views.attribution import AttributionRequest, one_per_class
from .attribution_drawing import numpy_to_qimage

DEFAULT_SELECTION = 4


class SamplePicker(QGroupBox):
    """Signals: ``dataset_chosen(str)`` (the user picked another data set), ``add_files_clicked()``."""

    dataset_chosen = Signal(str)
    add_files_clicked = Signal()

    def __init__(self, request: AttributionRequest, parent: QWidget | None = None) -> None:
        super().__init__("Samples", parent)
        from ..data import DATASETS

        self.request = request
        self.files: Samples | None = None  # image files the user added
        self.pool: SampleSet | None = None  # the data set's samples
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        self.dataset_box = QComboBox()
        self.dataset_box.addItems(list(DATASETS))
        self.dataset_box.setCurrentText(request.dataset)
        self.dataset_box.setToolTip("The data set to take samples from (shapes needs no download)")
        self.dataset_box.currentTextChanged.connect(self.dataset_chosen)
        row.addWidget(QLabel("data set"))
        row.addWidget(self.dataset_box, 1)
        layout.addLayout(row)
        self.sample_list = QListWidget()
        self.sample_list.setViewMode(QListWidget.ViewMode.IconMode)
        self.sample_list.setIconSize(QSize(48, 48))
        self.sample_list.setGridSize(QSize(64, 72))
        self.sample_list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.sample_list.setMovement(QListWidget.Movement.Static)
        self.sample_list.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        self.sample_list.setMinimumHeight(160)
        self.sample_list.setToolTip("Click to pick the samples to explain (one row each)")
        self.sample_list.itemSelectionChanged.connect(self._on_picked)
        layout.addWidget(self.sample_list)
        row = QHBoxLayout()
        add_file = QPushButton("Add image…")
        add_file.setToolTip("Explain an image file (converted to the model's input size and channels)")
        add_file.clicked.connect(self.add_files_clicked)
        one_each = QPushButton("One per class")
        one_each.setToolTip("Pick the first sample of each class")
        one_each.clicked.connect(self.pick_one_per_class)
        row.addWidget(add_file)
        row.addWidget(one_each)
        layout.addLayout(row)
        request.events.samples.connect(self._show_samples)
        request.events.dataset.connect(self._show_dataset)

    def pick_one_per_class(self) -> None:
        """Pick the first sample of each class (image files, which have no class, are left out)."""
        samples = self.all_samples()
        if samples is None:
            return
        self.request.samples = one_per_class(samples.labels, DEFAULT_SELECTION)

    def all_samples(self) -> Samples | None:
        """Every sample offered, image files first; None when there is none."""
        return merge_samples([self.files, self.pool.samples if self.pool else None])

    def sample_names(self) -> list[str]:
        samples = self.all_samples()
        return list(samples.names) if samples is not None else []

    def set_pool(self, pool: SampleSet | None) -> None:
        """The data set's samples (None while another data set loads); the first few are picked."""
        self.pool = pool
        self._fill(select=DEFAULT_SELECTION if pool is not None else 0)

    def add_files(self, added: Samples) -> None:
        """Image files, listed after the files before them and picked, beside what was picked."""
        previous = self.request.samples
        files_before = len(self.files.names) if self.files is not None else 0
        self.files = merge_samples([self.files, added])
        shift = len(added.names)
        self._fill()
        self.request.samples = ([i + shift if i >= files_before else i for i in previous]
                                + list(range(files_before, files_before + shift)))

    def _fill(self, select: int | None = None) -> None:
        from ..attribution.inputs import to_display

        self.sample_list.blockSignals(True)
        self.sample_list.clear()
        shown = self._names_and_images()
        for index, (image, name) in enumerate(shown):
            item = QListWidgetItem(QIcon(QPixmap.fromImage(numpy_to_qimage(to_display(image)))),
                                   self._short_name(index))
            item.setToolTip(name)
            self.sample_list.addItem(item)
        self.sample_list.blockSignals(False)
        self.request.set_sample_count(len(shown), range(select) if select is not None else None)
        self._show_samples(self.request.samples)

    def _names_and_images(self) -> list[tuple[np.ndarray, str]]:
        samples = self.all_samples()
        if samples is None:
            return []
        out = []
        for i, name in enumerate(samples.names):
            label = ""
            if samples.labels is not None and samples.classes and samples.labels[i] >= 0:
                label = f": {samples.classes[int(samples.labels[i])]}"
            out.append((samples.images[i], name + label))
        return out

    def _short_name(self, index: int) -> str:
        samples = self.all_samples()
        if samples is None:
            return ""
        files = len(self.files.names) if self.files is not None else 0
        if index < files:
            return Path(samples.names[index]).stem[:10]
        if samples.labels is not None and samples.classes and samples.labels[index] >= 0:
            return samples.classes[int(samples.labels[index])]
        return f"#{index}"

    def _on_picked(self) -> None:
        self.request.samples = [self.sample_list.row(item) for item in self.sample_list.selectedItems()]

    def _show_samples(self, indices: Sequence[int]) -> None:
        wanted = set(indices)
        self.sample_list.blockSignals(True)
        for row in range(self.sample_list.count()):
            self.sample_list.item(row).setSelected(row in wanted)
        self.sample_list.blockSignals(False)

    def _show_dataset(self, dataset: str) -> None:
        self.dataset_box.blockSignals(True)
        if self.dataset_box.findText(dataset) < 0:
            self.dataset_box.addItem(dataset)
        self.dataset_box.setCurrentText(dataset)
        self.dataset_box.blockSignals(False)
