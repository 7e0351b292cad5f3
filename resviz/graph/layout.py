"""A layered layout: the main path straight down one column, everything else beside it.

1. Ranks by longest path (execution order is a topological order, so one pass).
2. The spine: the longest path back from the output, preferring main edges. It is drawn
   straight, top to bottom, in column 0.
3. Every other thing that needs room to the right of the spine — chains of side nodes
   (a projection shortcut's 1x1 conv and norm), skip arcs between spine nodes, and bypass arcs
   of collapsed blocks — reserves a column over the ranks it spans; a greedy interval
   colouring packs them into as few columns as possible.
4. Edge routes are orthogonal polylines with rounded corners: skips leave their fork to the
   right, run down their column and enter the merge from the right.

Pure Python: linear in nodes and edges except the column packing (nodes x columns), so
2,000 nodes take a few milliseconds.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import networkx as nx

from .types import SKIP_KINDS, EdgeRoute, Layout, NodeBox

MARGIN = 16.0
RANK_GAP = 20.0  # vertical space between ranks
COLUMN_GAP = 18.0
ARC_WIDTH = 10.0  # a column that only carries arcs
LABEL_CHAR = 6.9  # width of a character of a bold 11 px label
DETAIL_CHAR = 5.6  # ... of a 9.5 px detail line
BOX_HEIGHT = 38.0
SMALL_HEIGHT = 26.0
CORNER = 7.0
LOOP_INSET = 7.0
MERGE_LABELS = {"merge": "+", "concat": "cat"}


def _display_label(data: dict[str, Any], node: str) -> str:
    category = data.get("category", "")
    if not data.get("collapsed") and category in MERGE_LABELS:
        return MERGE_LABELS[category]
    return str(data.get("label", node))


def node_size(data: dict[str, Any], label: str) -> tuple[float, float]:
    detail = str(data.get("detail", ""))
    if not data.get("collapsed") and data.get("category") in MERGE_LABELS:
        return max(34.0, len(label) * LABEL_CHAR + 16), SMALL_HEIGHT
    width = max(len(label) * LABEL_CHAR, len(detail) * DETAIL_CHAR) + 20
    height = BOX_HEIGHT if detail else SMALL_HEIGHT
    if data.get("folded", 1) > 1:
        height += 6  # room for the stacked-cards look
    return max(width, 56.0), height


def _rounded(points: list[tuple[float, float]], radius: float = CORNER) -> list[tuple[float, float]]:
    """The polyline with each corner replaced by a short quarter-circle approximation."""
    if len(points) < 3:
        return points
    result = [points[0]]
    for i in range(1, len(points) - 1):
        (ax, ay), (px, py), (bx, by) = points[i - 1], points[i], points[i + 1]
        d1 = math.hypot(px - ax, py - ay)
        d2 = math.hypot(bx - px, by - py)
        r = min(radius, d1 / 2, d2 / 2)
        if r < 0.5 or d1 == 0 or d2 == 0:
            result.append((px, py))
            continue
        sx, sy = px - (px - ax) / d1 * r, py - (py - ay) / d1 * r
        ex, ey = px + (bx - px) / d2 * r, py + (by - py) / d2 * r
        for t in (0.0, 0.3, 0.55, 0.8, 1.0):  # quadratic Bezier with the corner as control point
            u = 1 - t
            result.append((u * u * sx + 2 * u * t * px + t * t * ex, u * u * sy + 2 * u * t * py + t * t * ey))
    result.append(points[-1])
    cleaned = [result[0]]
    for point in result[1:]:
        if abs(point[0] - cleaned[-1][0]) > 1e-6 or abs(point[1] - cleaned[-1][1]) > 1e-6:
            cleaned.append(point)
    return cleaned


def layout_graph(block_graph: Any) -> Layout:
    """Lay out a ``BlockGraph`` (or an ``nx.DiGraph`` with the same node attributes)."""
    graph: nx.DiGraph = block_graph if isinstance(block_graph, nx.DiGraph) else block_graph.graph
    if graph.number_of_nodes() == 0:
        return Layout({}, [], 2 * MARGIN, 2 * MARGIN)
    attrs: dict[str, dict[str, Any]] = dict(graph.nodes(data=True))
    order = sorted(attrs, key=lambda n: (attrs[n].get("order", 0), n))
    position = {n: i for i, n in enumerate(order)}
    succs: dict[str, list[str]] = {n: [] for n in order}
    preds: dict[str, list[str]] = {n: [] for n in order}
    edge_kind: dict[tuple[str, str], str] = {}
    forward_edges: list[tuple[str, str, str]] = []
    back_edges: list[tuple[str, str, str]] = []
    loops: list[tuple[str, dict]] = []
    for u, v, data in graph.edges(data=True):
        kind = data.get("kind", "main")
        if u == v:
            loops.append((u, data))
        elif position[u] < position[v]:
            forward_edges.append((u, v, kind))
            edge_kind[(u, v)] = kind
            succs[u].append(v)
            preds[v].append(u)
        else:
            back_edges.append((u, v, kind))  # a module reused later in the pass

    rank: dict[str, int] = {}
    for node in order:
        rank[node] = max([rank[p] for p in preds[node]], default=-1) + 1

    spine = _spine(attrs, order, rank, preds, edge_kind)
    on_spine = set(spine)

    labels = {n: _display_label(attrs[n], n) for n in order}
    sizes = {n: node_size(attrs[n], labels[n]) for n in order}

    # Things that need a column right of the spine, each with the ranks it spans.
    items: list[tuple[int, int, float, str, Any]] = []  # (lo, hi, width, kind, payload)
    for chain in _side_chains(order, on_spine, preds, succs):
        lo = min([rank[chain[0]]] + [rank[p] for p in preds[chain[0]]])
        hi = max([rank[chain[-1]]] + [rank[s] for s in succs[chain[-1]]])
        items.append((lo, hi, max(sizes[n][0] for n in chain), "chain", chain))
    for u, v, kind in forward_edges:
        if u in on_spine and v in on_spine and (rank[v] - rank[u] > 1 or kind != "main"):
            items.append((rank[u], rank[v], ARC_WIDTH, "arc", (u, v)))
    for node, data in loops:
        for kind in _loop_kinds(data):
            items.append((rank[node], rank[node], ARC_WIDTH, "loop", (node, kind)))
    column_of_item, column_widths = _pack(items)

    spine_half = max((sizes[n][0] / 2 for n in spine), default=30.0)
    x_spine = MARGIN + spine_half + (3 * COLUMN_GAP if back_edges else 0.0)  # back edges run on the left
    column_x: list[float] = []
    cursor = x_spine + spine_half + COLUMN_GAP
    for width in column_widths:
        column_x.append(cursor + width / 2)
        cursor += width + COLUMN_GAP
    width_total = cursor - COLUMN_GAP + MARGIN if column_widths else x_spine + spine_half + MARGIN

    x: dict[str, float] = dict.fromkeys(order, x_spine)
    arc_x: dict[tuple[str, str], float] = {}
    loop_x: dict[tuple[str, str], float] = {}
    for index, (_, _, _, kind, payload) in enumerate(items):
        column = column_of_item[index]
        cx = column_x[column]
        if kind != "chain":  # arcs hug the spine side of their column, however wide its boxes
            cx = column_x[column] - column_widths[column] / 2 + ARC_WIDTH / 2
        if kind == "chain":
            for node in payload:
                x[node] = cx
        elif kind == "arc":
            arc_x[payload] = cx
        else:
            loop_x[payload] = cx

    ranks = max(rank.values()) + 1
    rank_height = [0.0] * ranks
    for node in order:
        r = rank[node]
        if sizes[node][1] > rank_height[r]:
            rank_height[r] = sizes[node][1]
    rank_y = [0.0] * ranks
    cursor = MARGIN
    for r in range(ranks):
        rank_y[r] = cursor + rank_height[r] / 2
        cursor += rank_height[r] + RANK_GAP
    height_total = cursor - RANK_GAP + MARGIN

    nodes: dict[str, NodeBox] = {}
    y: dict[str, float] = {}
    half_w: dict[str, float] = {}
    half_h: dict[str, float] = {}
    for node in order:
        data = attrs[node]
        w, h = sizes[node]
        y[node] = yc = rank_y[rank[node]]
        half_w[node], half_h[node] = w / 2, h / 2
        info = {key: data[key] for key in _INFO_KEYS if key in data}
        info["rank"] = rank[node]
        info["spine"] = node in on_spine
        info["members"] = list(data.get("members", ()))  # the op node ids the box stands for
        nodes[node] = NodeBox(node, labels[node], str(data.get("kind", "")), x[node], yc, w, h,
                              bool(data.get("collapsed", False)), int(data.get("folded", 1)), info)

    for node, data in loops:
        nodes[node].info["loop_counts"] = dict(data.get("kinds") or {data.get("kind", "identity"): 1})

    edges: list[EdgeRoute] = []
    for u, v, kind in forward_edges:
        xu, yu, xv, yv = x[u], y[u], x[v], y[v]
        if (u, v) in arc_x:
            cx = arc_x[(u, v)]
            points = _rounded([(xu + half_w[u], yu), (cx, yu), (cx, yv), (xv + half_w[v], yv)])
        elif xu == xv:
            points = [(xu, yu + half_h[u]), (xv, yv - half_h[v])]
        elif u in on_spine:  # spine -> side: out to the right, down into the side node
            points = _rounded([(xu + half_w[u], yu), (xv, yu), (xv, yv - half_h[v])])
        elif v in on_spine:  # side -> spine: down the side column, in from the right
            points = _rounded([(xu, yu + half_h[u]), (xu, yv), (xv + half_w[v], yv)])
        else:  # side -> side in another column
            mid = yu + half_h[u] + RANK_GAP / 2
            points = _rounded([(xu, yu + half_h[u]), (xu, mid), (xv, mid), (xv, yv - half_h[v])])
        edges.append(EdgeRoute(u, v, kind, points))
    for u, v, kind in back_edges:
        left_x = MARGIN + COLUMN_GAP
        points = [(x[u] - half_w[u], y[u]), (left_x, y[u]), (left_x, y[v]), (x[v] - half_w[v], y[v])]
        edges.append(EdgeRoute(u, v, kind, _rounded(points)))
    for node, data in loops:
        for kind in _loop_kinds(data):
            cx = loop_x[(node, kind)]
            y0, y1 = y[node] - half_h[node] + LOOP_INSET, y[node] + half_h[node] - LOOP_INSET
            edge_x = x[node] + half_w[node]
            edges.append(EdgeRoute(node, node, kind, _rounded([(edge_x, y0), (cx, y0), (cx, y1), (edge_x, y1)], 4.0)))
    return Layout(nodes, edges, round(width_total, 2), round(height_total, 2), _skip_counts(block_graph, edges))


def _skip_counts(block_graph: Any, edges: list[EdgeRoute]) -> dict[str, int]:
    skips = getattr(block_graph, "skips", None)
    if skips is not None:
        counts = Counter(skip.kind for skip in skips)
    else:
        counts = Counter(edge.kind for edge in edges if edge.kind != "main")
    return {kind: counts[kind] for kind in SKIP_KINDS if counts[kind]}


_INFO_KEYS = ("detail", "category", "shape", "params", "flops", "module", "children", "folded_ids")


def _loop_kinds(data: dict[str, Any]) -> list[str]:
    """A collapsed block's bypass arcs: one per skip kind it holds."""
    kinds = data.get("kinds")
    return list(kinds) if kinds else [data.get("kind", "identity")]


