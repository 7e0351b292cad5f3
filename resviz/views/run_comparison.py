"""The runs the training view compares, with their shared timeline and colour levels.

A plain-Python view-model: the feed appends what run files yield, the views read ``frame()``.
Twins (a plain and a residual run) get fixed colours, so vermillion always means "no skips".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .colour_levels import ColourLevels
from .events import EventEmitter
from .run_data import OTHER_COLOURS, PLAIN_COLOUR, RESIDUAL_COLOUR, RunData
from .timeline import Timeline

WARNING_EVENT = "warning"  # the event kind of a run's health warnings (collapse, divergence)


@dataclass
class FigureFrame:
    """What the views show at one refresh: the compared runs at one step, with shared levels."""

    runs: list[RunData] = field(default_factory=list)
    step: int = 0  # the step shown (the latest while following)
    following: bool = True  # showing the newest step of a live or finished run
    levels: tuple[float, float] = (-4.0, 0.0)  # log10 gradient-norm colour levels, shared by every run
    first_step: int = 0  # the timeline's range over all runs
    last_step: int = 0
    revision: int = 0  # changes whenever runs, their data or their styles change
    weights_only: bool = True  # per-layer figures show conv/linear layers only, not norm layers

    def key(self) -> tuple:
        return (self.revision, self.step, self.following, self.levels, self.first_step, self.last_step,
                self.weights_only)


class RunComparison:
    """An ordered set of runs shown together: one timeline, one set of colour levels."""

    def __init__(self, *, max_columns: int = 2048) -> None:
        self.max_columns = max_columns
        self.runs: dict[str, RunData] = {}
        self.timeline = Timeline()
        self.levels = ColourLevels()
        self.revision = 0
        self.weights_only = True  # profiles and heatmap show conv/linear layers, not norms
        self.runs_changed = EventEmitter("runs_changed")  # a run was added or removed
        self.data_changed = EventEmitter("data_changed")  # steps, evaluations, events or status arrived
        self.levels.changed.connect(self._bump)

    # -- membership -------------------------------------------------------------------------

    def add(self, info: Any, weight_mask: Any = None) -> RunData:
        """Start showing a run (its ``RunInfo``); returns the holder its steps go into.

        ``weight_mask`` marks the layers with weights proper (see ``run_data.weight_layer_mask``).
        """
        key = str(Path(info.path))
        if key in self.runs:
            self.runs[key].set_info(info)
            return self.runs[key]
        run = RunData(info, max_columns=self.max_columns, weight_mask=weight_mask)
        self.runs[key] = run
        self._order_and_colour()
        self.revision += 1
        self.runs_changed.emit()
        return run

    def remove(self, path: str | Path) -> None:
        if self.runs.pop(str(Path(path)), None) is not None:
            self._order_and_colour()
            self.revision += 1
            self._update_range()
            self.runs_changed.emit()

    def clear(self) -> None:
        if self.runs:
            self.runs.clear()
            self.levels.reset()
            self.timeline.follow_latest()
            self.timeline.set_range(0, -1)
            self.revision += 1
            self.runs_changed.emit()

    def get(self, path: str | Path) -> RunData | None:
        return self.runs.get(str(Path(path)))

    def __contains__(self, path: object) -> bool:
        return str(Path(path)) in self.runs  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self.runs)

    @property
    def ordered(self) -> list[RunData]:
        return list(self.runs.values())

    def _order_and_colour(self) -> None:
        # Residual runs first (drawn on top of the heatmap list), each kind in a fixed colour.
        ordered = sorted(self.runs.values(), key=lambda r: (r.style.residual is not True, r.style.residual is None))
        self.runs = {str(r.path): r for r in ordered}
        used = {"residual": 0, "plain": 0}
        spare = iter(OTHER_COLOURS)
        for run in ordered:
            kind = {True: "residual", False: "plain"}.get(run.style.residual)
            if kind is not None and used[kind] == 0:
                run.style.colour = RESIDUAL_COLOUR if kind == "residual" else PLAIN_COLOUR
                used[kind] += 1
            else:
                run.style.colour = next(spare, OTHER_COLOURS[-1])

    # -- data -------------------------------------------------------------------------------

    def append_steps(self, path: str | Path, batch: Any) -> None:
        run = self.get(path)
        if run is None or len(batch) == 0:
            return
        run.append(batch)
        self.levels.include(*self._combined_log_range())
        self.revision += 1
        self._update_range()
        self.data_changed.emit()

    def set_records(self, path: str | Path, evals: list[Any] | None, events: list[Any] | None) -> None:
        run = self.get(path)
        if run is None:
            return
        if evals is not None:
            run.evals = list(evals)
        if events is not None:
            run.events = list(events)
        self.revision += 1
        self.data_changed.emit()

    def set_info(self, path: str | Path, info: Any) -> None:
        run = self.get(path)
        if run is not None:
            run.set_info(info)
            self.revision += 1
            self.data_changed.emit()

    def refresh_statuses(self) -> bool:
        """Work out each run's status word again (a writer that died leaves its run "running")."""
        changed = [run for run in self.runs.values() if run.refresh_status()]
        if changed:
            self.revision += 1
            self.data_changed.emit()
        return bool(changed)

    def _combined_log_range(self) -> tuple[float, float]:
        lows, highs = zip(*(run.log_range for run in self.runs.values())) if self.runs else ((0.0,), (0.0,))
        return min(lows), max(highs)

    def _update_range(self) -> None:
        filled = [run for run in self.runs.values() if len(run)]
        if not filled:
            self.timeline.set_range(0, -1)
            return
        self.timeline.set_range(min(r.first_step for r in filled), max(r.last_step for r in filled))

    def _bump(self) -> None:
        self.revision += 1

    def set_weights_only(self, weights_only: bool) -> None:
        if weights_only != self.weights_only:
            self.weights_only = weights_only
            self.revision += 1
            self.data_changed.emit()

    # -- what the views draw ----------------------------------------------------------------

    @property
    def step(self) -> int:
        return self.timeline.step

    def frame(self) -> FigureFrame:
        timeline = self.timeline
        return FigureFrame(runs=self.ordered, step=timeline.step, following=timeline.following,
                     levels=self.levels.levels, first_step=timeline.first, last_step=timeline.last,
                     revision=self.revision, weights_only=self.weights_only)

    def warnings_at(self, step: int | None = None) -> list[tuple[RunData, Any]]:
        """The health warnings (events of kind "warning") reached at ``step`` (the shown step), run by run."""
        step = self.step if step is None else step
        return [(run, event) for run in self.runs.values() for event in run.events_until(step, WARNING_EVENT)]

    def layer_norms_at(self, step: int | None = None) -> dict[str, dict[str, float] | None]:
        """Per run: each layer's gradient norm at ``step`` (the shown step by default)."""
        step = self.step if step is None else step
        return {path: run.layer_norms_at(step) for path, run in self.runs.items()}
