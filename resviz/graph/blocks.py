"""Levels of detail: the op graph collapsed by the module hierarchy into a ``BlockGraph``.

- ``layers``: every leaf module and function op;
- ``blocks``: each block one box: the residual blocks (modules holding a skip), and for the
  rest of the model (plain twins included) the outermost composite modules, or containers
  of plain layers (a VGG-style ``Sequential(conv, bn, relu, ...)``);
- ``stages``: the modules that hold blocks (``layer1``..``layer4``) one box each.

``expand`` and ``collapse`` override the level for single modules by qualified name, so a
view can open one block or close one stage. A skip whose block is collapsed stays drawn: as
a bypass edge from the box to itself (an arc beside the box). ``fold_repeats`` folds runs of
identical collapsed blocks into one box ("BasicBlock ×9").

Node attributes: ``label`` and ``detail`` (two lines of text), ``kind`` (class name or op),
``category`` (conv, norm, act, pool, linear, merge, concat, block, ...), ``shape``,
``params``, ``flops``, ``collapsed``, ``folded`` (run length), ``children`` (child modules a
view can expand into), ``members`` (op node ids inside), ``module``, ``folded_ids``,
``order``. Edge attributes: ``kind`` ("main" or a skip kind), ``skips`` (indices into
``BlockGraph.skips``), ``count``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from ..errors import ResvizError, did_you_mean
from ..formatting import format_count, format_shape
from .opgraph import FUNCTION, INPUT, MODULE, OUTPUT, OpGraph
from .ops import module_category
from .skips import find_skips, residual_blocks
from .types import SkipConnection

LEVELS = ("stages", "blocks", "layers")
LEVEL_ALIASES = {"ops": "layers"}  # every op is already its own node at "layers"
_FINER = {"stages": "blocks", "blocks": "layers", "layers": "layers"}


@dataclass
class BlockGraph:
    graph: nx.DiGraph
    skips: list[SkipConnection]
    level: str
    opgraph: OpGraph | None = None
    collapsed: set[str] = field(default_factory=set)  # modules drawn as one box
    node_of: dict[str, str] = field(default_factory=dict)  # op node id -> block graph node id

    def to_dict(self) -> dict[str, Any]:
        nodes = []
        for node, data in self.graph.nodes(data=True):
            entry = {"id": node}
            entry.update({k: (list(v) if isinstance(v, (tuple, set)) else v) for k, v in data.items()})
            nodes.append(entry)
        edges = [{"source": u, "target": v, **data} for u, v, data in self.graph.edges(data=True)]
        return {"level": self.level, "nodes": nodes, "edges": edges, "skips": [s.to_dict() for s in self.skips]}


@dataclass
class Hierarchy:
    """Which modules are blocks and stages in one traced model."""

    blocks: set[str]
    stages: set[str]
    used: set[str]  # modules with at least one op node in them


def _parent(name: str) -> str:
    return name.rpartition(".")[0]


def _ancestors(name: str) -> list[str]:
    """Proper ancestors, outermost first, without the root."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def analyse_hierarchy(opgraph: OpGraph, skips: list[SkipConnection]) -> Hierarchy:
    children = opgraph.module_children
    leaves = opgraph.leaf_modules
    used: set[str] = set()
    for _, data in opgraph.graph.nodes(data=True):
        if data["kind"] in (MODULE, FUNCTION) and data["module"]:
            used.add(data["module"])
            used.update(_ancestors(data["module"]))
    skip_blocks = {b for b in residual_blocks(skips) if b}
    holds_skip_block: set[str] = set()
    for block in skip_blocks:
        holds_skip_block.update(_ancestors(block))

    def is_block(name: str) -> bool:
        if name in skip_blocks:
            return True
        if name in holds_skip_block or name in leaves:
            return False
        kids = [c for c in children.get(name, []) if c in used]
        if not kids:
            return False
        if name not in opgraph.container_modules:
            return True  # a composite module of the user's or the zoo's: a block
        return all(c in leaves for c in kids)  # a container of plain layers

    blocks: set[str] = set()
    stack = [c for c in children.get("", []) if c in used]
    while stack:
        name = stack.pop()
        if is_block(name):
            blocks.add(name)
        else:
            stack.extend(c for c in children.get(name, []) if c in used and c not in leaves)
    candidates = {_parent(b) for b in blocks} - {""}
    stages = {c for c in candidates if not any(a in candidates for a in _ancestors(c))}
    return Hierarchy(blocks, stages, used)


def _boxes(opgraph: OpGraph, hierarchy: Hierarchy, level: str, expand: set[str], collapse: set[str]) -> set[str]:
    children = opgraph.module_children
    leaves = opgraph.leaf_modules
    opened = set(expand)
    for name in expand:
        opened.update(_ancestors(name))
    boxed: set[str] = set()

    def visit(module: str, current: str) -> None:
        for child in children.get(module, []):
            if child not in hierarchy.used or child in leaves:
                continue
            if child in collapse:
                boxed.add(child)
            elif child in opened:
                is_level_box = (current == "stages" and child in hierarchy.stages) or (
                    current in ("stages", "blocks") and child in hierarchy.blocks)
                visit(child, _FINER[current] if is_level_box else current)
            elif current == "stages" and child in hierarchy.stages:
                boxed.add(child)
            elif current in ("stages", "blocks") and child in hierarchy.blocks:
                boxed.add(child)
            else:
                visit(child, current)

    visit("", level)
    return boxed


