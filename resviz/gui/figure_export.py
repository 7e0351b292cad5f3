"""Exporting a figure from the window (Ctrl+E): which figures there are, and saving one at a size."""

from __future__ import annotations

import traceback
from pathlib import Path

from PySide6.QtWidgets import QMainWindow

from ..errors import ResvizError, describe_exception
from .dialogs import ExportDialog, announce_saved, ask_to_replace

ARCHITECTURE = "architecture"  # the graph's slug; the training figures have their own
WHY_PREFIX = "why_"  # the Why it trains page's lenses


class FigureExport:
    """The window's exportable figures: the architecture graph and every training figure."""

    def __init__(self, window: QMainWindow) -> None:
        self.window = window
        self.replace_question = None  # the last "replace the file?" question, while one is asked

    def targets(self) -> list[tuple[str, str]]:
        window = self.window
        targets = [(figure.title, figure.slug) for figure in window.training_view.figures]
        if window.architecture.available:
            targets.insert(0, ("Architecture (the graph)", ARCHITECTURE))
        return targets + window.why.export_targets()

    def export(self, slug: str, path: str | Path, size: tuple[int, int] | None = None) -> list[Path]:
        """Save one figure (a training figure's slug, or "architecture") at ``size`` pixels."""
        window = self.window
        if slug == ARCHITECTURE:
            return window.architecture.export_image(path, size)
        if slug.startswith(WHY_PREFIX):  # a lens of the Why it trains page, as shown
            return [window.why.panel_by_slug(slug).export_png(path)]
        figure = window.training_view.figure_by_slug(slug)
        figure.refresh(window.comparison.frame())
        return [figure.export_image(path, size)]

    def paths_for(self, slug: str, path: str | Path) -> list[Path]:
        """The files an export of ``slug`` to ``path`` writes (twin graphs: one per twin)."""
        path = Path(path)
        if slug == ARCHITECTURE and self.window.architecture.showing_twins:
            return [path.with_name(f"{path.stem}-{tag}{path.suffix}") for tag in ("plain", "residual")]
        return [path]

    def show_dialog(self) -> ExportDialog:
        window = self.window
        current = ARCHITECTURE if window.tabs.currentWidget() is window.architecture else "gradient_flow"
        dialog = ExportDialog(self.targets(), window, folder=window.settings.export_folder(), current=current)

        slug_path_size: list = []

        def save() -> None:
            slug, path, size = slug_path_size
            try:
                paths = self.export(slug, path, size)
            except ResvizError as exc:
                window.show_error("Export failed", str(exc))
                return
            except Exception as exc:  # noqa: BLE001
                window.show_error("Export failed", describe_exception(exc), traceback.format_exc())
                return
            window.settings.set_export_folder(path.parent)
            announce_saved(window, paths)

        def chosen() -> None:
            slug_path_size[:] = [dialog.slug, dialog.path, dialog.size]
            self.replace_question = ask_to_replace(window, self.paths_for(dialog.slug, dialog.path), save)

        dialog.accepted.connect(chosen)
        dialog.open()
        return dialog
