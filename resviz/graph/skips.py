"""Skip connections: found on the op graph, classified, and tied to the block that holds them.

A skip connection is a merge (an add or a concatenation) whose inputs come from one fork by
paths of different length. The fork is the merge's immediate dominator: the last node every
path from the input to the merge goes through. The short path is classified:

- ``identity``: nothing on it (``out + x``);
- ``projection``: a layer with parameters (a 1x1 convolution, ± norm; a linear layer);
- ``zero_pad``: subsampling and zero-padded channels, option A of He et al. (2016);
- ``pooling``: pooling or resampling only;
- ``concat``: any concatenation (DenseNet, UNet);
- ``long``: an additive skip over other skips, or down and back up in resolution.

The residual block is the deepest module that holds the merge and both paths; the fork is
then the block's input (or inside it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

import networkx as nx

from .opgraph import FUNCTION, MODULE, OpGraph
from .ops import ADD_OPS, CONCAT_OPS, MERGE_OPS, module_category
from .types import SKIP_KINDS, SkipConnection

_ROOT = "\0root"
_PARAMETER_FREE = ("identity", "pooling", "zero_pad")  # shortcut kinds with nothing to learn


def execution_order(graph: nx.DiGraph) -> list[str]:
    """Nodes in the order they ran: a topological order, since producers run before consumers."""
    return sorted(graph.nodes, key=lambda n: graph.nodes[n]["order"])


def immediate_dominators(graph: nx.DiGraph, order: list[str] | None = None) -> dict[str, str]:
    """Each node's immediate dominator from a virtual root above all sources (``_ROOT`` for sources).

    On a DAG visited in topological order, a node's immediate dominator is the nearest common
    dominator of its predecessors: one pass, no iteration.
    """
    order = order or execution_order(graph)
    idom: dict[str, str] = {}
    depth: dict[str, int] = {_ROOT: 0}

    def intersect(a: str, b: str) -> str:
        while a != b:
            if depth[a] >= depth[b]:
                a = idom[a] if a != _ROOT else a
            if depth[b] > depth[a]:
                b = idom[b]
        return a

    for node in order:
        preds = list(graph.predecessors(node))
        dominator = _ROOT
        if preds:
            dominator = preds[0]
            for pred in preds[1:]:
                dominator = intersect(dominator, pred)
        idom[node] = dominator
        depth[node] = depth[dominator] + 1
    return idom


def is_merge(graph: nx.DiGraph, node: str) -> bool:
    data = graph.nodes[node]
    return data["kind"] == FUNCTION and data["op"] in MERGE_OPS and graph.in_degree(node) >= 2


def _between(graph: nx.DiGraph, fork: str, end: str) -> list[str]:
    """Nodes after ``fork`` up to and including ``end`` on paths from ``fork`` (``end`` is dominated by it)."""
    if end == fork:
        return []
    nodes = graph.nodes
    low = nodes[fork]["order"]
    seen = {end}
    stack = [end]
    while stack:
        node = stack.pop()
        for pred in graph.predecessors(node):
            if pred not in seen and nodes[pred]["order"] > low:
                seen.add(pred)
                stack.append(pred)
    return sorted(seen, key=lambda n: nodes[n]["order"])


def _path_length(graph: nx.DiGraph, fork: str, region: list[str]) -> int:
    """Longest path (in nodes) from ``fork`` through ``region`` to its last node."""
    if not region:
        return 0
    inside = set(region)
    length: dict[str, int] = {}
    for node in region:  # in execution order
        best = 0
        for pred in graph.predecessors(node):
            if pred == fork:
                best = max(best, 1)
            elif pred in inside:
                best = max(best, length[pred] + 1)
        length[node] = best
    return length[region[-1]]


def _shortcut_kind(opgraph: OpGraph, fork: str, short: list[str], short_input: str) -> str | None:
    """The kind of a short path, or None when it does not look like a shortcut at all."""
    graph = opgraph.graph
    if not short:
        return "identity"
    categories = set()
    for node in short:
        data = graph.nodes[node]
        if data.get("params"):
            categories.add("param")
        categories.add(module_category(data["op"] if data["kind"] == MODULE else "", data["op"]))
    if "param" in categories or categories & {"conv", "linear"}:
        return "projection"
    if "pad" in categories:
        return "zero_pad"
    if categories & {"pool", "resample"}:
        return "pooling"
    if graph.nodes[short_input]["shape"] != graph.nodes[fork]["shape"]:
        return "pooling"  # a strided slice or another parameter-free resampling
    return "identity"


def _spatial(shape: Any) -> tuple[int, ...] | None:
    if isinstance(shape, tuple) and len(shape) >= 3:
        return shape[2:]
    return None


def _is_long(opgraph: OpGraph, fork: str, merge: str, long: list[str]) -> bool:
    """An additive skip over other merges, or whose long path goes down and back up in resolution."""
    graph = opgraph.graph
    if any(is_merge(graph, node) for node in long):
        return True
    ends = {_spatial(graph.nodes[fork]["shape"]), _spatial(graph.nodes[merge]["shape"])}
    for node in long:
        spatial = _spatial(graph.nodes[node]["shape"])
        if spatial is not None and None not in ends and spatial not in ends and all(
                len(spatial) == len(e) for e in ends if e is not None):
            if all(any(s < e_s for s, e_s in zip(spatial, e)) for e in ends):
                return True
    return False


def _owner_path(graph: nx.DiGraph, node: str) -> list[str]:
    module = graph.nodes[node]["module"]
    return module.split(".") if module else []


def holding_module(opgraph: OpGraph, nodes: Iterable[str]) -> str:
    """The deepest module that contains every node (``""`` for the model itself)."""
    common: list[str] | None = None
    for node in nodes:
        path = _owner_path(opgraph.graph, node)
        if common is None:
            common = path
            continue
        size = 0
        for a, b in zip(common, path):
            if a != b:
                break
            size += 1
        common = common[:size]
        if not common:
            break
    return ".".join(common or [])


def find_skips(opgraph: OpGraph) -> list[SkipConnection]:
    """Every skip connection of a traced model, in execution order."""
    graph = opgraph.graph
    order = execution_order(graph)
    idom = immediate_dominators(graph, order)
    skips: list[SkipConnection] = []
    for merge in order:
        if not is_merge(graph, merge):
            continue
        fork = idom[merge]
        if fork == _ROOT:
            continue  # inputs from separate sources (two model inputs): a merge, not a skip
        inputs = sorted(graph.predecessors(merge), key=lambda n: graph.nodes[n]["order"])
        regions = {p: _between(graph, fork, p) for p in inputs}
        lengths = {p: _path_length(graph, fork, regions[p]) for p in inputs}
        short_input = min(inputs, key=lambda p: (lengths[p], graph.nodes[p]["order"]))
        long_input = max(inputs, key=lambda p: (lengths[p], graph.nodes[p]["order"]))
        short, long = regions[short_input], regions[long_input]
        kind = _shortcut_kind(opgraph, fork, short, short_input if short else fork)
        if lengths[short_input] == lengths[long_input]:
            # Equal lengths: a skip only when one side looks like a shortcut and the other does not
            # (an option-A shortcut of slices and a pad beside two convolutions whose norms an
            # exporter folded away); the side without parameters is then the shortcut.
            other = _shortcut_kind(opgraph, fork, long, long_input)
            if other in _PARAMETER_FREE and kind not in _PARAMETER_FREE:
                short_input, long_input, short, long, kind = long_input, short_input, long, short, other
            elif kind is None or other in _PARAMETER_FREE or (kind == other == "projection"):
                continue
        op = graph.nodes[merge]["op"]
        if op in CONCAT_OPS:
            kind = "concat"
        elif op in ADD_OPS and kind == "identity" and _is_long(opgraph, fork, merge, long):
            kind = "long"
        assert kind in SKIP_KINDS
        block = holding_module(opgraph, [merge, *short, *long])
        skips.append(SkipConnection(kind=kind, fork=fork, merge=merge, block=block, short_path=short,
                                    long_path=long))
    return skips


def skip_counts(skips: Iterable[SkipConnection]) -> dict[str, int]:
    """How many skips of each kind, in ``SKIP_KINDS`` order, kinds with none left out."""
    counts = Counter(skip.kind for skip in skips)
    return {kind: counts[kind] for kind in SKIP_KINDS if counts[kind]}


def residual_blocks(skips: Iterable[SkipConnection]) -> list[str]:
    """The modules holding skips (the residual blocks), in execution order, each once."""
    seen: dict[str, None] = {}
    for skip in skips:
        if skip.block is not None:
            seen.setdefault(skip.block, None)
    return list(seen)
