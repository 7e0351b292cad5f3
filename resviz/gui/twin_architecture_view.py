"""A plain network and its residual twin side by side, showing one ``TwinArchitectureModel``:
both panes draw the same shared state (level, folding, expansions, selection) and colour on
one log10 scale, so the same layer can be pointed at, and compared, in both.
"""

from __future__ import annotations

from pathlib import Path

import shiboken6
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QSplitter, QVBoxLayout, QWidget

from ..views.architecture import TwinArchitectureModel
from ..views.architecture_state import ArchitectureViewState
from .architecture_view import ArchitectureView


def twin_model_at_level(level: str, *, fold: bool) -> TwinArchitectureModel:
    """A twin model that opens every graph at ``level`` (chosen, so it stays) with repeats
    folded or not: the Lecture page's architecture at a glance, the lesion's clickable blocks."""
    state = ArchitectureViewState(level=level, fold=fold)
    state.set_level(level)
    return TwinArchitectureModel(state)


class TwinArchitectureView(QWidget):
    """Two architecture views side by side: a plain network and its residual twin.

    What is shown lives in the shared model; the widget only keeps the panes' zoom and scroll
    together. ``module_selected(str)`` fires for a click in either view; ``graph_ready()`` once
    both are drawn.
    """

    module_selected = Signal(str)
    graph_ready = Signal()

    def __init__(self, parent: QWidget | None = None, *, show_details: bool = False,
                 model: TwinArchitectureModel | None = None) -> None:
        super().__init__(parent)
        self.model = model if model is not None else TwinArchitectureModel()
        self.plain_view = ArchitectureView(show_details=show_details, model=self.model.plain)
        self.residual_view = ArchitectureView(show_details=show_details, model=self.model.residual)
        self.views = (self.plain_view, self.residual_view)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.plain_view)
        self.splitter.addWidget(self.residual_view)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)
        self._mirroring = False
        self._ready: set[int] = set()
        for view in self.views:
            other = self.residual_view if view is self.plain_view else self.plain_view
            view.module_selected.connect(lambda name, o=other: self._on_selected(o, name))
            view.graph_ready.connect(lambda v=view: self._on_ready(v))
            # Zoom and scroll together, so the same depth shows in both.
            view.canvas.zoom_changed.connect(lambda zoom, o=other: self._mirror(o.canvas.set_zoom, zoom))
            view.canvas.navigated.connect(lambda o=other: o.stop_auto_fit() if self._alive() else None)
            view.canvas.verticalScrollBar().valueChanged.connect(
                lambda value, v=view, o=other: self._mirror(self._follow_scroll, (v, o)))

    def _alive(self) -> bool:
        """False while Qt tears the pair down (children go first; signals may still fire)."""
        return shiboken6.isValid(self) and all(shiboken6.isValid(v) and shiboken6.isValid(v.canvas)
                                               for v in self.views)

    def _mirror(self, method, argument) -> None:
        if self._mirroring or not self._alive():
            return
        self._mirroring = True
        try:
            method(argument)
        finally:
            self._mirroring = False

    @staticmethod
    def _follow_scroll(views: tuple[ArchitectureView, ArchitectureView]) -> None:
        """Scroll ``other`` to the same fraction of its height as ``view``."""
        view, other = views
        source, target = view.canvas.verticalScrollBar(), other.canvas.verticalScrollBar()
        if source.maximum() > 0:
            target.setValue(round(source.value() / source.maximum() * target.maximum()))

    def _on_selected(self, other: ArchitectureView, name: str) -> None:
        """A click in one pane: the shared selection shows in both; the other pane centres on it."""
        if not self._alive():
            return
        if other.model.module_of(name) is not None:
            self._mirror(lambda n: other.select(n, centre=True), name)
        self.module_selected.emit(name)

    def _on_ready(self, view: ArchitectureView) -> None:
        self._ready.add(id(view))
        if all(id(v) in self._ready for v in self.views):
            self.graph_ready.emit()

    def set_models(self, plain_model, residual_model, example_input, plain_title: str = "",
                   residual_title: str = "") -> None:
        """Trace both models (each in its own worker thread) and draw them side by side."""
        self._ready.clear()
        self.plain_view.set_model(plain_model, example_input, plain_title)
        self.residual_view.set_model(residual_model, example_input, residual_title)

    def set_graphs(self, plain_opgraph, residual_opgraph, plain_title: str = "", residual_title: str = "") -> None:
        """Draw two already traced graphs side by side."""
        self._ready.clear()
        self.plain_view.set_graph(plain_opgraph, plain_title)
        self.residual_view.set_graph(residual_opgraph, residual_title)

    def is_busy(self) -> bool:
        return any(v.is_busy() for v in self.views)

    def show_only_graphs(self, readable_zoom: float | None = None) -> None:
        """For a page that is for looking (and clicking): no legends over the graphs, and of each
        toolbar only the title; ``readable_zoom`` is the zoom a fit may shrink to."""
        for view in self.views:
            view.canvas.overlays_shown = False
            if readable_zoom is not None:
                view.readable_zoom = readable_zoom
            for child in view.toolbar.findChildren(QWidget):
                child.setVisible(child is view.title_label)
            view.setMinimumSize(60, 60)   # without its tools a pane can be as narrow as its graph fits

    def set_level(self, level: str) -> None:
        self.residual_view.set_level(level)

    def level(self) -> str:
        return self.model.state.level

    def fit(self) -> None:
        for view in self.views:
            view.fit()

    def search(self, text: str) -> list[str]:
        """Search both views; the first match is selected in each that has it."""
        hits = self.residual_view.search(text)
        plain = self.plain_view.search(text)
        return hits + [h for h in plain if h not in hits]

    def set_gradient_colours(self, plain_norms: dict[str, float] | None, residual_norms: dict[str, float] | None,
                             levels: tuple[float, float] | None = None) -> None:
        """Colour both graphs on one log10 scale: ``levels``, or spanning both sets of norms."""
        self.model.set_gradients(plain_layer_norms=plain_norms, residual_layer_norms=residual_norms, levels=levels)

    def set_edge_gradients(self, plain_block_norms: dict[str, float] | None,
                           residual_block_norms: dict[str, float] | None) -> None:
        self.model.set_gradients(plain_block_norms=plain_block_norms, residual_block_norms=residual_block_norms)

    def gradient_levels(self) -> tuple[float, float] | None:
        """The shared log10 levels, or None when nothing is coloured."""
        return self.model.colour_levels()

    def apply_theme(self, theme) -> None:
        for view in self.views:
            view.apply_theme(theme)

    def export_image(self, path: str | Path, size: tuple[int, int] | None = None) -> list[Path]:
        """Export both graphs: ``NAME-plain.EXT`` and ``NAME-residual.EXT``."""
        path = Path(path)
        return [view.export_image(path.with_name(f"{path.stem}-{tag}{path.suffix}"), size)
                for view, tag in ((self.plain_view, "plain"), (self.residual_view, "residual"))]

    def shutdown(self, timeout_ms: int = 30000) -> None:
        for view in self.views:
            view.shutdown(timeout_ms)

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)
