"""Painting the attribution grid with QPainter: one function for the screen and the exported PNG,
so the file shows what the panel shows (title, column headers, row labels, maps, legend)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QLinearGradient, QPainter

from ..attribution.grid import GridColumn, GridResult
from ..attribution.render import DEFAULT_COLORMAPS, OVERLAY_COLORMAPS, render
from ..colours import get_colormap

INK, MUTED, ERROR = "#1F2933", "#616E7C", "#B42318"


@dataclass(frozen=True)
class GridColours:
    """The grid's colours around the maps (the maps keep their colour maps in either theme)."""

    background: str = "#FFFFFF"
    ink: str = INK
    muted: str = MUTED
    error: str = ERROR
    empty: str = "#F5F7FA"   # a cell whose method failed
    border: str = "#CBD2D9"


LIGHT_GRID = GridColours()
DARK_GRID = GridColours(background="#000000", ink="#FFFFFF", muted="#C8CED6", error="#FF8A80", empty="#1A1A1A",
                        border="#5A6370")


@dataclass
class DrawSettings:
    sign: str | None = None  # None: each method's default sign
    clip_percentile: float = 1.0
    cmap: str | None = None  # None: the sign's default colour map
    overlay: bool = True
    alpha: float = 0.7


def numpy_to_qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w, _ = rgb.shape
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def render_column(column: GridColumn, settings: DrawSettings) -> list[QImage]:
    out = []
    for panel in column.panels:
        sign = settings.sign or panel.sign
        picture = render(panel.map, panel.image if settings.overlay else None, sign=sign, cmap=settings.cmap,
                         clip_percentile=settings.clip_percentile, alpha=settings.alpha, scale=panel.scale)
        out.append(numpy_to_qimage(picture))
    return out


def legend_table(sign: str, settings: DrawSettings) -> np.ndarray:
    if settings.cmap:
        return get_colormap(settings.cmap)
    return get_colormap((OVERLAY_COLORMAPS if settings.overlay else DEFAULT_COLORMAPS)[sign])


SIGN_TEXT = {  # sign -> (what the bar shows, low end, middle, high end)
    "positive": ("positive evidence", "0", "", "max"),
    "negative": ("negative evidence", "0", "", "max"),
    "absolute": ("|attribution|", "0", "", "max"),
    "all": ("negative · positive", "−", "0", "+"),
}


@dataclass
class GridGeometry:
    cell: int
    label_width: int
    header: int
    caption: int
    legend: int
    gap: int
    margin: int
    width: int
    height: int


