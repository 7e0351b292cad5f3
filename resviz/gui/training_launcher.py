"""Training from the window: the run's configuration, starting twins or one model, and the
training bar's state as the child processes report it.

The ``TrainingHost`` runs the child processes; this wires it to the window: where the run file
goes, which settings it trains with, what the controls and the status bar say meanwhile.
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QMainWindow

from ..errors import ResvizError, describe_exception
from ..runfile import status_label
from ..views.model_choice import LoadedChoice
from .window_menus import TABS

STATE_TEXTS = {"idle": "ready", "starting": "starting…", "running": "training", "paused": "paused: press Resume",
               "stopping": "stopping…"}


class TrainingLauncher:
    """Starts, pauses and stops training for ``window``'s open model and follows its progress."""

    def __init__(self, window: QMainWindow) -> None:
        self.window = window
        host = window.host
        host.run_file_ready.connect(self._file_ready)
        host.state_changed.connect(self._state_changed)
        host.run_ended.connect(self._ended)
        host.failed.connect(lambda message, details: window.show_error("Training failed", message, details))
        host.progressed.connect(self._progressed)

    def config(self, twins: bool) -> Any:
        """The ``TrainConfig`` for the open model and the settings in the training bar."""
        from ..train.config import TrainConfig

        window = self.window
        loaded = window.loaded
        if loaded is None:
            raise ResvizError("no model is open yet: wait for it to load, or open one (Ctrl+O)")
        choice = loaded.choice
        settings = window.controls.settings()
        window.settings.set_train_settings(settings)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        if choice.is_user_file:
            model, stem = choice.reference, Path(choice.reference.split(":")[0]).stem
        else:
            model = stem = loaded.main.spec.name
        name = f"{stem}-twins-{stamp}" if twins else f"{stem}-{stamp}"
        out = unique_path(window.runs_panel.folder / f"{name}.resviz")
        # A user's file trains only while it holds the content the user trusted (the child checks).
        return TrainConfig(model=model, model_options=dict(choice.options), trust=choice.is_user_file,
                           trusted_sha256=choice.trusted_sha256 if choice.is_user_file else None,
                           weights=None if twins else choice.weights, max_steps=window.max_steps, out=str(out),
                           **settings)

    def start(self, twins: bool) -> None:
        window = self.window
        if window.host.active:
            window.statusBar().showMessage("a run is already training: stop it first", 5000)
            return
        twins = twins and window.loaded is not None and window.loaded.plain is not None
        try:
            config = self.config(twins)
            window.feed.unwatch_all()
            window.comparison.clear()
            paths = window.host.start(config, twins=twins)
        except ResvizError as exc:
            window.show_error("Cannot start training", str(exc))
            return
        except Exception as exc:  # noqa: BLE001
            window.show_error("Cannot start training", describe_exception(exc), traceback.format_exc())
            return
        if window.tabs.currentIndex() != TABS.index("lecture"):  # the lecture page shows the training itself
            window.tabs.setCurrentIndex(TABS.index("training"))
        window.comparison.timeline.follow_latest()
        names = " and ".join(path.name for path in paths)
        window.controls.show_state("starting", f"starting {names}…")

    def toggle_pause(self) -> None:
        host = self.window.host
        if host.state == "paused":
            host.resume()
        elif host.state == "running":
            host.pause()

    def _file_ready(self, path: str) -> None:
        self.window.watch_run(path)
        self.window.runs_panel.refresh()

    def _state_changed(self, state: str) -> None:
        loaded = self.window.loaded
        self.window.controls.show_state(state, STATE_TEXTS.get(state, state),
                                        can_twin=loaded is None or loaded.plain is not None)

    def _progressed(self, path: str, progress: dict) -> None:
        total = progress.get("total_steps")
        rate = progress.get("steps_per_second") or 0.0
        paused = self.window.host.state == "paused"
        text = f"paused at step {progress.get('step', 0):,}" if paused else f"step {progress.get('step', 0):,}"
        if total:
            text += f"/{total:,}"
        text += f" · epoch {progress.get('epoch', 0) + 1}/{progress.get('epochs', 1)}"
        if rate and not paused:
            text += f" · {rate:.1f} steps/s"
        self.window.controls.status_label.setText(text)

    def _ended(self, path: str, status: str, error: str) -> None:
        self.window.runs_panel.refresh()
        if status != "failed":  # failures come with their own dialog (host.failed)
            self.window.statusBar().showMessage(f"{Path(path).name}: {status_label(status, error)}", 8000)


def unique_path(path: Path) -> Path:
    """``path``, or ``path`` with -2, -3, ... when a run file of that name exists."""
    candidate, n = path, 2
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        n += 1
    return candidate


def recipe_text(loaded: LoadedChoice) -> str:
    """The open model's training recipe in words (the same one ``resviz train`` uses)."""
    from ..models.recipes import recipe_for

    choice = loaded.choice
    model = choice.reference if choice.is_user_file else loaded.main.spec.name
    try:
        return recipe_for(model, dict(choice.options)).describe()
    except ResvizError:
        return ""
