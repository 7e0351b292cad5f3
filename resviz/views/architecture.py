"""The architecture view's model: one traced graph, what of it is drawn, and its gradients.

``ArchitectureModel`` holds a traced ``OpGraph``, the drawing made of it (``DrawnGraph``: the
grouping, layout and scene for one ``ShownState``) and the gradient norms to colour it by. It
answers what the widget asks — which box shows a module, which module a box belongs to, what
a search finds, which box stands in for a module the trace dropped, the gradient norm of each
box and skip edge, what the details pane says — and turns user actions (expand, collapse,
reveal, select, level, fold) into changes of its ``ArchitectureViewState``.

Two models can share one state (``TwinArchitectureModel``): a plain network and its residual
twin then show the same level, expansions, folding and selection.

Grouping and laying out the graph is the widget's job (it runs long work in a worker and hands
the result back with ``set_drawn``); the model never imports Qt.
"""

from __future__ import annotations

import math
from typing import Any

from ..formatting import format_count
from .architecture_details import (
    GraphSummary,
    NodeDetails,
    box_rows,
    describe_skip,
    module_rows,
    skip_label,
)
from .architecture_drawing import DrawnGraph, draw_graph, first_drawing
from .architecture_state import ArchitectureViewState, ShownState, ancestors_of
from .colour_levels import log_levels
from .events import EmitterGroup

_KEEP: Any = object()  # "leave this field as it is" in ``set_gradients``


def _parent(name: str) -> str:
    return name.rpartition(".")[0]


