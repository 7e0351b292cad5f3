"""Drawing a traced graph for what is shown: group it (``ShownState``), lay it out and build the
Scene. Plain functions that only read the OpGraph, so the window can run them in a worker
thread; ``step`` is called before each stage (to report progress, or raise to stop).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..graph import block_graph, layout_graph
from ..graph.draw import build_scene
from .architecture_state import ShownState

READABLE_BOXES = 40  # boxes a pane shows legibly, fitted
Step = Callable[[str], None]  # called with "level", "blocks", "layout" or "scene" before that stage


@dataclass
class DrawnGraph:
    """A drawing of the graph: the state it was made for, its BlockGraph, Layout and Scene."""

    shown: ShownState
    block_graph: Any  # resviz.graph.BlockGraph
    layout: Any  # resviz.graph.Layout
    scene: Any  # resviz.graph.Scene (without gradient colours: the widget applies those in place)
    seconds: dict[str, float] = field(default_factory=dict)  # time per stage


def draw_graph(opgraph: Any, shown: ShownState, step: Step | None = None) -> DrawnGraph:
    """The drawing of ``opgraph`` for ``shown``, with the seconds each stage took."""
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    if step is not None:
        step("blocks")
    blocks = block_graph(opgraph, level=shown.level, expand=tuple(shown.expanded), collapse=tuple(shown.collapsed),
                         fold_repeats=shown.fold)
    seconds["blocks"], started = time.perf_counter() - started, time.perf_counter()
    if step is not None:
        step("layout")
    layout = layout_graph(blocks)
    seconds["layout"], started = time.perf_counter() - started, time.perf_counter()
    if step is not None:
        step("scene")
    scene = build_scene(layout, legend=False)  # the window draws the legend over the graph instead
    seconds["scene"] = time.perf_counter() - started
    return DrawnGraph(shown=shown, block_graph=blocks, layout=layout, scene=scene, seconds=seconds)


def first_drawing(opgraph: Any, level: str | None = None, fold: bool = False,
                  step: Step | None = None) -> tuple[str, DrawnGraph]:
    """A newly traced graph's default level (``readable_level``: big models open collapsed) and its drawing at ``level`` (the default when None), folded when ``fold``."""
    if step is not None:
        step("level")
    default = readable_level(opgraph, fold)
    return default, draw_graph(opgraph, ShownState(level or default, fold=fold), step)


def readable_level(opgraph: Any, fold: bool = True, most: int = READABLE_BOXES) -> str:
    """The finest level that draws at most ``most`` boxes (folded repeats counted once when
    ``fold``), so a graph opens readable in its pane: a small net at its layers, a ResNet at
    its blocks (folded, ResNet-110 too), the largest at their stages."""
    if opgraph.graph.number_of_nodes() <= most:
        return "layers"
    if block_graph(opgraph, "blocks", fold_repeats=fold).graph.number_of_nodes() <= most:
        return "blocks"
    return "stages"
