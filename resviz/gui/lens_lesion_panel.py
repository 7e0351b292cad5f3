"""Lesion studies on the "Why it trains" page (Veit et al. 2016): the accuracy with each block
deleted, plain and residual bars side by side on one 0-1 scale, accuracy against k blocks deleted,
and both twins' block graphs: a click on a block deletes it from both twins (a second click brings
it back), the deleted boxes turn grey, and the page shows each net's accuracy without them
(computed in a worker, on the checkpoint and test images the study used)."""

from __future__ import annotations

import copy

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ..views.why_it_trains import (
    LESION_SAMPLES,
    SIDES,
    WhyItTrains,
    accuracy_deleted,
    compute_lesion,
    load_run,
)
from .lens_panel import SIDE_COLOURS, LensPanel, add_plot, run_progress
from .twin_architecture_view import TwinArchitectureView, twin_model_at_level
from .workers_tasks import MODEL_LOCK

BLOCKS_ZOOM = 0.08  # a deep net's blocks fit their pane whole: they are there to be clicked, not read
CLICK_HINT = "Click a block in the graphs to delete it from both twins (again: back)."


class LesionPanel(LensPanel):
    lens = "lesion"
    title = "Lesion: blocks deleted at test time"

    def __init__(self, model: WhyItTrains, parent: QWidget | None = None) -> None:
        super().__init__(model, parent)
        self.add_compute_button()
        labels = QVBoxLayout()
        self.hint = QLabel(CLICK_HINT)
        self.hint.setWordWrap(True)
        labels.addWidget(self.hint)
        accuracies = QHBoxLayout()   # both nets' accuracy on one line: the plots keep the height
        self.accuracy_labels: dict[str, QLabel] = {}
        for side in SIDES:
            label = QLabel(side)
            label.setWordWrap(True)
            accuracies.addWidget(label, 1)
            self.accuracy_labels[side] = label
        labels.addLayout(accuracies)
        self.controls.addLayout(labels, 1)
        self.single_plot = add_plot(self, "accuracy with one block deleted", "block", "accuracy", 0, 0)
        self.random_plot = add_plot(self, "accuracy with k blocks deleted", "k", "accuracy", 1, 0)
        self.bars = {side: pg.BarGraphItem(x=[], height=[], width=0.4) for side in SIDES}
        for bars in self.bars.values():
            self.single_plot.addItem(bars)
        self.random_curves = {side: self.random_plot.plot() for side in SIDES}
        # Every block its own box (blocks level, repeats not folded), so each can be clicked.
        self.architecture = TwinArchitectureView(model=twin_model_at_level("blocks", fold=False))
        self.architecture.setObjectName("lesionBlocks")
        self.graph_views = dict(zip(SIDES, self.architecture.views))
        self.architecture.show_only_graphs(BLOCKS_ZOOM)   # room for the blocks: no legends, no tools
        for view in self.graph_views.values():
            view.module_selected.connect(self.click_block)
        self.add_beside_plots(self.architecture, 1)
        self.body.setSizes([1000, 1000])   # half the width each, whatever their size hints
        self._graph_runs: dict[str, object] = {}   # side -> the run path whose blocks are drawn
        self._graphs_shown: list[bool] = []
        self._work = ""   # what the worker does now: "study", "graphs" or "score"

    # -- the study -----------------------------------------------------------------------------

    def compute(self) -> bool:
        runs = [self.model.runs[s] for s in SIDES if s in self.model.runs]
        if not runs:
            self.status.setText("Open a run file (or train the twins) to delete its blocks.")
            return False

        def job(progress, cancel):
            found = {}
            for index, run in enumerate(runs):
                report = run_progress(progress, index, len(runs))
                with MODEL_LOCK:
                    lens_run = load_run(run, LESION_SAMPLES)
                    study = compute_lesion(run, progress=report, cancel=cancel, lens_run=lens_run)
                    found[run.side] = (study, lens_run, copy.deepcopy(lens_run.model))
            return found

        self._work = "study"
        self.start(job, self._computed, f"Deleting each block of {len(runs)} run(s) on {LESION_SAMPLES} test images…")
        return True

    def _computed(self, found: dict) -> None:
        for side, (study, lens_run, drawn) in found.items():
            self.model.lesions[side] = study
            self.model.set_lesion_run(side, lens_run)
            self._draw_blocks(side, drawn, lens_run)
        self.status.setText("Computed and stored in the run file(s).")
        self.redraw()

    # -- the blocks' graphs --------------------------------------------------------------------

    def _draw_blocks(self, side: str, model, lens_run) -> None:
        """Draw ``side``'s net (a copy of it: the lesion hooks into the original) to click on."""
        view = self.graph_views[side]
        view.set_model(model, lens_run.inputs[:1].clone(), lens_run.label)
        self._graph_runs[side] = lens_run.path
        self._show_graphs()

    def _show_graphs(self) -> None:
        """Show the graph of each side whose run is drawn (one of runs shown before is not)."""
        shown = []
        for side, view in self.graph_views.items():
            run = self.model.runs.get(side)
            view.setVisible(run is not None and self._graph_runs.get(side) == run.path)
            shown.append(not view.isHidden())
        self.architecture.setVisible(any(shown))
        if shown != self._graphs_shown:   # a pane shown again would keep the width it had hidden
            self._graphs_shown = shown
            self.architecture.splitter.setSizes([1000 if on else 0 for on in shown])

    def _load_graphs(self) -> None:
        """Replay: a study read from the run files has no graph yet; load the runs to draw them."""
        missing = [self.model.runs[s] for s in SIDES
                   if s in self.model.lesions and s in self.model.runs
                   and self._graph_runs.get(s) != self.model.runs[s].path]
        if not missing or self.task is not None:
            return

        def job(progress, cancel):
            loaded = {}
            for run in missing:
                with MODEL_LOCK:
                    lens_run = load_run(run, LESION_SAMPLES)
                    loaded[run.side] = (lens_run, copy.deepcopy(lens_run.model))
            return loaded

        self._work = "graphs"
        self.start(job, self._graphs_loaded, "Loading the runs to draw their blocks…")

    def _graphs_loaded(self, loaded: dict) -> None:
        for side, (lens_run, drawn) in loaded.items():
            self.model.set_lesion_run(side, lens_run)
            self._draw_blocks(side, drawn, lens_run)
        self.status.setText("")
        self._mark_deleted()

    # -- deleting by hand ----------------------------------------------------------------------

    def click_block(self, name: str) -> None:
        """A click on ``name`` in either graph: delete its block from both twins, or bring it back."""
        if self.task is not None and self._work != "score":
            self.status.setText("Deleting by hand waits for the lesion study: click again once it is done.")
            return
        changed = self.model.toggle_block(name)
        if not changed:
            self.status.setText(f"{name} is not a block the lesion can delete.")
            return
        self._mark_deleted()
        self._show_accuracy()   # a side with every block back shows the study's own accuracy
        runs = {side: self.model.runs[side] for side in changed if side in self.model.runs and changed[side]}
        if not runs:
            return
        deleted = {side: frozenset(self.model.deleted[side]) for side in runs}
        lens_runs = {side: self.model.lesion_runs.get(side) for side in runs}
        for side in runs:
            self.accuracy_labels[side].setText(f"{side}: scoring without {len(deleted[side])} block(s)…")

        def job(progress, cancel):
            scored = {}
            with MODEL_LOCK:
                for side, run in runs.items():
                    lens_run = lens_runs[side] or load_run(run, LESION_SAMPLES)
                    scored[side] = (deleted[side], accuracy_deleted(run, sorted(deleted[side]), lens_run=lens_run))
            return scored

        self._work = "score"
        self.start(job, self._scored, f"Scoring the twins without {len(next(iter(deleted.values())))} block(s)…")

    def _scored(self, scored: dict) -> None:
        for side, (deleted, accuracy) in scored.items():
            if deleted == frozenset(self.model.deleted[side]):   # not changed by a later click
                self.model.deleted_accuracy[side] = accuracy
        self.status.setText("")
        self._show_accuracy()

    def _mark_deleted(self) -> None:
        for side, view in self.graph_views.items():
            view.model.set_marked(self.model.deleted[side])

    # -- drawing -------------------------------------------------------------------------------

    def _show_accuracy(self) -> None:
        for side in SIDES:
            study = self.model.lesions.get(side)
            text = side
            if study is not None:
                text = f"{side}: {study.baseline:.0%} with every block"
            if side in self.model.deleted_accuracy:
                deleted = sorted(self.model.deleted[side])
                names = ", ".join(deleted) if len(deleted) <= 3 else f"{len(deleted)} blocks"
                text = f"{side}: {self.model.deleted_accuracy[side]:.0%} without {names}"
            self.accuracy_labels[side].setText(text)

    def redraw(self) -> None:
        width = self.theme.line_width
        for offset, side in zip((-0.2, 0.2), SIDES):
            study = self.model.lesions.get(side)
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
        self._show_graphs()
        self._mark_deleted()
        self._show_accuracy()
        if self.isVisible():
            self._load_graphs()

    def apply_theme(self, theme) -> None:
        super().apply_theme(theme)
        self.architecture.apply_theme(theme)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._load_graphs()

    def shutdown(self, timeout_ms: int = 30000) -> None:
        super().shutdown(timeout_ms)
        self.architecture.shutdown(timeout_ms)