class ArchitectureModel:
    """One model's graph as the architecture view shows it.

    Events: ``graph(OpGraph)`` when a new graph is set, ``drawn(DrawnGraph)`` when a new drawing
    is in place, ``gradients()`` when its norms or given levels change, ``scale()`` when the
    colour scale it shares with a twin changed on the other side, ``marked()`` when the set of
    marked modules changes (a lesion's deleted blocks, drawn grey). What is shown lives in
    ``state`` (its own events).
    """

    def __init__(self, state: ArchitectureViewState | None = None) -> None:
        self.state = state if state is not None else ArchitectureViewState()
        self.events = EmitterGroup("graph", "drawn", "gradients", "scale", "marked")
        self.colour_scale: TwinArchitectureModel | None = None  # set by a twin pair: one scale for both
        self.title = ""
        self._opgraph: Any = None
        self._drawn: DrawnGraph | None = None
        self._box_of_module: dict[str, str] = {}  # module name -> the drawn node that shows it
        self._owner_cache: dict[str, str | None] = {}
        self._modules_with_ops: set[str] | None = None
        self._layer_norms: dict[str, float] | None = None
        self._block_norms: dict[str, float] | None = None
        self._levels: tuple[float, float] | None = None
        self._marked: frozenset[str] = frozenset()

    # the graph and its drawing -------------------------------------------------------------

    @property
    def opgraph(self) -> Any:
        """The traced graph (``resviz.graph.OpGraph``), or None before one is set."""
        return self._opgraph

    @property
    def drawn(self) -> DrawnGraph | None:
        return self._drawn

    @property
    def layout(self) -> Any:
        """The Layout drawn now, or None."""
        return self._drawn.layout if self._drawn else None

    @property
    def block_graph(self) -> Any:
        """The BlockGraph drawn now, or None."""
        return self._drawn.block_graph if self._drawn else None

    def set_graph(self, opgraph: Any, default_level: str, drawn: DrawnGraph | None = None, title: str = "") -> None:
        """A newly traced graph (with its first drawing, if made). It opens at the level the user
        chose when there is one, else at ``default_level`` (the finest of both defaults for
        twins); folding and the expansions stay as they are (those naming modules this graph
        lacks are not drawn), and the selection stays if this graph has it."""
        self._opgraph = opgraph
        self.title = title
        self._modules_with_ops = None
        self._set_drawn(drawn)
        self.events.graph.emit(opgraph)
        if drawn is not None:
            self.events.drawn.emit(drawn)
        with self.state.changing():
            if self.state.selected is not None and self.module_of(self.state.selected) is None:
                self.state.selected = None
            self.state.propose_default(self, default_level)

    def expect_graph(self, title: str = "") -> None:
        """A new graph is being traced: until it comes, the old one's default level no longer
        counts (a twin then opens at the new graphs' defaults, not at the old ones')."""
        self.title = title
        self.state.withdraw_default(self)

    def wanted(self) -> ShownState:
        """What to draw now: the state's level and fold, and its expansions that name modules of
        this graph (a twin may expand a module only the other has)."""
        shown = self.state.shown()
        if self._opgraph is None:
            return shown
        modules = self._opgraph.module_types
        return shown._replace(expanded=tuple(e for e in shown.expanded if e in modules),
                              collapsed=tuple(c for c in shown.collapsed if c in modules))

    def needs_drawing(self) -> bool:
        """Whether the drawing in place is not (yet) what the state asks for."""
        return self._opgraph is not None and (self._drawn is None or self._drawn.shown != self.wanted())

    def open_graph(self, opgraph: Any, title: str = "") -> None:
        """Set and draw a traced graph here, at once (the window traces and draws in workers)."""
        default, drawn = first_drawing(opgraph, self.state.chosen_level, self.state.fold)
        self.set_graph(opgraph, default, drawn, title=title)
        self.draw_now()

    def draw_now(self) -> None:
        """Draw what the state asks for, at once, if the drawing in place is not that."""
        if self.needs_drawing():
            self.set_drawn(draw_graph(self._opgraph, self.wanted()))

    def set_drawn(self, drawn: DrawnGraph) -> None:
        """Put a new drawing in place (the widget made it for ``drawn.shown``)."""
        self._set_drawn(drawn)
        self.events.drawn.emit(drawn)

    def _set_drawn(self, drawn: DrawnGraph | None) -> None:
        self._drawn = drawn
        self._box_of_module = {}
        self._owner_cache = {}
        if drawn is None:
            return
        for node_id, node in drawn.layout.nodes.items():
            if node.collapsed:
                for module in node.info.get("folded_ids") or [node_id]:
                    self._box_of_module[module] = node_id
            else:
                self._box_of_module.setdefault(node_id, node_id)

    # user actions ---------------------------------------------------------------------------

    @property
    def level(self) -> str:
        return self.state.level

    def set_level(self, level: str) -> None:
        self.state.set_level(level)

    def is_expandable(self, node_id: str) -> bool:
        """Whether a drawn node is a collapsed module with children to show."""
        node = self.layout.nodes.get(node_id) if self.layout else None
        return bool(node is not None and node.collapsed and node.info.get("children"))

    def expand(self, node_id: str) -> bool:
        """Show the children of a collapsed node; False (nothing changes) if it has none."""
        if self._opgraph is None or not self.is_expandable(node_id):
            return False
        self.state.expand(node_id)
        return True

    def collapse(self, node_id: str) -> bool:
        """Draw a module as one box; False if it is no module with children, or one box already."""
        if self._opgraph is None or not node_id or not self._opgraph.module_children.get(node_id):
            return False
        node = self.layout.nodes.get(node_id) if self.layout else None
        if node is not None and node.collapsed:
            return False
        self.state.collapse(node_id)
        return True

    def enclosing_module(self, node_id: str) -> str | None:
        """What a double click on an open node collapses: the module around it."""
        module = self.module_of(node_id)
        return (_parent(module) if module == node_id else module) or None

    def select(self, name: str | None, *, reveal: bool = False) -> None:
        """Select a module or op by name; ``reveal`` expands the blocks that hide it."""
        if reveal and name and self.layout is not None and name not in self.layout.nodes:
            self.reveal(name)
        self.state.selected = name or None

    def reveal(self, name: str) -> None:
        """Expand the collapsed blocks around ``name`` so it gets a box of its own."""
        module = self.module_of(name)
        if module:
            self.state.reveal(module)

    # navigation -----------------------------------------------------------------------------

    def visible_node_for(self, name: str | None) -> str | None:
        """The drawn node that shows ``name``: its own box, or the collapsed block holding it."""
        if name is None or self.layout is None:
            return None
        if name in self.layout.nodes:
            return name
        probe = name
        while probe:
            if probe in self._box_of_module:
                return self._box_of_module[probe]
            probe = _parent(probe)
        return None

    def selected_node(self) -> str | None:
        """The drawn node that shows the selection."""
        return self.visible_node_for(self.state.selected)

    def module_of(self, name: str) -> str | None:
        """The module a name belongs to: itself, or for an op (``layer1.0.add``) its module."""
        opgraph = self._opgraph
        if opgraph is None:
            return None
        if name in opgraph.module_types:
            return name
        if name in opgraph.graph:
            return opgraph.graph.nodes[name].get("module") or None
        probe = _parent(name)
        while probe and probe not in opgraph.module_types:
            probe = _parent(probe)
        return probe or None

    def search(self, text: str) -> list[str]:
        """Modules and ops whose name contains ``text``, case-insensitive: exact first, then
        those that start with it, then in model order."""
        needle = text.strip().lower()
        if not needle or self._opgraph is None:
            return []
        names = [n for n in self._opgraph.module_types if n]
        known = set(names)
        names += [n for n, data in self._opgraph.graph.nodes(data=True)
                  if n not in known and data.get("kind") not in ("input", "output")]
        order = {n: i for i, n in enumerate(names)}
        hits = [n for n in names if needle in n.lower()]
        hits.sort(key=lambda n: (n.lower() != needle, not n.lower().startswith(needle), order[n]))
        return hits

    def has_ops(self, name: str) -> bool:
        """Whether ``name`` is an op, or a module with ops of its own or in its children (an
        ``nn.Identity`` has none: the trace drops it)."""
        opgraph = self._opgraph
        if opgraph is None:
            return False
        if name in opgraph.graph:
            return True
        if self._modules_with_ops is None:
            modules: set[str] = set()
            for _, module in opgraph.graph.nodes(data="module"):
                while module and module not in modules:
                    modules.add(module)
                    module = _parent(module)
            self._modules_with_ops = modules
        return name in self._modules_with_ops

    def stand_in_for(self, module: str) -> str | None:
        """The drawn node that shows a module without ops: the box of the op that runs right
        after the last op of the modules before it (the next on its path), else of that op."""
        if self._opgraph is None or self.layout is None:
            return None
        opgraph = self._opgraph
        order = {name: i for i, name in enumerate(opgraph.module_types)}
        if module not in order:
            return None
        position = order[module]
        ancestors = {module, "", *ancestors_of(module)}
        scope = _parent(module)  # its siblings' ops: a module shared across the model would mislead

        def inside(owner: str) -> bool:
            return owner in order and (not scope or owner.startswith(scope + "."))
        ops = sorted((data.get("order", 0), node, data.get("module") or "")
                     for node, data in opgraph.graph.nodes(data=True) if data.get("kind") not in ("input", "output"))
        # An op of an enclosing module (a block's add) may run before or after it: not a landmark.
        before = [i for i, (_, _, owner) in enumerate(ops)
                  if owner not in ancestors and inside(owner) and order[owner] < position]
        after = before[-1] + 1 if before else next(
            (i for i, (_, _, owner) in enumerate(ops) if order.get(owner, -1) > position), len(ops))
        candidates = ops[after:after + 1] + ([ops[before[-1]]] if before else [])
        for _, node, _ in candidates:
            shown = self.visible_node_for(node)
            if shown is not None:
                return shown
        return None

    def skip_edges(self) -> list[tuple[str, str, str]]:
        """(source, target, kind) of every skip edge drawn now (a collapsed block's is a loop)."""
        return [(e.source, e.target, e.kind) for e in (self.layout.edges if self.layout else []) if e.kind != "main"]

    # gradients ------------------------------------------------------------------------------

    @property
    def layer_norms(self) -> dict[str, float] | None:
        """Layer qualified name -> gradient norm (the run file's ``layer_ids``), or None."""
        return self._layer_norms

    @property
    def block_norms(self) -> dict[str, float] | None:
        """Block name -> gradient norm at its output (the run file's ``block_ids``), or None."""
        return self._block_norms

    @property
    def levels(self) -> tuple[float, float] | None:
        """The log10 (low, high) given for the colours, or None to span the values shown."""
        return self._levels

    @property
    def coloured(self) -> bool:
        """Whether there are norms to colour by (boxes, skips or both)."""
        return self._layer_norms is not None or self._block_norms is not None

    def colour_levels(self) -> tuple[float, float] | None:
        """The log10 (low, high) the colours use now: the twins' shared scale, else the levels
        given, else the span of the norms shown; None when nothing is coloured."""
        if not self.coloured:
            return None
        if self.colour_scale is not None:
            return self.colour_scale.shared_levels()
        return self._levels or log_levels(list(self.node_norms().values()) + list(self.edge_norms().values()))

    def set_gradients(self, *, layer_norms: dict[str, float] | None = _KEEP,
                      block_norms: dict[str, float] | None = _KEEP,
                      levels: tuple[float, float] | None = _KEEP) -> None:
        """Change the norms to colour by (None: no colours) and the colour levels; a field left
        out stays. One ``gradients`` event."""
        if layer_norms is not _KEEP:
            self._layer_norms = dict(layer_norms) if layer_norms is not None else None
        if block_norms is not _KEEP:
            self._block_norms = dict(block_norms) if block_norms is not None else None
        if levels is not _KEEP:
            self._levels = (float(levels[0]), float(levels[1])) if levels is not None else None
        self.events.gradients.emit()

    # marks ------------------------------------------------------------------------------------

    @property
    def marked(self) -> frozenset[str]:
        """The modules drawn as marked (qualified names), e.g. the blocks a lesion deleted."""
        return self._marked

    def set_marked(self, names) -> None:
        """Mark these modules (an iterable of qualified names; empty: none). One ``marked`` event
        when the set changes."""
        names = frozenset(names)
        if names != self._marked:
            self._marked = names
            self.events.marked.emit()

    def marked_nodes(self) -> set[str]:
        """The drawn nodes that show a marked module (a module inside a collapsed block marks the block)."""
        return {node for name in self._marked if (node := self.visible_node_for(name)) is not None}

    def _owner(self, layer: str) -> str | None:
        """The drawn node whose colour a layer's norm adds to."""
        if layer not in self._owner_cache:
            self._owner_cache[layer] = self.visible_node_for(layer)
        return self._owner_cache[layer]

    def node_norms(self, layer_norms: dict[str, float] | None = None) -> dict[str, float]:
        """The gradient norm of every drawn node that has one: its layer's, or for a collapsed
        block the L2 norm of its layers' norms (the norm of their gradients together; NaN and
        Inf kept)."""
        norms = self._layer_norms if layer_norms is None else layer_norms
        if not norms or self.layout is None:
            return {}
        squares: dict[str, float] = {}
        for layer, value in norms.items():
            owner = self._owner(layer)
            if owner is None:
                continue
            if not self.layout.nodes[owner].collapsed and owner != layer:
                continue  # an op inside a drawn module, not the layer itself
            squares[owner] = squares.get(owner, 0.0) + float(value) ** 2
        return {node: math.sqrt(total) if math.isfinite(total) else total for node, total in squares.items()}

    def node_norm(self, name: str) -> float | None:
        """The norm shown for ``name``: its box's, or the layer's own when it sits inside a box."""
        if self._layer_norms is None:
            return None
        if self.visible_node_for(name) == name:
            return self.node_norms().get(name)
        value = self._layer_norms.get(name)
        return None if value is None else float(value)

    def edge_norms(self, block_norms: dict[str, float] | None = None) -> dict[tuple[str, str], float]:
        """(source, target) -> the gradient each drawn skip edge carries: the norm at its merge's
        block output (the mean when one edge draws several skips, as a folded run does)."""
        norms = self._block_norms if block_norms is None else block_norms
        blocks = self.block_graph
        if not norms or blocks is None:
            return {}
        out = {}
        for u, v, data in blocks.graph.edges(data=True):
            if data.get("kind", "main") == "main":
                continue
            values = [float(norms[blocks.skips[i].block]) for i in data.get("skips", ())
                      if blocks.skips[i].block in norms]
            if values:
                out[(u, v)] = sum(values) / len(values)
        return out

    # what the details pane says -------------------------------------------------------------

    def skips_at(self, node_id: str) -> list[Any]:
        """The SkipConnections drawn at a node (its loop, or edges into or out of it)."""
        blocks = self.block_graph
        if blocks is None:
            return []
        out, seen = [], set()
        for u, v, data in blocks.graph.edges(data=True):
            if node_id in (u, v):
                for index in data.get("skips", ()):
                    if index not in seen:
                        seen.add(index)
                        out.append(blocks.skips[index])
        return out

    def summary(self) -> GraphSummary | None:
        """What the details pane says with nothing selected; None before a graph is set."""
        opgraph = self._opgraph
        if opgraph is None:
            return None
        counts = self.layout.skip_counts if self.layout else {}
        skips = ", ".join(f"{n} {skip_label(k)}" for k, n in counts.items()) or "none (a plain network)"
        reason = opgraph.fallback_reason
        return GraphSummary(title=self.title or opgraph.model_type or "model",
                            parameters=format_count(opgraph.parameter_count), skips=skips,
                            boxes=len(self.layout.nodes) if self.layout else 0, level=self.state.level,
                            tracer=opgraph.tracer + (f" (torch.fx failed: {reason})" if reason else ""))

    def details(self, name: str) -> NodeDetails:
        """What the details pane and the tooltip say about a module, op or drawn box."""
        node = self.layout.nodes.get(name) if self.layout else None
        opgraph = self._opgraph
        rows: list[tuple[str, str]] = []
        if node is not None:
            rows = box_rows(node)
        elif opgraph is not None and name in opgraph.module_types:
            rows = module_rows(opgraph, name)
        norm = self.node_norm(name)
        if norm is not None:
            rows.append(("gradient norm", f"{norm:.3g}"))
        if self._block_norms and name in self._block_norms:
            rows.append(("output gradient", f"{self._block_norms[name]:.3g}"))
        details = NodeDetails(name=name, label=node.label if node else name, rows=rows,
                              skips=[describe_skip(s) for s in self.skips_at(name)],
                              expandable=self.is_expandable(name))
        shown = self.visible_node_for(name)
        if shown is not None and shown != name:
            details.inside = shown
        else:
            parent = self.enclosing_module(name)
            if parent and opgraph is not None:
                details.part_of = (parent, opgraph.module_types.get(parent, ""))
        if opgraph is not None:
            details.children = list(opgraph.module_children.get(name, []))
        return details


