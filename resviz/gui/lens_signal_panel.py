"""Signal propagation on the "Why it trains" page: the family's twins at initialisation, the
input gradient norm against depth and the gradient norm of each block at the slider's depth,
plain and residual on one log scale. Each depth is computed once in a worker and cached, so
moving the slider over depths already seen redraws at once."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSlider, QWidget

from ..views.why_it_trains import SIDES, SIGNAL_BATCH, SIGNAL_LINE_POINTS, WhyItTrains, compute_signal
from .lens_panel import SIDE_COLOURS, LensPanel, add_plot


class SignalPanel(LensPanel):
    lens = "signal"
    title = "Signal propagation at initialisation"

    def __init__(self, model: WhyItTrains, parent: QWidget | None = None) -> None:
        super().__init__(model, parent)
        self.depth_label = QLabel("")
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setObjectName("depthSlider")
        self.slider.valueChanged.connect(self._on_slider)
        self.controls.addWidget(QLabel("depth"))
        self.controls.addWidget(self.slider, 1)
        self.controls.addWidget(self.depth_label)
        self.depth_plot = add_plot(self, "input gradient norm vs depth", "layers", "log10 norm", 0, 0)
        self.block_plot = add_plot(self, "gradient norm per block", "block", "log10 norm", 0, 1)
        self.depth_curves = {side: self.depth_plot.plot(name=side) for side in SIDES}
        self.block_curves = {side: self.block_plot.plot(name=side) for side in SIDES}
        self.depth_line = pg.InfiniteLine(angle=90, movable=False)
        self.depth_plot.addItem(self.depth_line)
        legend = self.depth_plot.addLegend(offset=(-10, 10))
        legend.setParentItem(self.depth_plot.vb)
        self.note = (f"the twins at initialisation, without norm layers; {SIGNAL_BATCH} Gaussian inputs, "
                     f"{SIGNAL_LINE_POINTS} points on the line; a norm of 0 (below float32's range) is not drawn")
        self.set_depths()

    def set_depths(self) -> None:
        """The slider over the model's family depths, at the model's depth."""
        depths = self.model.depths
        self.slider.blockSignals(True)
        self.slider.setRange(0, len(depths) - 1)
        self.slider.setValue(depths.index(self.model.depth) if self.model.depth in depths else 0)
        self.slider.blockSignals(False)
        self.redraw()

    def set_depth(self, depth: int) -> None:
        self.slider.setValue(self.model.depths.index(depth))

    def _on_slider(self, index: int) -> None:
        self.model.depth = self.model.depths[index]
        self.redraw()
        if self.model.signal_at() is None:
            self.compute()  # restarts any computation: the depth asked for comes first

    def _on_progress(self, done: int, total: int, text: str) -> None:
        super()._on_progress(done, total, text)
        self.redraw()  # each depth as it arrives (the worker filled the cache before reporting)

    def compute(self) -> bool:
        """Compute what the slider's depth needs, in a worker; False when the cache holds it."""
        todo = self.model.depths_to_compute()
        if not todo:
            return False
        model = self.model

        def job(progress, cancel):
            return compute_signal(model, todo, progress=lambda done, total: progress(done, total, ""),
                                  cancelled=cancel.is_set)

        self.start(job, lambda _result: self._computed(), f"Computing depths {', '.join(map(str, todo))}…")
        return True

    def _computed(self) -> None:
        self.status.setText(self.note)
        self.redraw()
        if self.model.signal_at() is None:
            self.compute()  # the slider moved on while the worker ran

    def redraw(self) -> None:
        model = self.model
        self.depth_label.setText(f"{model.depth} layers")
        low, high = model.signal_scale()
        shown = model.signal_at()
        width = self.theme.line_width
        for side in SIDES:
            depths, norms = model.signal_curve(side)
            pen = pg.mkPen(SIDE_COLOURS[side], width=width)
            ok = norms > 0
            self.depth_curves[side].setData(depths[ok], np.log10(norms[ok]), pen=pen, symbol="o",
                                            symbolBrush=SIDE_COLOURS[side], symbolSize=self.theme.marker_size)
            if shown is None:
                self.block_curves[side].setData([], [])
            else:
                values = shown.side(side).backward_norms
                ok = values > 0
                self.block_curves[side].setData(np.arange(len(values))[ok], np.log10(values[ok]), pen=pen)
        self.depth_line.setPos(model.depth)
        self.depth_line.setPen(pg.mkPen(self.theme.foreground, width=1, style=Qt.DashLine))
        for plot in (self.depth_plot, self.block_plot):
            plot.setYRange(low, high, padding=0)
        if model.depths:
            self.depth_plot.setXRange(0, max(max(model.cached_depths() or [0]), model.depth) * 1.05, padding=0)
        if shown is not None and not self.is_busy():
            plain, residual = shown.plain, shown.residual
            self.status.setText(f"depth {model.depth}: input gradient plain {plain.input_gradient_norm:.3g}, "
                                f"residual {residual.input_gradient_norm:.3g}; {self.note}")
