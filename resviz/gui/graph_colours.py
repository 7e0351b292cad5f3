"""The architecture view's colours: the model's norms and colour levels turned into the fill of
each box and the stroke of each skip, marked boxes (a lesion's deleted blocks) grey over any of
them, applied to the drawn items in place."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..colours import MARKED_FILL, gradient_colour
from ..graph.types import Layout
from ..views.architecture import ArchitectureModel
from .graph_export import SKIP_GRADIENT_WIDTH
from .graph_scene import GraphScene


@dataclass
class GraphColours:
    """What is coloured now: the log10 levels (None: nothing), box fills and skip strokes."""

    levels: tuple[float, float] | None = None
    nodes: dict[str, str] = field(default_factory=dict)  # node id -> fill
    edges: dict[tuple[str, str], str] = field(default_factory=dict)  # (source, target) -> stroke


def edge_scene_id(source: str, target: str, kind: str) -> str:
    """The id ``build_scene`` gives an edge's path (a self-loop also names its kind)."""
    return f"{source}->{target}" + (f":{kind}" if source == target else "")


def colours_of(model: ArchitectureModel) -> GraphColours:
    """The colour of every drawn box and skip edge with a gradient norm, on the model's levels;
    marked boxes grey whatever their norm."""
    marks = dict.fromkeys(model.marked_nodes(), MARKED_FILL)
    levels = model.colour_levels()
    if levels is None:
        return GraphColours(nodes=marks)
    nodes = {n: c for n, v in model.node_norms().items() if (c := gradient_colour(v, levels))}
    edges = {e: c for e, v in model.edge_norms().items() if (c := gradient_colour(v, levels))}
    return GraphColours(levels, {**nodes, **marks}, edges)


def paint(graph_scene: GraphScene, layout: Layout | None, colours: GraphColours) -> None:
    """Give the drawn items these colours (the others their own), in place."""
    fills: dict[str, str | None] = dict.fromkeys(graph_scene.node_ids())
    fills.update(colours.nodes)
    graph_scene.set_node_fills(fills)
    graph_scene.reset_edge_strokes()
    if colours.edges and layout is not None:
        strokes = {}
        for edge in layout.edges:
            colour = colours.edges.get((edge.source, edge.target))
            if colour is not None and edge.kind != "main":
                strokes[edge_scene_id(edge.source, edge.target, edge.kind)] = colour
        graph_scene.set_edge_strokes(strokes, width=SKIP_GRADIENT_WIDTH)
