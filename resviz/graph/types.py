"""The data the graph package hands on: block graphs, skips and layouts.

Plain dataclasses with no behaviour beyond conversion, so the SVG/PNG export and the window
draw the same thing. Node ids are module qualified names (``layer2.0.conv1``; ``""`` is the
root) or, for function ops, the qualified name of the module that calls them plus the op
(``layer2.0.add``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Skip kinds, and the colours every view uses for them (colour-blind safe, Okabe-Ito).
SKIP_KINDS = ("identity", "projection", "zero_pad", "pooling", "concat", "long")
SKIP_COLOURS = {
    "identity": "#E69F00",
    "projection": "#0072B2",
    "zero_pad": "#CC79A7",
    "pooling": "#009E73",
    "concat": "#D55E00",
    "long": "#56B4E9",
}
MAIN_EDGE_COLOUR = "#7B8794"


@dataclass
class SkipConnection:
    """A merge whose inputs come from one fork by paths of different length."""

    kind: str  # one of SKIP_KINDS
    fork: str  # node id where the paths split
    merge: str  # node id of the add / cat
    block: str | None  # qualified name of the module holding fork and merge (the residual block)
    short_path: list[str] = field(default_factory=list)  # node ids strictly between fork and merge
    long_path: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class NodeBox:
    id: str
    label: str
    kind: str  # module class name (Conv2d, BasicBlock, ...) or op (add, cat, input, output)
    x: float  # centre
    y: float
    width: float
    height: float
    collapsed: bool = False  # a module drawn as one box although it has children
    folded: int = 1  # > 1 when repeated identical blocks are folded ("BasicBlock x9")
    info: dict[str, Any] = field(default_factory=dict)  # shape, params, flops, ...


@dataclass
class EdgeRoute:
    source: str
    target: str
    kind: str  # "main" or one of SKIP_KINDS
    points: list[tuple[float, float]]  # polyline from source to target; skips arc beside the main path


@dataclass
class Layout:
    nodes: dict[str, NodeBox]
    edges: list[EdgeRoute]
    width: float
    height: float
    skip_counts: dict[str, int] = field(default_factory=dict)  # skips in the model by kind (the legend's numbers)

    def to_dict(self) -> dict[str, Any]:
        return {"nodes": [asdict(n) for n in self.nodes.values()], "edges": [asdict(e) for e in self.edges],
                "width": self.width, "height": self.height, "skip_counts": dict(self.skip_counts)}


# Drawing primitives: what the SVG/PNG export and the window's graph view both draw.
# ``graph.draw.build_scene(layout, ...)`` makes them; backends only translate them.


@dataclass
class SceneRect:
    id: str  # the node id it stands for ("" for decoration such as the legend)
    x: float  # top-left corner
    y: float
    width: float
    height: float
    fill: str
    stroke: str
    stroke_width: float = 1.0
    radius: float = 4.0
    dashed: bool = False


@dataclass
class ScenePath:
    id: str  # "source->target" for edges, "" for decoration
    points: list[tuple[float, float]]
    stroke: str
    width: float = 1.5
    dashed: bool = False
    arrow: bool = True  # an arrow head at the last point
    kind: str = "main"  # "main" or a skip kind


@dataclass
class SceneText:
    x: float
    y: float
    text: str
    colour: str = "#1F2933"
    size: float = 11.0
    anchor: str = "middle"  # "start", "middle" or "end" (horizontal alignment at x; y is the line's vertical centre)
    bold: bool = False
    id: str = ""  # the node id this labels, if any


@dataclass
class Scene:
    width: float
    height: float
    background: str = "#FFFFFF"
    items: list[SceneRect | ScenePath | SceneText] = field(default_factory=list)
