"""The paths gradients take on the "Why it trains" page (Veit et al. 2016, Fig. 6): for the
residual run, the share of the input gradient carried by paths of each length (bars) and the
binomial distribution of path lengths (line), on one 0-1 scale; stored in the run file."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from ..views.why_it_trains import PATHS_BATCH, PATHS_SAMPLES, WhyItTrains, compute_paths
from .lens_panel import SIDE_COLOURS, LensPanel, add_plot
from .workers_tasks import MODEL_LOCK


class PathsPanel(LensPanel):
    lens = "paths"
    title = "The paths gradients take (residual run)"

    def __init__(self, model: WhyItTrains, parent: QWidget | None = None) -> None:
        super().__init__(model, parent)
        self.add_compute_button()
        self.controls.addStretch(1)
        self.plot = add_plot(self, "share of gradient by path length", "path length (blocks)", "fraction", 0, 0)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.8)
        self.plot.addItem(self.bars)
        self.binomial = self.plot.plot(name="paths of each length (binomial)")
        legend = self.plot.addLegend(offset=(-10, 10))
        legend.addItem(self.bars, "share of the gradient")
        legend.addItem(self.binomial, "paths of each length (binomial)")

    def compute(self) -> bool:
        run = self.model.runs.get("residual")
        if run is None:
            self.status.setText("Open a residual run (or train the twins) to follow its gradient's paths.")
            return False

        def job(progress, cancel):
            with MODEL_LOCK:
                return compute_paths(run, progress=lambda done, total: progress(done, total, ""),
                                     cancelled=cancel.is_set)

        self.start(job, self._computed, f"Following the paths of {run.label}: {PATHS_SAMPLES} paths per length, "
                                        f"{PATHS_BATCH} test images…")
        return True

    def _computed(self, share) -> None:
        self.model.paths["residual"] = share
        self.status.setText("Computed and stored in the run file.")
        self.redraw()

    def redraw(self) -> None:
        paths = self.model.paths.get("residual")
        if paths is None:
            self.bars.setOpts(x=[], height=[])
            self.binomial.setData([], [])
            return
        lengths = np.arange(len(paths.share))
        self.bars.setOpts(x=lengths, height=np.nan_to_num(paths.share), width=0.8, brush=SIDE_COLOURS["residual"],
                          pen=pg.mkPen(None))
        self.binomial.setData(lengths, paths.distribution, pen=pg.mkPen(self.theme.foreground,
                                                                        width=self.theme.line_width),
                              symbol="o", symbolBrush=self.theme.foreground, symbolSize=self.theme.marker_size)
        self.plot.setYRange(0.0, max(1e-6, float(np.nanmax([paths.share.max(), paths.distribution.max()]))) * 1.1,
                            padding=0)
        if not self.is_busy():
            self.status.setText(f"{len(paths.share) - 1} residual blocks; mean path length carrying the gradient "
                                f"{paths.mean_length:.2f}")