def _spine(attrs: dict[str, dict[str, Any]], order: list[str], rank: dict[str, int], preds: dict[str, list[str]],
           edge_kind: dict[tuple[str, str], str]) -> list[str]:
    """The longest path ending at the (first) output, or at the deepest node; main edges preferred."""
    outputs = [n for n in order if attrs[n].get("category") == "output" or attrs[n].get("kind") == "output"]
    end = outputs[0] if outputs else max(order, key=lambda n: rank[n])
    path = [end]
    node = end
    while preds[node]:
        best = None
        best_key = None
        for p in preds[node]:
            if rank[p] != rank[node] - 1:
                continue
            key = (edge_kind.get((p, node), "main") != "main", -attrs[p].get("order", 0))
            if best_key is None or key < best_key:
                best, best_key = p, key
        if best is None:
            break
        node = best
        path.append(node)
    path.reverse()
    return path


def _side_chains(order: list[str], on_spine: set[str], preds: dict[str, list[str]],
                 succs: dict[str, list[str]]) -> list[list[str]]:
    """Non-spine nodes grouped into chains (each link: the only side successor and predecessor)."""
    chains: list[list[str]] = []
    chain_of: dict[str, list[str]] = {}
    for node in order:
        if node in on_spine:
            continue
        side_preds = [p for p in preds[node] if p not in on_spine]
        if len(side_preds) == 1:
            previous = side_preds[0]
            side_succs = [s for s in succs[previous] if s not in on_spine]
            chain = chain_of.get(previous)
            if chain is not None and chain[-1] == previous and len(side_succs) == 1:
                chain.append(node)
                chain_of[node] = chain
                continue
        chain = [node]
        chains.append(chain)
        chain_of[node] = chain
    return chains


def _pack(items: list[tuple[int, int, float, str, Any]]) -> tuple[list[int], list[float]]:
    """Greedy interval colouring: each item to the first column free over its ranks."""
    column_of = [0] * len(items)
    ends: list[int] = []  # last rank used in each column
    widths: list[float] = []
    for index in sorted(range(len(items)), key=lambda i: (items[i][0], items[i][1])):
        lo, hi, width, _, _ = items[index]
        for column, end in enumerate(ends):  # noqa: B007 - the column found is used below
            if end < lo:
                break
        else:
            column = len(ends)
            ends.append(-1)
            widths.append(0.0)
        ends[column] = hi
        widths[column] = max(widths[column], width)
        column_of[index] = column
    return column_of, widths