class TwinArchitectureModel:
    """A plain network and its residual twin shown side by side: two ``ArchitectureModel``s that
    share one ``ArchitectureViewState`` and one colour scale (``levels``, or the span of both
    models' norms), so the same layer can be pointed at, and compared, in both.

    Events: ``levels(tuple | None)`` when the levels given change. A change of one model's
    gradients or drawing emits ``scale`` on the other, whose colours depend on it.
    """

    def __init__(self, state: ArchitectureViewState | None = None) -> None:
        self.state = state if state is not None else ArchitectureViewState()
        self.plain = ArchitectureModel(self.state)
        self.residual = ArchitectureModel(self.state)
        self.events = EmitterGroup("levels")
        self._levels: tuple[float, float] | None = None
        self._writing = False
        for model, other in ((self.plain, self.residual), (self.residual, self.plain)):
            model.colour_scale = self
            model.events.gradients.connect(lambda o=other: self._rescale(o))
            model.events.drawn.connect(lambda _drawn, o=other: self._rescale(o))

    @property
    def models(self) -> tuple[ArchitectureModel, ArchitectureModel]:
        return self.plain, self.residual

    @property
    def levels(self) -> tuple[float, float] | None:
        """The log10 levels given for both, or None to span both models' norms."""
        return self._levels

    def shared_levels(self) -> tuple[float, float] | None:
        """The levels given, else the span of every node and edge norm both models show."""
        if self._levels is not None:
            return self._levels
        values: list[float] = []
        for model in self.models:
            values += list(model.node_norms().values()) + list(model.edge_norms().values())
        return log_levels(values)

    def colour_levels(self) -> tuple[float, float] | None:
        """The shared levels, or None when neither model is coloured."""
        return self.shared_levels() if any(m.coloured for m in self.models) else None

    def set_gradients(self, *, plain_layer_norms: dict[str, float] | None = _KEEP,
                      residual_layer_norms: dict[str, float] | None = _KEEP,
                      plain_block_norms: dict[str, float] | None = _KEEP,
                      residual_block_norms: dict[str, float] | None = _KEEP,
                      levels: tuple[float, float] | None = _KEEP) -> None:
        """Change both models' norms and the shared levels together: one ``gradients`` event
        each, after every value is in place (a field left out stays)."""
        self._writing = True  # each model hears once, with both sides in place: no ``scale`` echo
        try:
            with self.plain.events.gradients.blocked(), self.residual.events.gradients.blocked():
                self.plain.set_gradients(layer_norms=plain_layer_norms, block_norms=plain_block_norms)
                self.residual.set_gradients(layer_norms=residual_layer_norms, block_norms=residual_block_norms)
            if levels is not _KEEP:
                self._levels = (float(levels[0]), float(levels[1])) if levels is not None else None
                self.events.levels.emit(self._levels)
            for model in self.models:
                model.events.gradients.emit()
        finally:
            self._writing = False

    def set_levels(self, levels: tuple[float, float] | None) -> None:
        self.set_gradients(levels=levels)

    def search(self, text: str) -> list[str]:
        """The residual model's hits, then the plain model's others."""
        hits = self.residual.search(text)
        return hits + [h for h in self.plain.search(text) if h not in hits]

    def _rescale(self, other: ArchitectureModel) -> None:
        if not self._writing:  # ``set_gradients`` tells both at the end
            other.events.scale.emit()
