"""The attribution grid widget: paints a GridResult scaled to fit its size."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from ..attribution.grid import GridResult
from ..errors import ResvizError
from ..files import atomic_path
from .attribution_drawing import (
    DARK_GRID,
    LIGHT_GRID,
    DrawSettings,
    fit_cell,
    grid_geometry,
    grid_to_image,
    needs_cell_captions,
    paint_grid,
    render_column,
)
from .theme import Theme

IDLE_TEXT = "Pick samples and methods, then press Explain."
MAX_CELL = 640  # pixels per map at most


class AttributionGrid(QWidget):
    """Paints a GridResult scaled to fit, re-rendering pictures only when settings change."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.grid: GridResult | None = None
        self.settings = DrawSettings()
        self.pictures: list[list[QImage] | None] = []
        self.placeholder = IDLE_TEXT
        self.colours = LIGHT_GRID
        self.setMinimumSize(320, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_theme(self, theme: Theme) -> None:
        """Dark around the maps in the presentation theme (exports take the same colours)."""
        self.colours = DARK_GRID if theme.dark else LIGHT_GRID
        self.update()

    def set_placeholder(self, text: str) -> None:
        """What the empty grid says (what to do, or that the maps are being computed)."""
        self.placeholder = text
        self.update()

    def set_grid(self, grid: GridResult | None) -> None:
        self.grid = grid
        self._render()

    def set_settings(self, settings: DrawSettings) -> None:
        self.settings = settings
        self._render()

    def _render(self) -> None:
        self.pictures = []
        if self.grid is not None:
            for column in self.grid.columns:
                self.pictures.append(render_column(column, self.settings) if column.error is None else None)
        self.update()

    def cell_size(self) -> int:
        if self.grid is None:
            return 0
        # Cells grow with the panel (up to MAX_CELL), so a few samples fill a projector's screen.
        return fit_cell(*self.grid.shape, self.size(), self.font(), needs_cell_captions(self.grid), high=MAX_CELL)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(self.colours.background))
        if self.grid is None:
            painter.setPen(QColor(self.colours.muted))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.placeholder)
            painter.end()
            return
        geometry = grid_geometry(*self.grid.shape, self.cell_size(), self.font(), needs_cell_captions(self.grid))
        if geometry.width > self.width() or geometry.height > self.height():
            # Too many rows for the widget even at the smallest cell: scale the whole figure down.
            scale = min(self.width() / geometry.width, self.height() / geometry.height)
            painter.scale(scale, scale)
        else:  # centred in the space it does not fill
            painter.translate((self.width() - geometry.width) // 2, (self.height() - geometry.height) // 2)
        paint_grid(painter, self.grid, self.pictures, self.settings, geometry, self.font(), self.colours)
        painter.end()

    def to_image(self, cell: int = 160) -> QImage:
        if self.grid is None:
            raise ResvizError("attribution panel: nothing to export yet (press Explain first)")
        return grid_to_image(self.grid, self.pictures, self.settings, cell, self.font(), self.colours)

    def export_png(self, path: str | os.PathLike, cell: int = 160) -> Path:
        """Save the grid as shown (titles, labels, legend) with ``cell``-pixel images, whole or not at all."""
        path = Path(path)
        if path.suffix.lower() != ".png":
            raise ResvizError(f"{path}: the attribution grid exports as .png")
        image = self.to_image(cell)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ResvizError(f"{path}: cannot create its folder ({error.strerror or error})") from error
        with atomic_path(path) as temporary:
            if not image.save(str(temporary), "PNG"):
                raise ResvizError(f"{path}: could not write the PNG file")
        return path
