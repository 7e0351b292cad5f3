"""Lesion studies on the "Why it trains" page (Veit et al. 2016): the accuracy with each block
deleted, plain and residual bars side by side on one 0-1 scale, accuracy against k blocks deleted,
and a clickable block list per side: ticking a block deletes it, and the page shows the accuracy
of the net without the ticked blocks (computed in a worker)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from ..views.why_it_trains import LESION_SAMPLES, SIDES, WhyItTrains, accuracy_deleted, compute_lesion
from .lens_panel import SIDE_COLOURS, LensPanel, add_plot
from .workers_tasks import MODEL_LOCK


class LesionPanel(LensPanel):
    lens = "lesion"
    title = "Lesion: blocks deleted at test time"

    def __init__(self, model: WhyItTrains, parent: QWidget | None = None) -> None:
        super().__init__(model, parent)
        self.compute_button = QPushButton("Compute")
        self.compute_button.clicked.connect(self.compute)
        self.controls.addWidget(self.compute_button)
        self.controls.addWidget(QLabel("tick to delete:"))
        self.block_lists: dict[str, QListWidget] = {}
        self.accuracy_labels: dict[str, QLabel] = {}
        for side in SIDES:
            column = QVBoxLayout()
            label = QLabel(side)
            label.setWordWrap(True)
            blocks = QListWidget()
            blocks.setObjectName(f"lesionBlocks_{side}")
            blocks.setMaximumHeight(90)
            blocks.setMinimumWidth(60)
            blocks.itemChanged.connect(lambda item, side=side: self._on_item_changed(side, item))
            column.addWidget(label)
            column.addWidget(blocks)
            self.controls.addLayout(column, 1)
            self.block_lists[side], self.accuracy_labels[side] = blocks, label
        self.single_plot = add_plot(self, "accuracy with one block deleted", "block", "accuracy", 0, 0)
        self.random_plot = add_plot(self, "accuracy with k blocks deleted", "k", "accuracy", 0, 1)
        self.bars = {side: pg.BarGraphItem(x=[], height=[], width=0.4) for side in SIDES}
        for bars in self.bars.values():
            self.single_plot.addItem(bars)
        self.random_curves = {side: self.random_plot.plot() for side in SIDES}
        self._pending: str | None = None

    def compute(self) -> bool:
        runs = [self.model.runs[s] for s in SIDES if s in self.model.runs]
        if not runs:
            self.status.setText("Open a run file (or train the twins) to delete its blocks.")
            return False

        def job(progress, cancel):
            found = {}
            for index, run in enumerate(runs):
                def report(fraction: float, index: int = index) -> None:
                    progress(int(1000 * (index + fraction)), 1000 * len(runs), "")
                with MODEL_LOCK:
                    found[run.side] = compute_lesion(run, progress=report, cancel=cancel)
            return found

        self.start(job, self._computed, f"Deleting each block of {len(runs)} run(s) on {LESION_SAMPLES} test images…")
        return True

    def _computed(self, found: dict) -> None:
        self.model.lesions.update(found)
        for side in found:
            self.model.deleted[side] = set()
            self.model.deleted_accuracy.pop(side, None)
        self.status.setText("Computed and stored in the run file(s).")
        self.redraw()

    def toggle_block(self, side: str, block: str) -> None:
        """Delete ``block`` of ``side`` (or bring it back), as ticking it in the list does."""
        blocks = self.block_lists[side]
        for row in range(blocks.count()):
            item = blocks.item(row)
            if item.text() == block:
                item.setCheckState(Qt.Unchecked if item.checkState() == Qt.Checked else Qt.Checked)
                return

    def _on_item_changed(self, side: str, item: QListWidgetItem) -> None:
        deleted = self.model.toggle_deleted(side, item.text())
        run = self.model.runs.get(side)
        if run is None:
            return
        self.accuracy_labels[side].setText(f"{side}: scoring {len(deleted)} deleted…")

        def job(progress, cancel):
            with MODEL_LOCK:
                return side, frozenset(deleted), accuracy_deleted(run, sorted(deleted))

        self.start(job, self._scored, f"Scoring {run.label} without {len(deleted)} block(s)…")

    def _scored(self, result) -> None:
        side, deleted, accuracy = result
        if deleted == frozenset(self.model.deleted[side]):
            self.model.deleted_accuracy[side] = accuracy
        self.status.setText("")
        self._show_accuracy()

    def _update_enabled(self) -> None:
        super()._update_enabled()
        if hasattr(self, "compute_button"):
            self.compute_button.setEnabled(self.task is None)

    def _show_accuracy(self) -> None:
        for side in SIDES:
            study = self.model.lesions.get(side)
            text = side
            if study is not None:
                text = f"{side}: {study.baseline:.0%} with every block"
            if side in self.model.deleted_accuracy:
                text = (f"{side}: {self.model.deleted_accuracy[side]:.0%} without "
                        f"{len(self.model.deleted[side])} block(s)")
            self.accuracy_labels[side].setText(text)

    def redraw(self) -> None:
        width = self.theme.line_width
        for offset, side in zip((-0.2, 0.2), SIDES):
            study = self.model.lesions.get(side)
            blocks = self.block_lists[side]
            names = self.model.lesion_blocks(side)
            if [blocks.item(r).text() for r in range(blocks.count())] != names:
                blocks.blockSignals(True)
                blocks.clear()
                for name in names:
                    item = QListWidgetItem(name)
                    item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
                    item.setCheckState(Qt.Checked if name in self.model.deleted[side] else Qt.Unchecked)
                    blocks.addItem(item)
                blocks.blockSignals(False)
            if study is None:
                self.bars[side].setOpts(x=[], height=[])
                self.random_curves[side].setData([], [])
                continue
            self.bars[side].setOpts(x=np.arange(len(study.single)) + offset, height=study.single, width=0.4,
                                    brush=SIDE_COLOURS[side], pen=pg.mkPen(None))
            if study.random.size:
                self.random_curves[side].setData(study.ks, study.random.mean(1),
                                                 pen=pg.mkPen(SIDE_COLOURS[side], width=width), symbol="o",
                                                 symbolBrush=SIDE_COLOURS[side], symbolSize=self.theme.marker_size)
        for plot in (self.single_plot, self.random_plot):
            plot.setYRange(0.0, 1.0, padding=0.02)
        self._show_accuracy()
