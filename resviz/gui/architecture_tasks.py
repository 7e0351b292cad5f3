"""The architecture view's worker threads, for one ``ArchitectureModel``: tracing a model, and
re-grouping its traced graph when what is shown changes.

A small graph is re-grouped at once (milliseconds); a large one in a worker, where requests
made while one runs coalesce: only the state asked for last is drawn. Each drawing goes into
the model (``set_drawn``), whose ``drawn`` event the view draws from.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QApplication

from ..views.architecture import ArchitectureModel, DrawnGraph
from .graph_jobs import BACKGROUND_REGROUP_OPS, TracedModel, regroup_job, trace_job
from .workers_tasks import TaskThread, stop_all_tasks


class ArchitectureTasks(QObject):
    """Signals: ``started(str)`` with what a new task does; ``progressed(done, total, text)``;
    ``busy_changed(bool)``; ``traced(TracedModel)``; ``trace_failed(str)``;
    ``regroup_failed(str)``."""

    started = Signal(str)
    progressed = Signal(int, int, str)
    busy_changed = Signal(bool)
    traced = Signal(object)
    trace_failed = Signal(str)
    regroup_failed = Signal(str)

    def __init__(self, model: ArchitectureModel, owner: QObject) -> None:
        super().__init__(owner)
        self.model = model
        self._owner = owner  # the tasks are registered under it: ``stop_all_tasks(owner=...)``
        self._trace: TaskThread | None = None
        self._regroup: TaskThread | None = None
        self._after_draw: list[Callable[[], None]] = []
        self._busy = False

    def is_busy(self) -> bool:
        """Whether a trace or a background re-layout is running."""
        return self._trace is not None or self._regroup is not None

    @property
    def regrouping(self) -> bool:
        return self._regroup is not None

    def _update_busy(self) -> None:
        if self.is_busy() != self._busy:
            self._busy = self.is_busy()
            self.busy_changed.emit(self._busy)

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Cancel both kinds of work and wait for their threads to end."""
        self.cancel_regroup(revert=False)
        self.cancel_trace()
        stop_all_tasks(timeout_ms, owner=self._owner)

    # tracing --------------------------------------------------------------------------------

    def trace(self, module, example_input, title: str) -> None:
        """Trace ``module`` in a worker and draw it at the state's chosen level (the graph's default
        when none was chosen) and folding; ``traced`` or ``trace_failed`` follows."""
        self.cancel_trace()
        level, fold = self.model.state.chosen_level, self.model.state.fold
        task = TaskThread(lambda progress, cancel: trace_job(module, example_input, title, progress, cancel,
                                                             level=level, fold=fold), "trace", owner=self._owner)
        task.progressed.connect(self.progressed)
        task.succeeded.connect(self._on_traced)
        task.failed.connect(self._on_trace_failed)
        task.cancelled.connect(self._end_trace)
        self._trace = task
        self.started.emit(f"Tracing {title or type(module).__name__}…")
        self._update_busy()
        task.start_task()

    def cancel_trace(self) -> bool:
        """Drop a trace in flight (its result is never delivered); whether one was running."""
        task, self._trace = self._trace, None
        if task is None:
            return False
        task.cancel()
        for signal in (task.progressed, task.succeeded, task.failed, task.cancelled):
            signal.disconnect()
        self._update_busy()
        return True

    @Slot()
    def _end_trace(self) -> None:
        if self._trace is not None:
            self._trace = None
            self._update_busy()

    @Slot(object)
    def _on_traced(self, traced: TracedModel) -> None:
        self._end_trace()
        self.traced.emit(traced)

    @Slot(str, str)
    def _on_trace_failed(self, message: str, details: str) -> None:
        self._end_trace()
        self.trace_failed.emit(message)

    # re-grouping ----------------------------------------------------------------------------

    def regroup(self) -> None:
        """Draw what the model asks for now: at once for a small graph, else in a worker (a
        request while one runs is coalesced with it)."""
        opgraph = self.model.opgraph
        if self._regroup is None and opgraph.graph.number_of_nodes() <= BACKGROUND_REGROUP_OPS:
            QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
            try:
                drawn = regroup_job(opgraph, self.model.wanted())
            finally:
                QApplication.restoreOverrideCursor()
            self._draw(drawn)
        elif self._regroup is None:
            self._start_regroup()

    def _start_regroup(self) -> None:
        opgraph, shown = self.model.opgraph, self.model.wanted()
        task = TaskThread(lambda progress, cancel: regroup_job(opgraph, shown, cancel), "layout", owner=self._owner)
        task.succeeded.connect(self._on_regrouped)
        task.failed.connect(self._on_regroup_failed)
        self._regroup = task
        self.started.emit(f"Laying out {self.model.title or 'the graph'} at level {shown.level}…")
        self._update_busy()
        task.start_task()

    def _forget_regroup(self) -> None:
        task, self._regroup = self._regroup, None
        if task is not None:
            task.cancel()
            for signal in (task.succeeded, task.failed):
                signal.disconnect()

    @Slot(object)
    def _on_regrouped(self, drawn: DrawnGraph) -> None:
        if self._regroup is None:  # a dropped request's result, queued before it was dropped
            return
        self._forget_regroup()
        if drawn.shown != self.model.wanted():  # asked for something else meanwhile: draw only that
            self._start_regroup()
            return
        self._update_busy()
        self._draw(drawn)

    @Slot(str, str)
    def _on_regroup_failed(self, message: str, details: str) -> None:
        self.cancel_regroup()
        self.regroup_failed.emit(message)

    def cancel_regroup(self, revert: bool = True) -> None:
        """Drop a background re-layout; ``revert`` puts the model's level, expansions and folding
        back to what is drawn, so the controls match the graph."""
        running = self._regroup is not None
        self._forget_regroup()
        self._after_draw.clear()
        if running and revert and self.model.drawn is not None:
            self.model.state.restore(self.model.drawn.shown)
        if running:
            self._update_busy()

    def _draw(self, drawn: DrawnGraph) -> None:
        self.model.set_drawn(drawn)
        callbacks, self._after_draw = self._after_draw, []
        for callback in callbacks:
            callback()

    def when_drawn(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` now, or once the re-layout in flight is drawn."""
        if self._regroup is None:
            callback()
        else:
            self._after_draw.append(callback)
