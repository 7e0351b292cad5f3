"""The architecture view's long work, as functions a worker thread runs: trace a model, and draw
its graph for a ``ShownState`` (``resviz.views.architecture_drawing``) with progress and cancel.
Only plain data goes in and comes out; the OpGraph is only read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..graph import trace_graph
from ..graph.draw import build_scene
from ..graph.types import Layout, Scene
from ..views.architecture_drawing import DrawnGraph, Step, draw_graph, first_drawing
from ..views.architecture_state import ShownState
from .workers_tasks import MODEL_LOCK, TaskCancelled

# Graphs with more ops than this re-group and re-lay out in a worker; smaller ones take
# milliseconds and redraw at once, so clicking through a small model stays immediate.
BACKGROUND_REGROUP_OPS = 300
_STAGES = {"level": (1, "Finding blocks and skips…"), "layout": (2, "Laying out…"), "scene": (3, "Drawing…")}


@dataclass
class TracedModel:
    """What the tracing worker hands back: the graph, its default level and its first drawing."""

    opgraph: Any  # resviz.graph.OpGraph
    title: str
    default_level: str  # the finest level that keeps the graph readable (big models open collapsed)
    drawn: DrawnGraph
    seconds: dict[str, float] = field(default_factory=dict)  # time per stage

    @property
    def level(self) -> str:
        """The level of the first drawing."""
        return self.drawn.shown.level

    @property
    def modules(self) -> dict[str, str]:
        """Qualified name -> class name of every module, in the model's order."""
        return self.opgraph.module_types


def build_view_scene(layout: Layout, *, node_colours: dict[str, str] | None = None,
                     edge_colours: dict[tuple[str, str], str] | None = None, selected: str | None = None,
                     legend: bool = False, title: str | None = None) -> Scene:
    """The graph package's Scene of ``layout`` (labels on dark fills already light, by the rule the
    window applies in place); the window draws its legend as an overlay instead."""
    return build_scene(layout, node_colours=node_colours or None, edge_colours=edge_colours or None,
                       selected=selected, legend=legend, title=title)


def _steps(cancel=None, progress=None) -> Step:
    """Stop at the next stage once ``cancel`` is set; report the stages to ``progress``."""
    def step(stage: str) -> None:
        if cancel is not None and cancel.is_set():
            raise TaskCancelled()
        if progress is not None and stage in _STAGES:
            progress(*_STAGES[stage])
    return step


def trace_job(model, example_input, title: str, progress, cancel, *, level: str | None = None,
              fold: bool = False) -> TracedModel:
    """The worker's half of ``ArchitectureView.set_model``: trace, then what ``prepare_graph`` does."""
    if cancel.is_set():
        raise TaskCancelled()
    progress(0, 4, f"Tracing {title or type(model).__name__}…")
    started = time.perf_counter()
    with MODEL_LOCK:
        opgraph = trace_graph(model, example_input)
    traced = prepare_graph(opgraph, title, progress, cancel, level=level, fold=fold)
    traced.seconds["trace"] = time.perf_counter() - started - sum(traced.seconds.values())
    return traced


def regroup_job(opgraph, shown: ShownState, cancel=None) -> DrawnGraph:
    """Group, lay out and build the scene of a traced graph for ``shown``."""
    return draw_graph(opgraph, shown, _steps(cancel))


def prepare_graph(opgraph, title: str = "", progress=None, cancel=None, *, level: str | None = None,
                  fold: bool = False) -> TracedModel:
    """Find a traced graph's default level and draw it at ``level`` (its default when None),
    folded when ``fold``."""
    started = time.perf_counter()
    report = (lambda done, text: progress(done, 4, text)) if progress is not None else None
    default, drawn = first_drawing(opgraph, level, fold, _steps(cancel, report))
    seconds = dict(drawn.seconds)
    seconds["level"] = time.perf_counter() - started - sum(seconds.values())
    if progress is not None:
        progress(4, 4, "Drawing…")
    return TracedModel(opgraph=opgraph, title=title, default_level=default, drawn=drawn, seconds=seconds)
