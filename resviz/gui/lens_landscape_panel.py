"""The loss landscape on the "Why it trains" page: each run's 2-D slice around its latest
checkpoint (Li et al. 2018), plain and residual side by side on one colour scale (log10 loss),
computed in a worker and stored in each run file; stored ones are shown without recomputing."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QLabel, QSpinBox, QWidget

from ..lenses.landscape import MAX_GRID
from ..views.why_it_trains import LANDSCAPE_SAMPLES, SIDES, WhyItTrains, compute_landscape
from .lens_panel import LensPanel, add_plot, run_progress
from .theme import colour_map, lookup_table
from .workers_tasks import MODEL_LOCK


class LandscapePanel(LensPanel):
    lens = "landscape"
    title = "Loss landscape around the checkpoint"

    def __init__(self, model: WhyItTrains, parent: QWidget | None = None) -> None:
        super().__init__(model, parent)
        self.grid_box = QSpinBox()
        self.grid_box.setRange(3, MAX_GRID)
        self.grid_box.setValue(model.landscape_grid)
        self.grid_box.valueChanged.connect(lambda value: setattr(model, "landscape_grid", value))
        self.controls.addWidget(QLabel("grid"))
        self.controls.addWidget(self.grid_box)
        self.add_compute_button()
        self.controls.addStretch(1)
        self.images: dict[str, pg.ImageItem] = {}
        self.side_plots: dict[str, pg.PlotItem] = {}
        for col, side in enumerate(SIDES):
            # One "direction 2" label for the row: the second plot shares the first one's axes.
            plot = add_plot(self, side, "direction 1", "direction 2" if col == 0 else "", 0, col)
            image = pg.ImageItem()
            image.setLookupTable(lookup_table())
            plot.addItem(image)
            self.images[side], self.side_plots[side] = image, plot
        self.colour_bar = pg.ColorBarItem(values=(0.0, 1.0), colorMap=colour_map(), interactive=False,
                                          label="log10 loss")
        self.graphics.addItem(self.colour_bar, row=0, col=len(SIDES))

    def compute(self) -> bool:
        """Compute the landscape of every run shown, in a worker, at the chosen grid."""
        runs = [self.model.runs[s] for s in SIDES if s in self.model.runs]
        if not runs:
            self.status.setText("Open a run file (or train the twins) to see its loss landscape.")
            return False
        grid = self.model.landscape_grid

        def job(progress, cancel):
            found = {}
            for index, run in enumerate(runs):
                report = run_progress(progress, index, len(runs))
                with MODEL_LOCK:
                    found[run.side] = compute_landscape(run, grid, progress=report, cancel=cancel)
            return found

        self.start(job, self._computed, f"Computing a {grid}×{grid} landscape of {len(runs)} run(s) on "
                                        f"{LANDSCAPE_SAMPLES} test images…")
        return True

    def _computed(self, found: dict) -> None:
        self.model.landscapes.update(found)
        self.status.setText("Computed and stored in the run file(s).")
        self.redraw()

    def redraw(self) -> None:
        scale = self.model.landscape_scale()
        for side in SIDES:
            landscape = self.model.landscapes.get(side)
            image, plot = self.images[side], self.side_plots[side]
            name = side
            if landscape is None or landscape.loss is None or scale is None:
                image.clear()
                plot.setTitle(f"{name}<br>not computed", color=self.theme.foreground)
                continue
            low, high = scale
            values = np.log10(np.maximum(np.nan_to_num(landscape.loss, nan=10 ** high, posinf=10 ** high), 1e-12))
            image.setImage(np.clip(values, low, high).T, levels=(low, high), autoLevels=False)
            span = landscape.span
            image.setRect(QRectF(-span, -span, 2 * span, 2 * span))
            plot.setTitle(f"{name}<br>{landscape.roughness:.2f} bumps/line", color=self.theme.foreground)  # two short lines: a narrow panel fits both plots
        if scale is not None:
            self.colour_bar.setLevels(scale)
