"""Qt-free view models: the truth of what the window shows.

A widget takes its view model in ``__init__``, listens to the model's events and writes user
actions back to it; it keeps no copy of the state. Panes that show the same thing share one
model (``TwinArchitectureModel``: both twins' graphs share one ``ArchitectureViewState``; the
training figures share one ``RunComparison`` with its ``Timeline`` and ``ColourLevels``).
Nothing here imports Qt.
"""

from __future__ import annotations

from .architecture import ArchitectureModel, TwinArchitectureModel
from .architecture_details import GraphSummary, NodeDetails
from .architecture_drawing import DrawnGraph, draw_graph, first_drawing
from .architecture_state import ArchitectureViewState, ShownState
from .attribution import AttributionRequest, OptionField
from .colour_levels import ColourLevels
from .events import EmitterGroup, EventEmitter
from .run_comparison import FigureFrame, RunComparison
from .timeline import Timeline

__all__ = [
    "ArchitectureModel", "ArchitectureViewState", "AttributionRequest", "ColourLevels", "DrawnGraph", "EmitterGroup",
    "EventEmitter", "FigureFrame", "GraphSummary", "NodeDetails", "OptionField", "RunComparison", "ShownState",
    "Timeline", "TwinArchitectureModel", "draw_graph", "first_drawing",
]
