"""Qt-free view models: the truth of what the window shows.

A widget takes its view model in ``__init__``, listens to the model's events and writes user
actions back to it; it keeps no copy of the state. Panes that show the same thing share one
model (``TwinArchitectureModel``: both twins' graphs share one ``ArchitectureViewState``).
Nothing here imports Qt.
"""

from __future__ import annotations

from .architecture import ArchitectureModel, TwinArchitectureModel
from .architecture_details import GraphSummary, NodeDetails
from .architecture_drawing import DrawnGraph, draw_graph, first_drawing
from .architecture_state import ArchitectureViewState, ShownState
from .attribution import AttributionRequest, OptionField
from .events import EmitterGroup, EventEmitter

__all__ = [
    "ArchitectureModel", "ArchitectureViewState", "AttributionRequest", "DrawnGraph", "EmitterGroup", "EventEmitter", "GraphSummary",
    "NodeDetails", "OptionField", "ShownState", "TwinArchitectureModel", "draw_graph", "first_drawing",
]
