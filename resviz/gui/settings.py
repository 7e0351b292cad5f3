"""What the window remembers between launches (QSettings), read and written in one place.

A value that cannot be read back (an older format, a hand-edited file) falls back to its
default instead of stopping the window from opening.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtWidgets import QMainWindow

from ..errors import ResvizError
from ..views.model_choice import ModelChoice


class Settings:
    def __init__(self, settings: QSettings | None = None) -> None:
        self.store = settings if settings is not None else QSettings("resviz", "resviz")

    def _get(self, key: str, default: Any = None) -> Any:
        value = self.store.value(key, default)
        return default if value is None else value

    def sync(self) -> None:
        self.store.sync()

    # the model
    def model_choice(self) -> ModelChoice:
        text = self._get("model/choice")
        if not text:
            return ModelChoice.embedded_default()
        try:
            choice = ModelChoice.from_json(str(text))
        except ResvizError:
            return ModelChoice.embedded_default()
        if choice.is_user_file:  # trust is given per launch, never remembered
            return ModelChoice.embedded_default()
        return choice

    def set_model_choice(self, choice: ModelChoice) -> None:
        if not choice.is_user_file:
            self.store.setValue("model/choice", choice.to_json())

    # training
    def train_settings(self) -> dict[str, Any]:
        try:
            values = json.loads(str(self._get("train/settings", "{}")))
        except ValueError:
            return {}
        return values if isinstance(values, dict) else {}

    def set_train_settings(self, values: dict[str, Any]) -> None:
        self.store.setValue("train/settings", json.dumps(values, sort_keys=True))

    # folders
    def runs_folder(self) -> Path:
        return Path(str(self._get("runs/folder", str(Path.cwd() / "runs"))))

    def set_runs_folder(self, folder: str | Path) -> None:
        self.store.setValue("runs/folder", str(Path(folder).resolve()))

    def export_folder(self) -> Path:
        return Path(str(self._get("export/folder", str(Path.cwd()))))

    def set_export_folder(self, folder: str | Path) -> None:
        self.store.setValue("export/folder", str(folder))

    # the window
    def tab_index(self) -> int:
        try:
            return int(self._get("window/tab", 0))
        except (TypeError, ValueError):
            return 0

    def restore_window(self, window: QMainWindow) -> bool:
        """Restore the window's geometry and docks; False on a first launch (nothing saved)."""
        geometry = self._get("window/geometry")
        restored = isinstance(geometry, QByteArray) and window.restoreGeometry(geometry)
        state = self._get("window/state")
        if isinstance(state, QByteArray):
            window.restoreState(state)
        return bool(restored)

    def save_window(self, window: QMainWindow, tab: int) -> None:
        self.store.setValue("window/geometry", window.saveGeometry())
        self.store.setValue("window/state", window.saveState())
        self.store.setValue("window/tab", int(tab))