def _check_names(opgraph: OpGraph, names: Iterable[str], what: str) -> set[str]:
    checked = set()
    for name in names:
        if name not in opgraph.module_types:
            raise ResvizError(f"cannot {what} {name!r}: no such module{did_you_mean(name, opgraph.module_types)}")
        if name:
            checked.add(name)
    return checked


def _format_shape(shape: Any) -> str:
    """A box's shape line: the shared format, at most two outputs, nothing when unknown."""
    return format_shape(shape, max_outputs=2) if shape is not None else ""


def block_graph(opgraph: OpGraph, level: str = "blocks", expand: Iterable[str] = (), collapse: Iterable[str] = (),
                fold_repeats: bool = False, skips: list[SkipConnection] | None = None) -> BlockGraph:
    """Collapse ``opgraph`` to ``level``, with per-module ``expand``/``collapse`` overrides."""
    requested = level
    level = LEVEL_ALIASES.get(level, level)
    if level not in LEVELS:
        raise ResvizError(f"level {level!r} is not one of {', '.join(LEVELS)}")
    skips = find_skips(opgraph) if skips is None else skips
    expand_set = _check_names(opgraph, expand, "expand")
    collapse_set = _check_names(opgraph, collapse, "collapse")
    hierarchy = analyse_hierarchy(opgraph, skips)
    boxed = _boxes(opgraph, hierarchy, level, expand_set - collapse_set, collapse_set)

    ops = opgraph.graph
    node_of: dict[str, str] = {}
    for node, data in ops.nodes(data=True):
        rep = node
        if data["kind"] in (MODULE, FUNCTION) and data["module"]:
            for prefix in [*_ancestors(data["module"]), data["module"]]:
                if prefix in boxed:
                    rep = prefix
                    break
        node_of[node] = rep

    graph = nx.DiGraph()
    members: dict[str, list[str]] = {}
    for node in sorted(ops.nodes, key=lambda n: ops.nodes[n]["order"]):
        members.setdefault(node_of[node], []).append(node)
    for rep, inside in members.items():
        graph.add_node(rep, **_node_attrs(opgraph, rep, inside, rep in boxed, node_of))

    skip_edges: dict[tuple[str, str], int] = {}
    for index, skip in enumerate(skips):
        short = set(skip.short_path)
        for node in [skip.fork, *skip.short_path]:
            for target in ops.successors(node):
                if target in short or target == skip.merge:
                    skip_edges[(node, target)] = index

    for index, skip in enumerate(skips):
        box = node_of[skip.merge]
        if box in boxed and all(node_of[n] == box for n in skip.long_path):
            _add_edge(graph, box, box, skip.kind, index)  # hidden inside its collapsed block: a bypass
    for u, v in ops.edges:
        ru, rv = node_of[u], node_of[v]
        if ru == rv:
            continue
        index = skip_edges.get((u, v))
        if index is not None:
            skip = skips[index]
            box = node_of[skip.merge]
            if box in boxed and all(node_of[n] == box for n in skip.long_path):
                index = None  # already drawn as the box's bypass; this is its main input
        _add_edge(graph, ru, rv, "main" if index is None else skips[index].kind, index)

    result = BlockGraph(graph, skips, requested, opgraph, boxed, node_of)
    if fold_repeats:
        _fold(result)
    return result


def _add_edge(graph: nx.DiGraph, u: str, v: str, kind: str, skip_index: int | None) -> None:
    """One edge per pair of nodes; skips that share it are counted by kind in ``kinds``."""
    if not graph.has_edge(u, v):
        graph.add_edge(u, v, kind=kind, skips=[], count=0, kinds={}, main=kind == "main")
    data = graph.edges[u, v]
    if skip_index is None:
        data["main"] = True
        return
    if skip_index not in data["skips"]:
        data["skips"].append(skip_index)
        data["count"] = len(data["skips"])
        data["kinds"][kind] = data["kinds"].get(kind, 0) + 1
    # The edge shows as its commonest skip kind (a main edge that also carries a skip is a skip).
    data["kind"] = max(data["kinds"], key=lambda k: (data["kinds"][k], -list(data["kinds"]).index(k)))


def _exit_shape(opgraph: OpGraph, inside: list[str], node_of: dict[str, str], rep: str) -> Any:
    ops = opgraph.graph
    for node in reversed(inside):
        if any(node_of[s] != rep for s in ops.successors(node)):
            return ops.nodes[node]["shape"]
    return ops.nodes[inside[-1]]["shape"]


