"""The interactive architecture view: a model's block graph with its skip connections.

The widget shows an ``ArchitectureModel`` (``resviz.views``) and writes the user's actions back
to it; what is shown (level, expansions, folding, selection) and the gradients to colour by
live in the model, so two views can share them and a new graph keeps what the user chose.

``set_model`` traces the model in a worker thread (progress and Cancel over the view; the GUI
thread never traces) and draws it at the level the user chose, else at the model's default
(large models open collapsed). When what is shown changes, the already-traced graph is
re-grouped: at once for a small graph, in a worker for a large one (ResNet-1202 at full detail
takes a second or more), where rapid requests coalesce and only the latest is drawn. Gradient
colours, skip colours and the selection change items in place, so replaying a run at 30 Hz
never rebuilds the scene.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import QPoint, QPointF, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QFileDialog, QMenu, QSplitter, QTextBrowser, QVBoxLayout, QWidget

from ..errors import ResvizError
from ..graph import LEVELS
from ..graph.types import Layout, Scene
from ..views.architecture import ArchitectureModel, DrawnGraph
from ..views.architecture_state import ShownState
from .architecture_tasks import ArchitectureTasks
from .architecture_toolbar import ArchitectureToolbar
from .dialogs import announce_saved
from .graph_canvas import GraphCanvas
from .graph_colours import GraphColours, colours_of, paint
from .graph_details import NO_MODEL_HTML, details_html, summary_html, tooltip_html
from .graph_export import check_export_path, export_scene, write_scene
from .graph_jobs import TracedModel, prepare_graph
from .graph_scene import GraphScene

READABLE_ZOOM = 0.55  # below this the labels are too small to read: open at the top, fitted to width


class ArchitectureView(QWidget):
    """A model's block graph: skips by kind, levels of detail, search, gradient colours, export.

    Signals: ``module_selected(str)`` when the user clicks a node (a module qualified name, or
    an op's id such as ``layer1.0.add``); ``graph_ready()`` once a model is traced and drawn;
    ``trace_failed(str)`` with a one-line message; ``level_changed(str)``; ``graph_changed()``
    after every redraw; ``node_expanded(str)`` / ``node_collapsed(str)``; ``busy_changed(bool)``.
    """

    module_selected = Signal(str)
    graph_ready = Signal()
    trace_failed = Signal(str)
    level_changed = Signal(str)
    graph_changed = Signal()
    busy_changed = Signal(bool)
    node_expanded = Signal(str)
    node_collapsed = Signal(str)

    def __init__(self, parent: QWidget | None = None, *, show_details: bool = True,
                 model: ArchitectureModel | None = None) -> None:
        super().__init__(parent)
        self.model = model if model is not None else ArchitectureModel()
        self.graph_scene = GraphScene(self)
        self.canvas = GraphCanvas(self.graph_scene)
        self.canvas.tooltip_for = self._tooltip
        self._traced: TracedModel | None = None  # the last trace's result (its timings, its first drawing)
        self._colours = GraphColours()  # the colours applied now (derived from the model)
        self.tasks = ArchitectureTasks(self.model, self)
        self._regroup_anchor: tuple[QPointF | None, str | None] = (None, None)  # what the next drawing keeps in place
        self._fit_after_regroup = False
        self._own_hint: tuple[str | None, bool] | None = None  # (keep in place, fit) for this widget's own action
        self._event_hint: tuple[str | None, bool] | None = None  # the same, gathered from the state's events
        self._fresh = False  # the next drawing is a new graph's first: open it fitted
        self._auto_fit = False  # fitted, and untouched since: a new pane size fits it again
        self.readable_zoom = READABLE_ZOOM  # fitting never shrinks the graph below this: it scrolls instead
        self._error: str | None = None
        self.last_timings: dict[str, float] = {}
        self._build_ui(show_details)
        self.canvas.node_clicked.connect(self._on_node_clicked)
        self.canvas.resized.connect(self._on_canvas_resized)
        self.canvas.navigated.connect(self.stop_auto_fit)
        self.canvas.node_double_clicked.connect(self._on_node_double_clicked)
        self.canvas.node_context_menu.connect(self._on_context_menu)
        self.tasks.started.connect(self.canvas.show_busy)
        self.tasks.progressed.connect(self.busy.progress)
        self.tasks.busy_changed.connect(self._on_busy_changed)
        self.tasks.traced.connect(self._on_traced)
        self.tasks.trace_failed.connect(self._on_trace_failed)
        self.tasks.regroup_failed.connect(self._on_regroup_failed)
        state = self.model.state
        state.events.level.connect(self._on_level_changed)
        state.events.fold.connect(self._on_fold_changed)
        state.events.expansions.connect(self._on_expansions_changed)
        state.events.selected.connect(self._on_selection_changed)
        state.events.shown.connect(self._on_shown_changed)
        self.model.events.drawn.connect(self._on_drawn)
        self.model.events.gradients.connect(self._on_gradients)
        self.model.events.scale.connect(self._on_scale)
        self.model.events.marked.connect(self._on_scale)  # recoloured in place, like a rescale
        self._show_message("No model loaded")

    # construction ---------------------------------------------------------------------------

    def _build_ui(self, show_details: bool) -> None:
        self.toolbar = ArchitectureToolbar(self.model, show_details=show_details)
        self.toolbar.search_requested.connect(self.search)
        self.toolbar.zoom_requested.connect(self._zoom_by)
        self.toolbar.fit_requested.connect(self.fit)
        self.toolbar.export_requested.connect(self._on_export_clicked)
        for name in ("title_label", "level_box", "fold_check", "search_box", "search_status", "details_button"):
            setattr(self, name, getattr(self.toolbar, name))

        self.details = QTextBrowser()
        self.details.setOpenLinks(False)
        self.details.anchorClicked.connect(lambda url: self.select(url.toString(), reveal=True, centre=True, emit=True))
        self.details.setMinimumWidth(200)
        self.details.setVisible(show_details)
        self.details_button.toggled.connect(self.details.setVisible)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.canvas)
        self.splitter.addWidget(self.details)
        self.splitter.setStretchFactor(0, 4)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([900, 260])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.toolbar)
        layout.addWidget(self.splitter, 1)

        self.legend, self.colour_bar, self.busy, self.message = (self.canvas.legend, self.canvas.colour_bar,
                                                                 self.canvas.busy, self.canvas.message)
        self.busy.cancel_requested.connect(self.cancel)
        self.details.setHtml(self._details_html())

        for keys, slot in (("F", self.fit), ("+", lambda: self._zoom_by(1.25)),
                           ("=", lambda: self._zoom_by(1.25)), ("-", lambda: self._zoom_by(0.8)),
                           ("Ctrl+F", self.search_box.setFocus)):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)

    def _place_overlays(self) -> None:
        self.canvas.place_overlays()

    def _show_message(self, text: str | None) -> None:
        self.canvas.show_message(text)

    def _alive(self) -> bool:
        """False once Qt has deleted the widget (a model may outlive it and still emit)."""
        return shiboken6.isValid(self) and shiboken6.isValid(self.canvas)

    # tracing --------------------------------------------------------------------------------

    @property
    def title(self) -> str:
        return self.model.title

    @property
    def traced(self) -> TracedModel | None:
        """The last trace's result, or None before a model is drawn."""
        return self._traced

    def set_model(self, model, example_input, title: str = "") -> None:
        """Trace ``model`` on ``example_input`` in a worker thread, then draw it at the chosen
        level (the model's default when none was chosen), folded when "Fold repeats" is on.

        Progress and Cancel show over the view; ``graph_ready`` fires once it is drawn and
        ``trace_failed(message)`` if tracing fails. A newer call cancels an older one.
        """
        self.cancel(keep_state=True)
        self._start(title)
        self.tasks.trace(model, example_input, title)

    def set_graph(self, opgraph, title: str = "") -> None:
        """Draw an already traced graph (``resviz.graph.trace_graph``'s OpGraph) without a worker:
        grouping and layout take milliseconds. Emits ``graph_ready`` like ``set_model``."""
        self.cancel(keep_state=True)
        self._start(title)
        self._on_traced(prepare_graph(opgraph, title, level=self.model.state.chosen_level,
                                      fold=self.model.state.fold))

    def _start(self, title: str) -> None:
        self.model.expect_graph(title)
        self.title_label.setText(title)
        self._error = None
        self._show_message(None)

    def is_busy(self) -> bool:
        """Whether a trace or a background re-layout is running."""
        return self.tasks.is_busy()

    def cancel(self, keep_state: bool = False) -> None:
        """Stop tracing or re-laying out (the result is dropped; the graph shown before stays).
        A dropped re-layout puts the level and folding back to what is drawn, unless
        ``keep_state`` (a new graph is coming, to be drawn as the state asks)."""
        self._cancel_regroup(revert=not keep_state)
        if self.tasks.cancel_trace():
            self._show_message("Tracing cancelled" if self._traced is None else None)

    def _on_busy_changed(self, busy: bool) -> None:
        if not busy:
            self.busy.hide()
        self.busy_changed.emit(busy)

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Cancel any trace and wait for its threads to end (the window calls it before closing)."""
        self._cancel_regroup()
        self.tasks.shutdown(timeout_ms)

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)

    @Slot(object)
    def _on_traced(self, traced: TracedModel) -> None:
        self._cancel_regroup(revert=False)
        started = time.perf_counter()
        self._traced = traced
        self._fresh = True
        self.model.set_graph(traced.opgraph, traced.default_level, traced.drawn, title=traced.title)
        if self.model.needs_drawing():  # the state changed while tracing: draw what it asks for now
            self._regroup(keep=None, fit=True)
        self.details.setHtml(self._details_html())
        self.last_timings = dict(traced.seconds, draw=time.perf_counter() - started)
        self.graph_ready.emit()

    @Slot(str)
    def _on_trace_failed(self, message: str) -> None:
        self._error = message
        self._show_message(f"Could not trace {self.title or 'the model'}:\n{message}")
        self.trace_failed.emit(message)

    @property
    def error(self) -> str | None:
        """The last tracing error, or None."""
        return self._error

    # levels, expand, collapse: written to the model, drawn when its state says so -----------

    def level(self) -> str:
        return self.model.level

    def set_level(self, level: str) -> None:
        """Draw every block at ``level`` (one of ``resviz.graph.LEVELS``); clears single expansions."""
        before = self.model.state.shown()
        self.model.set_level(level)
        if self.model.state.shown() == before and self.model.drawn is not None:
            self._when_drawn(self._redraw)  # nothing to re-group: draw it afresh and fit, as a level change does

    def _redraw(self) -> None:
        self._fit_after_regroup = True
        self.model.set_drawn(self.model.drawn)

    def set_fold_repeats(self, fold: bool) -> None:
        """Fold runs of identical collapsed blocks into one box ("BasicBlock ×9")."""
        self.model.state.fold = bool(fold)

    def is_expandable(self, node_id: str) -> bool:
        """Whether a drawn node is a collapsed module with children to show."""
        return self.model.is_expandable(node_id)

    def expand(self, node_id: str) -> bool:
        """Show the children of a collapsed node; False (nothing changes) if it has none."""
        if not self.model.expand(node_id):
            return False
        self.node_expanded.emit(node_id)
        return True

    def collapse(self, node_id: str) -> bool:
        """Draw a module as one box (its skips stay drawn as bypass arcs); False if it is not one."""
        if not self.model.collapse(node_id):
            return False
        self.node_collapsed.emit(node_id)
        return True

    def _on_level_changed(self, level: str) -> None:
        if self._alive():
            self._note(self.model.state.selected, fit=True)
            self.level_changed.emit(level)

    def _on_fold_changed(self, fold: bool) -> None:
        self._note(self.model.state.selected, fit=True)

    def _on_expansions_changed(self, focus: str | None) -> None:
        self._note(focus, fit=False)

    def _note(self, keep: str | None, fit: bool) -> None:
        """Gather, from the state's events, what the next re-grouping keeps in place and whether it fits."""
        if self._event_hint is None:
            self._event_hint = (keep, fit)
        else:
            self._event_hint = (self._event_hint[0] or keep, self._event_hint[1] or fit)

    @contextmanager
    def _acting(self, keep: str | None, fit: bool) -> Iterator[None]:
        """This widget's own action: the re-grouping it causes keeps ``keep`` in place, fits if ``fit``."""
        self._own_hint = (keep, fit)
        try:
            yield
        finally:
            self._own_hint = None

    def _on_shown_changed(self, shown: ShownState) -> None:
        keep, fit = self._own_hint or self._event_hint or (self.model.state.selected, False)
        self._event_hint = None
        if not self._alive() or self.model.opgraph is None:
            return
        if self.model.needs_drawing() or self.tasks.regrouping:
            self._regroup(keep=keep, fit=fit)

    def _regroup(self, keep: str | None = None, fit: bool = False) -> None:
        """Re-group the traced graph for what the model asks for now: ``keep`` stays where it
        is on screen, ``fit`` fits the result (a large graph is laid out in a worker; requests
        made meanwhile coalesce)."""
        if not self.tasks.regrouping or self._regroup_anchor[0] is None:
            self._regroup_anchor = (self._anchor(keep), keep)
        self._fit_after_regroup = self._fit_after_regroup or fit
        self.tasks.regroup()

    @Slot(str)
    def _on_regroup_failed(self, message: str) -> None:
        self._regroup_anchor, self._fit_after_regroup = (None, None), False
        self._show_message(f"Could not lay out {self.title or 'the graph'}:\n{message}")
        QTimer.singleShot(6000, lambda: self._show_message(None) if shiboken6.isValid(self) else None)

    def _cancel_regroup(self, revert: bool = True) -> None:
        """Drop a background re-layout; ``revert`` puts the model's level, expansions and
        folding back to what is drawn."""
        self._regroup_anchor, self._fit_after_regroup = (None, None), False
        self.tasks.cancel_regroup(revert)

    def _when_drawn(self, callback) -> None:
        """Run ``callback`` now, or once the re-layout in flight is drawn."""
        self.tasks.when_drawn(callback)

    def _anchor(self, node_id: str | None) -> QPointF | None:
        """Where a node sits on screen, so it stays put while the graph around it changes."""
        shown = self.model.visible_node_for(node_id) if node_id else None
        rect = self.graph_scene.node_rect(shown) if shown else None
        return QPointF(self.canvas.mapFromScene(rect.center())) if rect is not None else None

    def _restore_anchor(self, anchor: QPointF | None, keep: str | None) -> None:
        if anchor is None or keep is None:
            return
        shown = self.model.visible_node_for(keep)
        if shown is None:  # expanded: follow its first child
            children = [n for n in self.graph_scene.node_ids() if n.startswith(keep + ".")]
            shown = children[0] if children else None
        rect = self.graph_scene.node_rect(shown) if shown else None
        if rect is None:
            return
        view_centre = QPointF(self.canvas.viewport().rect().center())
        self.canvas.centerOn(rect.center() + (view_centre - anchor) / self.canvas.zoom())

    # drawing --------------------------------------------------------------------------------

    def _on_drawn(self, drawn: DrawnGraph) -> None:
        """A new drawing in the model: load its items, colour and select them, keep the view."""
        if not self._alive():
            return
        started = time.perf_counter()
        self.graph_scene.load(drawn.scene)
        self.graph_scene.set_detail(self.canvas.zoom())
        self.legend.set_counts(drawn.layout.skip_counts, gradient=self.model.block_norms is not None)
        self.legend.show()
        self._recolour()
        self.graph_scene.set_selected(self.model.selected_node())
        self._place_overlays()
        self.details.setHtml(self._details_html())
        (anchor, keep), fit = self._regroup_anchor, self._fit_after_regroup
        self._regroup_anchor, self._fit_after_regroup = (None, None), False
        if self._fresh:
            self._fresh = False
            self._initial_view()
        else:
            self._restore_anchor(anchor, keep)
            if fit:
                self.fit()
            self.last_timings = dict(drawn.seconds, draw=time.perf_counter() - started)
        self.graph_changed.emit()

    def _zoom_by(self, factor: float) -> None:
        self.canvas.navigated.emit()  # the user's zoom: no more fitting on resize (a twin pane hears it too)
        self.canvas.zoom_by(factor)

    def stop_auto_fit(self) -> None:
        """Keep the zoom and scroll as they are when the pane changes size (the user chose them)."""
        self._auto_fit = False

    def _on_canvas_resized(self) -> None:
        """A pane that opened hidden or small gets its real size later: fit again, unless the
        user has zoomed or panned since."""
        if self._auto_fit and self.model.layout is not None:
            self._initial_view()

    def _initial_view(self) -> None:
        """Fit the graph; one too tall to read when fitted opens at its top, fitted to width
        (scrolling, rather than shrinking the boxes below a legible size)."""
        self._auto_fit = True
        rect = self.graph_scene.sceneRect()
        self.canvas.resetTransform()
        self.canvas.fit_rect(rect)
        if self.canvas.zoom() < self.readable_zoom:
            view = self.canvas.viewport().rect()
            self.canvas.set_zoom(min(1.0, max(self.readable_zoom, (view.width() - 24) / max(1.0, rect.width()))))
            zoom = self.canvas.zoom()
            self.canvas.centerOn(QPointF(rect.center().x(), rect.top() + view.height() / 2 / zoom))

    def fit(self) -> None:
        """Fit the graph into the view; one too large to read that way is fitted to the view's
        width at a legible size and scrolls (from its top)."""
        self._initial_view()

    # queries --------------------------------------------------------------------------------

    def node_ids(self) -> list[str]:
        """The ids of the nodes drawn now."""
        return self.graph_scene.node_ids()

    def skip_edges(self) -> list[tuple[str, str, str]]:
        """(source, target, kind) of every skip edge drawn now (a collapsed block's is a loop)."""
        return self.model.skip_edges()

    @property
    def layout_data(self) -> Layout | None:
        """The Layout drawn now."""
        return self.model.layout

    @property
    def block_graph(self) -> Any:
        """The BlockGraph drawn now."""
        return self.model.block_graph

    def selected(self) -> str | None:
        return self.model.state.selected

    # selection, search ----------------------------------------------------------------------

    def select(self, name: str | None, *, reveal: bool = False, centre: bool = False, emit: bool = False) -> None:
        """Select a module by qualified name (the block holding it is highlighted when collapsed).

        ``reveal`` expands the blocks that hide it; ``centre`` scrolls it to the middle; ``emit``
        sends ``module_selected`` as a click does.
        """
        with self._acting(None, False):
            self.model.select(name, reveal=reveal)
        if centre and name:
            self._when_drawn(lambda: self._centre_on(name))
        if emit and name:
            self.module_selected.emit(name)

    def _on_selection_changed(self, name: str | None) -> None:
        if self._alive():
            self._when_drawn(self._highlight)

    def _highlight(self) -> None:
        self.graph_scene.set_selected(self.model.selected_node())
        self.details.setHtml(self._details_html())

    def _centre_on(self, name: str) -> None:
        if name != self.model.state.selected:
            return  # selected something else since
        shown = self.model.visible_node_for(name)
        rect = self.graph_scene.node_rect(shown) if shown is not None else None
        if rect is not None:
            if self.canvas.zoom() < READABLE_ZOOM:
                self.canvas.set_zoom(1.0)
            self.canvas.centerOn(rect.center())

    def search(self, text: str) -> list[str]:
        """Modules and ops whose name contains ``text``, case-insensitive (exact first, then in
        model order). The first is revealed (its blocks expanded), selected and centred."""
        text = text.strip()
        if not text or self.model.opgraph is None:
            self.search_status.setText("")
            return []
        hits = self.model.search(text)
        if not hits:
            self.search_status.setText("not found")
        elif self.model.has_ops(hits[0]):
            self.select(hits[0], reveal=True, centre=True, emit=True)
            self.search_status.setText(f"{len(hits)} found" if len(hits) > 1 else "")
        else:  # a module the trace dropped (an nn.Identity): show where it would sit instead
            if self.model.layout is not None:
                with self._acting(None, False):
                    self.model.reveal(hits[0])
            self._when_drawn(lambda first=hits[0]: self._select_stand_in(first))
        return hits

    def _select_stand_in(self, module: str) -> None:
        stand_in = self.model.stand_in_for(module)
        if stand_in is None:
            self.search_status.setText(f"{module} is not drawn")
            return
        self.select(stand_in, centre=True, emit=True)
        self.search_status.setText(f"{module} has no box: showing {stand_in}")

    def _on_node_clicked(self, node_id: str) -> None:
        self.select(node_id, emit=True)

    def _on_node_double_clicked(self, node_id: str) -> None:
        if not self.expand(node_id):
            parent = self.model.enclosing_module(node_id)
            if parent:
                self.collapse(parent)

    def _on_context_menu(self, node_id: str, global_pos: QPoint) -> None:
        menu = QMenu(self)
        if node_id:
            if self.is_expandable(node_id):
                menu.addAction(f"Expand {node_id}", lambda: self.expand(node_id))
            parent = self.model.enclosing_module(node_id)
            if parent:
                menu.addAction(f"Collapse {parent}", lambda: self.collapse(parent))
            menu.addSeparator()
        menu.addAction("Fit", self.fit)
        level_menu = menu.addMenu("Level")
        for level in LEVELS:
            action = level_menu.addAction(level, lambda lv=level: self.set_level(lv))
            action.setCheckable(True)
            action.setChecked(level == self.model.level)
        menu.exec(global_pos)

    # details and tooltips -------------------------------------------------------------------

    def _tooltip(self, node_id: str) -> str:
        return tooltip_html(self.model.details(node_id))

    def _details_html(self) -> str:
        if self.model.opgraph is None:
            return NO_MODEL_HTML
        selected = self.model.state.selected
        return summary_html(self.model.summary()) if selected is None else details_html(self.model.details(selected))

    # gradient colours -----------------------------------------------------------------------

    def set_gradient_colours(self, layer_norms: dict[str, float] | None,
                             levels: tuple[float, float] | None = None) -> None:
        """Colour every node by its gradient norm on a log10 scale, with a colour bar (None clears).

        ``layer_norms`` maps layer qualified names (the run file's ``layer_ids``) to norms; a
        collapsed block takes the L2 norm of its layers' norms (the norm of their gradients
        together). ``levels`` are log10 (low, high); give views that are compared the same
        levels. By default they span the values shown. Items change in place.
        """
        self.model.set_gradients(layer_norms=layer_norms, levels=levels)

    def set_edge_gradients(self, block_norms: dict[str, float] | None) -> None:
        """Colour each skip by the gradient recorded at its merge's block output (the run file's
        ``act_grad_norm`` by ``block_ids``); None gives the skips their kind colours back."""
        self.model.set_gradients(block_norms=block_norms)

    def gradient_levels(self) -> tuple[float, float] | None:
        """The log10 levels the colours use now (fixed, or spanning the data), or None."""
        return self._colours.levels

    def node_norms(self, layer_norms: dict[str, float] | None = None) -> dict[str, float]:
        """The gradient norm of every drawn node that has one (see ``ArchitectureModel.node_norms``)."""
        return self.model.node_norms(layer_norms)

    def _on_gradients(self) -> None:
        if not self._alive():
            return
        if self.model.layout is not None:
            self.legend.set_counts(self.model.layout.skip_counts, gradient=self.model.block_norms is not None)
        self._recolour()
        if self.model.state.selected is not None and self.model.opgraph is not None:
            self.details.setHtml(self._details_html())

    def _on_scale(self) -> None:
        if self._alive():
            self._recolour()

    def _recolour(self) -> None:
        """Apply the model's norms and colour levels to the drawn items, in place."""
        self._colours = colours_of(self.model)
        paint(self.graph_scene, self.model.layout, self._colours)
        self.colour_bar.set_levels(self._colours.levels)
        self._place_overlays()

    # theme ----------------------------------------------------------------------------------

    def apply_theme(self, theme) -> None:
        """Draw the graph on the theme's background (its boxes keep their fills and labels)."""
        self.graph_scene.set_background(theme.background if theme.dark else None)
        self.canvas.resetCachedContent()
        self.canvas.message.setStyleSheet(f"color: {'#D0D0D0' if theme.dark else '#52606D'}; font-size: 14px; "
                                          "background: transparent;")

    # export ---------------------------------------------------------------------------------

    def export_scene(self, legend: bool = True) -> Scene:
        """The figure as Scene primitives: today's colours and selection, the legend, the colour bar."""
        if self.model.layout is None:
            raise ResvizError("architecture view: nothing to export yet (no model drawn)")
        return export_scene(self.model.layout, node_colours=self._colours.nodes, edge_colours=self._colours.edges,
                            levels=self._colours.levels, selected=self.model.selected_node(), title=self.title or None,
                            legend=legend)

    def export_image(self, path: str | Path, size: tuple[int, int] | None = None) -> Path:
        """Save the whole graph as PNG or SVG (by the suffix), both drawn from one Scene.

        ``size`` (width, height) in pixels: the PNG's size (the figure keeps its aspect, centred),
        or the SVG's displayed size. Without it a PNG is twice the scene's size, lowered to fit
        30,000 pixels a side (a graph too large to read that way asks for a coarser level or SVG).
        """
        path = check_export_path(path, size)
        return write_scene(self.export_scene(), path, size)

    def _on_export_clicked(self) -> None:
        if self.model.layout is None:
            return
        name = (self.title or "architecture").replace(" ", "_").replace("/", "_")
        path, _ = QFileDialog.getSaveFileName(self, "Export the architecture", f"{name}.png",
                                              "PNG image (*.png);;SVG drawing (*.svg)")
        if path:  # the file dialog has asked before replacing a file
            try:
                saved = self.export_image(path)
                self._show_message(announce_saved(self, [saved]))
                QTimer.singleShot(3000, lambda: self._show_message(None) if shiboken6.isValid(self) else None)
            except ResvizError as error:
                self._show_message(str(error))
                QTimer.singleShot(4000, lambda: self._show_message(None))
