"""The architecture tab: hosts the architecture view (one model, or a plain and a residual twin
side by side) and colours it by the gradients of the compared runs at the shown step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QStackedWidget, QVBoxLayout, QWidget

from ..errors import ResvizError
from ..views.architecture import ArchitectureModel, TwinArchitectureModel
from ..views.architecture_state import ArchitectureViewState
from ..views.model_choice import LoadedChoice
from ..views.run_comparison import RunComparison
from ..views.run_data import run_label


def _block_norms(run, step: int) -> dict[str, float] | None:
    row = run.row_at(step)
    if row is None or not run.block_ids:
        return None
    return dict(zip(run.block_ids, run.act_grad_norm.data[row].tolist()))


def colour_twins(twins: Any, loaded: LoadedChoice, comparison: RunComparison) -> None:
    """Colour a twin view's graphs by the twin runs' gradient norms at the shown step, on the
    comparison's levels (each run found by its model's name)."""
    step, levels = comparison.step, comparison.levels.levels
    by_model = {run.info.model_spec.name: run for run in comparison.ordered if run.info.model_spec is not None}
    main_run = by_model.get(loaded.main.spec.name)
    plain_run = by_model.get(loaded.plain.spec.name) if loaded.plain is not None else None
    twins.set_gradient_colours(plain_run.layer_norms_at(step) if plain_run else None,
                               main_run.layer_norms_at(step) if main_run else None,
                               levels if (plain_run or main_run) else None)
    twins.set_edge_gradients(_block_norms(plain_run, step) if plain_run else None,
                             _block_norms(main_run, step) if main_run else None)


class ArchitectureTab(QWidget):
    module_selected = Signal(str)
    graph_ready = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loaded: LoadedChoice | None = None
        self._pending: LoadedChoice | None = None
        self.stack = QStackedWidget()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)
        self.placeholder = QLabel("No model open: choose one with File → Open model (Ctrl+O).")
        self.placeholder.setAlignment(Qt.AlignCenter)
        self.stack.addWidget(self.placeholder)
        self.single = None
        self.twins = None
        try:
            from .architecture_view import ArchitectureView
            from .twin_architecture_view import TwinArchitectureView
        except ImportError as exc:  # pragma: no cover - the view ships with the package
            self.placeholder.setText(f"The architecture view could not be loaded: {exc}")
            return
        # Repeats open folded: a deep net's blocks then fit their pane, readable.
        self.single = ArchitectureView(show_details=True, model=ArchitectureModel(ArchitectureViewState(fold=True)))
        self.twins = TwinArchitectureView(model=TwinArchitectureModel(ArchitectureViewState(fold=True)))
        for pane in (self.single, *self.twins.views):  # legends beside the graph, never over it
            pane.canvas.set_overlays_beside(True)
        for view in (self.single, self.twins):
            self.stack.addWidget(view)
            view.module_selected.connect(self.module_selected)
            view.graph_ready.connect(self._drawn)
        self.loaded: LoadedChoice | None = None
        self._pending: LoadedChoice | None = None
        self._colour_key: tuple | None = None

    def _drawn(self) -> None:
        self._colour_key = None  # colour the new drawing at the next tick
        self.graph_ready.emit()

    @property
    def available(self) -> bool:
        return self.single is not None

    @property
    def current_view(self) -> Any:
        return self.stack.currentWidget()

    @property
    def showing_twins(self) -> bool:
        return self.twins is not None and self.stack.currentWidget() is self.twins

    def show_models(self, loaded: LoadedChoice) -> None:
        """Trace and draw the chosen model (and its twin beside it).

        Tracing waits until the tab is shown: a window opened on a run's training figures
        does not spend its first seconds on a graph nobody looks at.
        """
        if not self.available:
            return
        self.loaded = loaded
        self._colour_key = None
        self._pending = loaded
        if self.isVisible():
            self._trace_pending()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._trace_pending()

    def _trace_pending(self) -> None:
        loaded, self._pending = self._pending, None
        if loaded is None:
            return
        example = loaded.main.example_input()
        if loaded.plain is not None:
            self.stack.setCurrentWidget(self.twins)
            self.twins.set_models(loaded.plain.model, loaded.main.model, example,
                                  plain_title=run_label(loaded.plain.spec, "plain"),
                                  residual_title=run_label(loaded.main.spec, "residual"))
        else:
            self.stack.setCurrentWidget(self.single)
            self.single.set_model(loaded.main.model, example, title=run_label(loaded.main.spec, "model"))

    @property
    def pending(self) -> bool:
        """A model is waiting to be traced until the tab is shown."""
        return self._pending is not None

    def is_busy(self) -> bool:
        view = self.current_view
        return bool(getattr(view, "is_busy", lambda: False)())

    def colour_by(self, comparison: RunComparison) -> bool:
        """Colour the graph(s) by the runs' gradient norms at the shown step; False when unchanged."""
        if not self.available or self.loaded is None:
            return False
        key = (comparison.revision, comparison.step, comparison.levels.levels, id(self.current_view))
        if key == self._colour_key:
            return False
        self._colour_key = key
        step = comparison.step
        levels = comparison.levels.levels
        runs = comparison.ordered
        by_model = {run.info.model_spec.name: run for run in runs if run.info.model_spec is not None}
        main_run = by_model.get(self.loaded.main.spec.name)
        if self.showing_twins:
            colour_twins(self.twins, self.loaded, comparison)
        else:
            self.single.set_gradient_colours(main_run.layer_norms_at(step) if main_run else None,
                                             levels if main_run else None)
            self.single.set_edge_gradients(_block_norms(main_run, step) if main_run else None)
        return True

    def export_image(self, path: str | Path, size: tuple[int, int] | None = None) -> list[Path]:
        view = self.current_view
        if view is self.placeholder or self.loaded is None:
            raise ResvizError("no architecture to export: open a model first")
        result = view.export_image(path, size)
        return result if isinstance(result, list) else [result]

    def apply_theme(self, theme) -> None:
        """The graphs on the theme's background; the placeholder in its font size."""
        self.placeholder.setStyleSheet(f"font-size: {theme.font_size:.0f}pt;")
        for view in (self.single, self.twins):
            if view is not None:
                view.apply_theme(theme)

    def shutdown(self) -> None:
        for view in (self.single, self.twins):
            if view is not None:
                view.shutdown()
