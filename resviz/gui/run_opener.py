"""Opening run files in the window: which runs are shown, their twins, failed runs' reports, the
replay speed, and the architecture that matches the runs.

The ``RunFeed`` reads the files in its thread; this wires what it reads to the window's
``RunComparison`` (which owns everything the figures show) and tells the window when every
opened run has been read (``MainWindow.runs_read``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QMainWindow

from ..errors import first_line
from ..models import find_twin_pair
from ..runfile import RUNNING
from ..views.model_choice import ModelChoice

REPLAY_SECONDS = 20.0  # a finished run replays in about this long at the speed chosen for it


class RunOpener:
    """Shows run files in ``window``: replayed when finished, followed while they are written."""

    def __init__(self, window: QMainWindow) -> None:
        self.window = window
        self._reported_failures: set[str] = set()
        self._speed_chosen_for: set[str] = set()
        self._unread: set[str] = set()
        feed, comparison = window.feed, window.comparison
        feed.opened.connect(self._opened)
        feed.steps_arrived.connect(comparison.append_steps)
        feed.records_changed.connect(comparison.set_records)
        feed.info_changed.connect(self._info_changed)
        feed.failed.connect(self._feed_failed)
        feed.caught_up.connect(self._caught_up)
        window.runs_read.connect(self._sync_architecture)

    def show(self, paths: list[Path]) -> None:
        """Show these runs (and their twins) instead of the ones shown."""
        self.window.feed.unwatch_all()
        self.window.comparison.clear()
        self._speed_chosen_for.clear()
        self._unread.clear()
        for path in paths:
            self.watch(path)

    def watch(self, path: str | Path) -> None:
        """Add the run at ``path`` to those shown, following it while it is written."""
        self._unread.add(self.window.feed.watch(path))

    def _opened(self, path: str, info: Any, weight_mask: Any = None) -> None:
        window = self.window
        if window._closed or path not in window.feed.paths:
            return  # opened after the user moved on
        window.comparison.add(info, weight_mask)
        if info.twin:
            twin_path = Path(info.twin)
            if not twin_path.is_absolute() and not twin_path.exists():
                twin_path = Path(path).parent / twin_path.name  # the pair was moved together
            twin_path = twin_path.resolve()
            if twin_path.is_file() and str(twin_path) not in window.feed.paths and twin_path not in window.host.paths:
                self.watch(twin_path)
        if info.status != "running" and len(window.comparison) == 1:
            window.statusBar().showMessage(f"replaying {path}", 6000)
        self._report_failed(path, info)
        window._update_title()

    def _info_changed(self, path: str, info: Any) -> None:
        self.window.comparison.set_info(path, info)
        self._report_failed(path, info)

    def _report_failed(self, path: str, info: Any) -> None:
        """A dialog for a run that failed (once per run); the steps it recorded stay on show."""
        if info.status != "failed" or Path(path).resolve() in self.window.host.paths:  # the host reports its own
            return
        if path in self._reported_failures:
            return
        self._reported_failures.add(path)
        reason = (info.error or "no reason recorded").strip()
        self.window.show_error("Run failed", f"{info.name}: the run failed: {first_line(reason)}",
                               f"{reason}\n\nEvery step it recorded is kept in {path}.")

    def _feed_failed(self, path: str, message: str, details: str) -> None:
        self.window.feed.paths.discard(path)
        self._unread.discard(path)
        self.window.show_error("Could not read the run file", message, details)

    def _caught_up(self, path: str) -> None:
        """Once every run is read, say so; once a finished run is read, pick a replay speed that
        plays it in about twenty seconds."""
        window = self.window
        if window._closed:
            return
        if path in self._unread:
            self._unread.discard(path)
            if not self._unread:
                window.runs_read.emit()
        if path in self._speed_chosen_for:
            return
        self._speed_chosen_for.add(path)
        runs = window.comparison.ordered
        if runs and all(run.status_word != RUNNING for run in runs):
            timeline = window.comparison.timeline
            timeline.set_speed(timeline.suggest_speed(REPLAY_SECONDS))

    def _sync_architecture(self) -> None:
        """Show the architecture of the runs' models, so the graph can be coloured by their gradients.

        Runs of a user's model file are left alone: rebuilding one would run its code.
        """
        window = self.window
        specs = [run.info.model_spec for run in window.comparison.ordered if run.info.model_spec is not None]
        if not specs or any(spec.is_user_model for spec in specs):
            return
        main = specs[0]
        wanted = ModelChoice(main.name, dict(main.options))
        pair = find_twin_pair(main)
        wanted.twin = pair is not None and pair.other in {spec.name for spec in specs}
        current = window._requested  # what this session asked for (the remembered choice may never have loaded)
        if current is not None and (current.reference, current.options, current.twin) == \
                (wanted.reference, wanted.options, wanted.twin):
            return
        if window.loaded is not None and window.host.active:
            return  # training from this window: its model is the one shown
        window.open_model_choice(wanted)
