"""The block graph: trace a model, find and classify its skip connections, collapse it to a
level of detail, lay it out, draw it, ablate its skips, and explain its shape errors.

Qt-free: the window draws the same ``Scene`` (``resviz.graph.draw.build_scene``) with Qt items.

    opgraph = trace_graph(model, example_input)          # ops and leaf modules
    skips = find_skips(opgraph)                           # classified skip connections
    blocks = block_graph(opgraph, level="blocks", fold_repeats=True)
    model_blocks(model)                                   # its blocks and their skip kinds (one definition)
    layout = layout_graph(blocks)                         # boxes and edge routes
    scene = draw.build_scene(layout, title="resnet20")    # drawing primitives
    draw.save_png(scene, "graph.png")
"""

from __future__ import annotations

from . import draw
from .ablate import make_plain_twin
from .block_definition import BlockInfo, model_blocks
from .blocks import LEVELS, BlockGraph, block_graph, default_level
from .doctor import ForwardError, ShapeError, ShapeReport, diagnose, explain_forward_error
from .layout import layout_graph
from .opgraph import OpGraph
from .skips import find_skips, residual_blocks, skip_counts
from .trace import trace_graph
from .types import (
    SKIP_COLOURS,
    SKIP_KINDS,
    EdgeRoute,
    Layout,
    NodeBox,
    Scene,
    ScenePath,
    SceneRect,
    SceneText,
    SkipConnection,
)

__all__ = [
    "LEVELS", "SKIP_COLOURS", "SKIP_KINDS", "BlockGraph", "BlockInfo", "EdgeRoute", "ForwardError", "Layout",
    "NodeBox", "OpGraph", "Scene", "ScenePath", "SceneRect", "SceneText", "ShapeError", "ShapeReport",
    "SkipConnection", "block_graph", "default_level", "diagnose", "draw", "explain_forward_error", "find_skips",
    "layout_graph", "make_plain_twin", "model_blocks", "residual_blocks", "skip_counts", "trace_graph",
]
