"""The block graph: trace a model, find and classify its skip connections, lay it out, draw it,
ablate its skips, and explain its shape errors. Qt-free; the window draws the same ``Scene``."""

from __future__ import annotations

from .doctor import ForwardError, ShapeError, ShapeReport, diagnose, explain_forward_error
from .opgraph import OpGraph
from .trace import trace_graph
from .types import (SKIP_COLOURS, SKIP_KINDS, EdgeRoute, Layout, NodeBox, Scene, ScenePath, SceneRect, SceneText,
                    SkipConnection)

__all__ = [
    "SKIP_COLOURS", "SKIP_KINDS", "EdgeRoute", "ForwardError", "Layout", "NodeBox", "OpGraph", "Scene", "ScenePath",
    "SceneRect", "SceneText", "ShapeError", "ShapeReport", "SkipConnection", "diagnose", "explain_forward_error",
    "trace_graph",
]