def _node_attrs(opgraph: OpGraph, rep: str, inside: list[str], boxed: bool, node_of: dict[str, str]) -> dict[str, Any]:
    ops = opgraph.graph
    flops_values = [ops.nodes[n]["flops"] for n in inside]
    flops = sum(f for f in flops_values if f)
    order = ops.nodes[inside[0]]["order"]
    if boxed:
        kind = opgraph.module_types.get(rep, "")
        shape = _exit_shape(opgraph, inside, node_of, rep)
        params = opgraph.module_params.get(rep, 0)
        detail = " · ".join(p for p in (kind, _format_shape(shape), f"{format_count(params)} params" if params else "")
                            if p)
        children = [c for c in opgraph.module_children.get(rep, [])]
        return dict(label=rep, detail=detail, kind=kind, category="block", shape=shape, params=params, flops=flops,
                    collapsed=True, folded=1, children=children, members=list(inside), module=rep,
                    folded_ids=[rep], order=order, signature=opgraph.module_signatures.get(rep, ""))
    data = ops.nodes[rep]
    kind = data["op"]
    if data["kind"] in (INPUT, OUTPUT):
        label, category = data["kind"], data["kind"]
        detail = _format_shape(data["shape"])
    else:
        label = rep
        category = module_category(kind, None if data["kind"] == MODULE else kind)
        detail = " · ".join(p for p in (kind if data["kind"] == MODULE else "", _format_shape(data["shape"])) if p)
    return dict(label=label, detail=detail, kind=kind, category=category, shape=data["shape"], params=data["params"],
                flops=data["flops"], collapsed=False, folded=1, children=[], members=[rep], module=data["module"],
                folded_ids=[rep], order=order, signature="")


def _main_neighbours(graph: nx.DiGraph, node: str) -> tuple[list[str], list[str]]:
    preds = [p for p in graph.predecessors(node) if p != node]
    succs = [s for s in graph.successors(node) if s != node]
    return preds, succs


def _fold(bg: BlockGraph) -> None:
    """Fold runs of identical, consecutive collapsed boxes into one box."""
    graph = bg.graph
    order = sorted(graph.nodes, key=lambda n: graph.nodes[n]["order"])

    def key(node: str) -> tuple | None:
        data = graph.nodes[node]
        if not data["collapsed"]:
            return None
        preds, _ = _main_neighbours(graph, node)
        in_shape = graph.nodes[preds[0]]["shape"] if len(preds) == 1 else None
        loop = graph.edges[node, node]["kind"] if graph.has_edge(node, node) else None
        return data["signature"], str(data["shape"]), str(in_shape), loop

    runs: list[list[str]] = []
    current: list[str] = []
    for node in order:
        preds, succs = _main_neighbours(graph, node)
        k = key(node)
        if current:
            last = current[-1]
            _, last_succs = _main_neighbours(graph, last)
            if k is not None and k == key(last) and last_succs == [node] and preds == [last]:
                current.append(node)
                continue
            if len(current) > 1:
                runs.append(current)
        current = [node] if k is not None else []
    if len(current) > 1:
        runs.append(current)

    for run in runs:
        first, last = run[0], run[-1]
        data = graph.nodes[first]
        kind = data["kind"]
        members = [m for node in run for m in graph.nodes[node]["members"]]
        data.update(label=f"{kind} ×{len(run)}", folded=len(run), folded_ids=list(run), members=members,
                    params=sum(graph.nodes[n]["params"] for n in run), flops=sum(graph.nodes[n]["flops"] for n in run),
                    shape=graph.nodes[last]["shape"],
                    detail=" · ".join(p for p in (f"{first} – {last}", _format_shape(graph.nodes[last]["shape"]))
                                      if p))
        loop: dict[str, Any] = {"skips": [], "kinds": {}}
        for node in run:
            if graph.has_edge(node, node):
                edge = graph.edges[node, node]
                loop["skips"].extend(edge["skips"])
                for kind_name, count in edge["kinds"].items():
                    loop["kinds"][kind_name] = loop["kinds"].get(kind_name, 0) + count
        for succ in list(graph.successors(last)):
            if succ not in run:
                attrs = dict(graph.edges[last, succ])
                graph.add_edge(first, succ, **attrs)
        graph.remove_nodes_from(run[1:])
        if loop["skips"]:
            graph.add_edge(first, first, kind=max(loop["kinds"], key=loop["kinds"].get), skips=loop["skips"],
                           count=len(loop["skips"]), kinds=loop["kinds"], main=False)
        for op_node, rep in bg.node_of.items():
            if rep in run:
                bg.node_of[op_node] = first


def default_level(opgraph: OpGraph, max_nodes: int = 120, skips: list[SkipConnection] | None = None) -> str:
    """The finest level that draws at most ``max_nodes`` boxes: big models open collapsed."""
    skips = find_skips(opgraph) if skips is None else skips
    if opgraph.graph.number_of_nodes() <= max_nodes:
        return "layers"
    if block_graph(opgraph, "blocks", skips=skips).graph.number_of_nodes() <= max_nodes:
        return "blocks"
    return "stages"