def grid_geometry(rows: int, columns: int, cell: int, font: QFont, cell_captions: bool = False) -> GridGeometry:
    """Where everything goes for ``cell``-pixel images; ``cell_captions`` leaves a line under each
    image (the prediction of each column's model, when the columns' models differ)."""
    metrics = QFontMetrics(font)
    line = metrics.height()
    gap, margin = max(4, cell // 24), 10
    label_width = max(120, int(cell * 1.1))
    header = 2 * line + 8
    caption = line + 2 if cell_captions else 0
    legend = 3 * line + 22
    n_cols = columns + 1  # the input image first
    width = margin * 2 + label_width + n_cols * cell + (n_cols - 1) * gap
    height = margin * 2 + line + 6 + header + rows * (cell + caption) + max(0, rows - 1) * gap + legend
    return GridGeometry(cell, label_width, header, caption, legend, gap, margin, width, height)


def fit_cell(rows: int, columns: int, size: QSize, font: QFont, cell_captions: bool = False, low: int = 40,
             high: int = 224) -> int:
    """The largest cell size that lets the whole grid fit into ``size``."""
    best = low
    for cell in range(low, high + 1, 4):
        g = grid_geometry(rows, columns, cell, font, cell_captions)
        if g.width <= size.width() and g.height <= size.height():
            best = cell
        else:
            break
    return best


def _elide_lines(text: str, metrics: QFontMetrics, width: int, lines: int = 2) -> list[str]:
    words, out, current = text.split(), [], ""
    for word in words:
        trial = f"{current} {word}".strip()
        if metrics.horizontalAdvance(trial) <= width or not current:
            current = trial
        else:
            out.append(current)
            current = word
    if current:
        out.append(current)
    if len(out) > lines:
        out = out[:lines]
        out[-1] = metrics.elidedText(out[-1] + " …", Qt.TextElideMode.ElideRight, width)
    return [metrics.elidedText(line, Qt.TextElideMode.ElideRight, width) for line in out]


def paint_grid(painter: QPainter, grid: GridResult, pictures: list[list[QImage] | None], settings: DrawSettings,
               geometry: GridGeometry, font: QFont, colours: GridColours = LIGHT_GRID) -> None:
    """Title, column headers, row labels, the input column, one column per method, and the legend."""
    g = geometry
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)  # crisp pixels when enlarged
    metrics = QFontMetrics(font)
    line = metrics.height()
    bold = QFont(font)
    bold.setBold(True)
    bold_metrics = QFontMetrics(bold)
    title_font = QFont(bold)
    title_font.setPointSizeF(font.pointSizeF() * 1.15 if font.pointSizeF() > 0 else 11)
    painter.setPen(QColor(colours.ink))
    painter.setFont(title_font)
    painter.drawText(QRectF(g.margin, g.margin, g.width - 2 * g.margin, line + 4),
                     Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, grid.title)
    top = g.margin + line + 6
    x0 = g.margin + g.label_width
    headers = ["input"] + [c.label for c in grid.columns]
    painter.setFont(bold)
    for c, text in enumerate(headers):
        x = x0 + c * (g.cell + g.gap)
        for i, part in enumerate(_elide_lines(text, bold_metrics, g.cell + g.gap - 2, 2)):
            painter.drawText(QRectF(x - g.gap / 2, top + i * line, g.cell + g.gap, line),
                             Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignVCenter, part)
    top += g.header
    rows, _ = grid.shape
    for r in range(rows):
        y = top + r * (g.cell + g.caption + g.gap)
        painter.setFont(font)
        painter.setPen(QColor(colours.ink))
        label_lines = _elide_lines(grid.row_labels[r], metrics, g.label_width - 10, 2)
        caption = grid.row_caption(r) or ""
        block = (len(label_lines) + (1 if caption else 0)) * line
        ty = y + (g.cell - block) / 2
        for part in label_lines:
            painter.drawText(QRectF(g.margin, ty, g.label_width - 10, line),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, part)
            ty += line
        if caption:
            painter.setPen(QColor(colours.muted))
            painter.drawText(QRectF(g.margin, ty, g.label_width - 10, line),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, caption)
        painter.drawImage(QRectF(x0, y, g.cell, g.cell), numpy_to_qimage(grid.inputs[r]))
        for c, column in enumerate(grid.columns):
            rect = QRectF(x0 + (c + 1) * (g.cell + g.gap), y, g.cell, g.cell)
            images = pictures[c] if c < len(pictures) else None
            if column.error is None and images is not None and r < len(images):
                painter.drawImage(rect, images[r])
                if g.caption:
                    painter.setFont(font)
                    painter.setPen(QColor(colours.muted))
                    painter.drawText(QRectF(rect.left() - g.gap / 2, rect.bottom() + 1, rect.width() + g.gap, line),
                                     Qt.AlignmentFlag.AlignHCenter,
                                     metrics.elidedText(column.panels[r].caption, Qt.TextElideMode.ElideRight,
                                                        int(rect.width() + g.gap)))
            else:
                painter.fillRect(rect, QColor(colours.empty))
                painter.setPen(QColor(colours.border))
                painter.drawRect(rect)
                if r == 0 and column.error:
                    painter.setPen(QColor(colours.error))
                    painter.setFont(font)
                    painter.drawText(rect.adjusted(4, 4, -4, -4), Qt.TextFlag.TextWordWrap | Qt.AlignmentFlag.AlignTop,
                                     column.error)
    # The legend: one colour bar per sign shown.
    signs = list(dict.fromkeys(settings.sign or p.sign for c in grid.columns for p in c.panels))
    y = top + rows * (g.cell + g.caption + g.gap) - g.gap + 12 + line
    x = x0
    painter.setFont(font)
    for sign in signs:
        table = legend_table(sign, settings)
        bar = QRectF(x, y, min(180, max(100, g.cell * 1.4)), 10)
        gradient = QLinearGradient(bar.topLeft(), bar.topRight())
        for i in range(0, 256, 15):
            r_, g_, b_ = (int(v) for v in table[i])
            gradient.setColorAt(i / 255, QColor(r_, g_, b_))
        r_, g_, b_ = (int(v) for v in table[255])
        gradient.setColorAt(1.0, QColor(r_, g_, b_))
        painter.fillRect(bar, gradient)
        painter.setPen(QColor(colours.border))
        painter.drawRect(bar)
        title, low, middle, high = SIGN_TEXT[sign]
        painter.setPen(QColor(colours.ink))
        below = QRectF(bar.left() - 10, bar.bottom() + 2, bar.width() + 20, line)
        painter.drawText(below, Qt.AlignmentFlag.AlignLeft, low)
        painter.drawText(below, Qt.AlignmentFlag.AlignHCenter, middle)
        painter.drawText(below, Qt.AlignmentFlag.AlignRight, high)
        painter.setPen(QColor(colours.muted))
        painter.drawText(QRectF(bar.left(), bar.top() - line - 2, bar.width() + 60, line), Qt.AlignmentFlag.AlignLeft,
                         title + (" (overlay)" if settings.overlay else ""))
        x += bar.width() + 30


def needs_cell_captions(grid: GridResult) -> bool:
    return any(grid.row_caption(r) is None for r in range(grid.shape[0]))


def grid_to_image(grid: GridResult, pictures: list[list[QImage] | None], settings: DrawSettings, cell: int,
                  font: QFont, colours: GridColours = LIGHT_GRID) -> QImage:
    geometry = grid_geometry(*grid.shape, cell, font, needs_cell_captions(grid))
    image = QImage(geometry.width, geometry.height, QImage.Format.Format_RGB32)
    image.fill(QColor(colours.background))
    painter = QPainter(image)
    try:
        paint_grid(painter, grid, pictures, settings, geometry, font, colours)
    finally:
        painter.end()
    return image
