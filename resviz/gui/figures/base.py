"""What every figure shares: the frame it draws, theming, and export at a chosen size."""

from __future__ import annotations

import time
from html import escape
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QSizePolicy

from ...errors import ResvizError
from ...files import atomic_path
from ...runfile import RUNNING
from ...views.run_comparison import FigureFrame
from ...views.run_data import RunData
from ..theme import LIGHT, Theme

# Exports wider than this are laid out at this width and rendered scaled, so text and lines
# keep their proportions instead of shrinking to nothing on a 4K export.
EXPORT_LAYOUT_WIDTH = 1400.0


def pen(colour: str, width: float, *, alpha: int = 255, dashed: bool = False) -> pg.QtGui.QPen:
    qcolour = QColor(colour)
    qcolour.setAlpha(alpha)
    result = pg.mkPen(qcolour, width=width)
    if dashed:
        result.setStyle(Qt.DashLine)
    result.setCosmetic(True)
    return result


class TitleLabel(pg.LabelItem):
    """A figure title whose text can change every frame without re-laying out the figure.

    pyqtgraph's label resizes itself to each new text, and the whole scene's layout follows, on
    every frame ("step 1,234" becomes "step 1,235"). This one takes the width it is given (long
    text is clipped) and only grows in height, so a new text is just a repaint.
    """

    def __init__(self, text: str = "") -> None:
        self._height = 0.0
        super().__init__(text, justify="center")
        self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
        self.item.setFlag(self.item.GraphicsItemFlag.ItemClipsToShape, False)
        self.setFlag(self.GraphicsItemFlag.ItemClipsChildrenToShape, True)

    def updateMin(self) -> None:
        height = self.itemRect().height()
        if height > self._height + 0.5:
            self._height = height
            self.setMinimumHeight(height)
            self.setMaximumHeight(height)
            self.setMinimumWidth(0)
            self._sizeHint = {Qt.SizeHint.MinimumSize: (0, height), Qt.SizeHint.PreferredSize: (0, height),
                              Qt.SizeHint.MaximumSize: (-1, height), Qt.SizeHint.MinimumDescent: (0, 0)}
            super().updateGeometry()

    def updateGeometry(self) -> None:
        pass  # the size changes only through updateMin, when the title needs more lines

    def resizeEvent(self, event) -> None:
        # Wrap at the width given (between legend entries), so a narrow figure's legend takes a
        # second line instead of being cut off at both ends.
        # A new width is a relayout anyway: the height is fitted afresh (it may shrink), so a
        # narrow moment while the window lays itself out leaves no tall title behind.
        width = self.rect().width()
        if width > 1 and abs(self.item.textWidth() - width) > 0.5:
            self.item.setTextWidth(width)
            option = self.item.document().defaultTextOption()
            option.setAlignment(Qt.AlignHCenter)
            self.item.document().setDefaultTextOption(option)
            self._height = 0.0
        super().resizeEvent(event)

    def reset_height(self) -> None:
        """Let the next text choose the height again (a theme with another font size)."""
        self._height = 0.0


class Figure(pg.GraphicsLayoutWidget):
    """A pyqtgraph scene whose items are created once and updated in place by ``refresh``."""

    title = "Figure"
    slug = "figure"  # base of the exported file name
    title_span = 1  # layout columns the title spans

    def __init__(self, theme: Theme = LIGHT, parent=None) -> None:
        super().__init__(parent)
        self.theme = theme
        self._last_key: tuple | None = None
        self.draw_ms = 0.0  # running averages of the cost of a refresh, for the view's time budget
        self.paint_ms = 0.0
        self._title_html = ""
        self._title_text = self.title
        self.setMinimumSize(160, 140)  # four columns fit beside the runs panel on a 1024-pixel screen
        self.ci.setContentsMargins(6, 6, 10, 6)
        self.ci.setSpacing(4)
        self.title_label = TitleLabel(self.title)
        self.ci.addItem(self.title_label, row=0, col=0, colspan=self.title_span)
        self.setBackground(theme.background)

    # -- drawing ----------------------------------------------------------------------------

    def refresh(self, frame: FigureFrame) -> bool:
        """Draw ``frame`` if it differs from the last one drawn; returns whether it drew."""
        key = frame.key()
        if key == self._last_key:
            return False
        self._last_key = key
        started = time.perf_counter()
        self.draw(frame)
        self.draw_ms = _average(self.draw_ms, 1000 * (time.perf_counter() - started))
        return True

    def is_stale(self, frame: FigureFrame) -> bool:
        return frame.key() != self._last_key

    @property
    def cost_ms(self) -> float:
        """What a refresh of this figure costs the GUI thread: drawing plus painting (running averages)."""
        return self.draw_ms + self.paint_ms

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.invalidate()  # some figures fit their labels to their size

    def paintEvent(self, event) -> None:
        started = time.perf_counter()
        super().paintEvent(event)
        self.paint_ms = _average(self.paint_ms, 1000 * (time.perf_counter() - started))

    def draw(self, frame: FigureFrame) -> None:  # pragma: no cover - every figure overrides it
        raise NotImplementedError

    def invalidate(self) -> None:
        """Draw at the next refresh even when the frame looks unchanged."""
        self._last_key = None

    def relayout(self) -> None:
        """Fit the layout to the view again after items were added or removed.

        The view sizes its layout only on resize, clamped to the maximum width the layout had
        then; one that was empty (no run yet) would otherwise stay narrow.
        """
        self.ci.setGeometry(QRectF(self.range))

    def plot_items(self) -> list[pg.PlotItem]:
        return [item for item in self.ci.items if isinstance(item, pg.PlotItem)]

    # -- theme ------------------------------------------------------------------------------

    def set_title(self, text: str, runs: list[RunData] | None = None) -> None:
        """The figure's title; with ``runs``, followed by a legend of their colours.

        The legend sits in the title line rather than over the data, where it would hide the
        very end of a curve (the last layers, the newest steps).
        """
        self._title_text = text
        html = f"<b>{escape(text)}</b>"
        if runs:
            marks = "&nbsp;&nbsp; ".join(
                f"<span style='color:{run.style.colour}; white-space:nowrap'>━━&nbsp;{escape(run.style.label)}"
                f"{_status_mark(run)}</span>" for run in runs)
            html += f"<br/><span style='font-size:{self.theme.font_size}pt; font-weight:normal'>{marks}</span>"
        if html != self._title_html:
            self._title_html = html
            self.title_label.setText(html, color=self.theme.foreground, size=f"{self.theme.title_size}pt")

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.setBackground(theme.background)
        font = theme.font()
        for plot in self.plot_items():
            style_plot(plot, theme, font)
        self.restyle(theme)
        self._title_html = ""
        self.title_label.reset_height()
        self.set_title(self._title_text)
        self.invalidate()

    def restyle(self, theme: Theme) -> None:
        """Subclasses re-pen their own items here."""

    # -- export -----------------------------------------------------------------------------

    def render_image(self, width: int, height: int) -> QImage:
        """The figure laid out for ``width`` x ``height`` pixels and rendered into an image."""
        if width < 16 or height < 16 or width > 16384 or height > 16384:
            raise ResvizError(f"export size {width}x{height}: width and height must be 16 to 16384 pixels")
        scale = max(1.0, width / EXPORT_LAYOUT_WIDTH)
        logical = QRectF(0, 0, width / scale, height / scale)
        image = QImage(width, height, QImage.Format_ARGB32)
        image.fill(QColor(self.theme.background))
        old = QRectF(self.ci.geometry())
        try:
            self.ci.setGeometry(logical)
            self.ci.layout.activate()
            painter = QPainter(image)
            try:
                painter.setRenderHint(QPainter.Antialiasing)
                painter.setRenderHint(QPainter.TextAntialiasing)
                self.scene().render(painter, QRectF(0, 0, width, height), logical)
            finally:
                painter.end()
        finally:
            self.ci.setGeometry(old)
            self.ci.layout.activate()
        return image

    def export_image(self, path: str | Path, size: tuple[int, int] | None = None) -> Path:
        """Save the figure as PNG (or JPEG, by suffix) or SVG; ``size`` in pixels, the window's by default."""
        path = Path(path)
        if size is None:
            size = (max(self.width(), 16), max(self.height(), 16))
        width, height = int(size[0]), int(size[1])
        suffix = path.suffix.lower()
        if suffix == ".svg":
            return self._export_svg(path, width, height)
        if suffix not in (".png", ".jpg", ".jpeg", ".bmp"):
            raise ResvizError(f"{path}: cannot export a figure as {suffix or 'a file without suffix'}; "
                              f"use .png, .jpg or .svg")
        image = self.render_image(width, height)
        try:
            with atomic_path(path) as temporary:  # whole or not at all; the format follows the suffix
                if not image.save(str(temporary)):
                    raise ResvizError(f"{path}: could not write the image (is the folder there and writable?)")
        except OSError as error:
            raise ResvizError(f"{path}: cannot write ({error.strerror or error})") from error
        return path

    def _export_svg(self, path: Path, width: int, height: int) -> Path:
        """Vector output of the same scene, laid out at ``width`` x ``height`` units."""
        from PySide6.QtSvg import QSvgGenerator

        if width < 16 or height < 16 or width > 16384 or height > 16384:
            raise ResvizError(f"export size {width}x{height}: width and height must be 16 to 16384 pixels")
        generator = QSvgGenerator()
        generator.setFileName(str(path))
        generator.setSize(QSize(width, height))
        generator.setViewBox(QRectF(0, 0, width, height))
        generator.setTitle(self._title_text)
        generator.setDescription("resviz figure")
        old = QRectF(self.ci.geometry())
        try:
            self.ci.setGeometry(QRectF(0, 0, width, height))
            self.ci.layout.activate()
            painter = QPainter()
            if not painter.begin(generator):
                raise ResvizError(f"{path}: could not write the SVG (is the folder there and writable?)")
            try:
                painter.fillRect(QRectF(0, 0, width, height), QColor(self.theme.background))
                self.scene().render(painter, QRectF(0, 0, width, height), QRectF(0, 0, width, height))
            finally:
                painter.end()
        finally:
            self.ci.setGeometry(old)
            self.ci.layout.activate()
        if not path.is_file() or path.stat().st_size == 0:
            raise ResvizError(f"{path}: could not write the SVG")
        return path


def _status_mark(run: RunData) -> str:
    """How a run that is no longer written ended (finished, stopped, failed, interrupted), for its legend entry."""
    return "" if run.status_word == RUNNING else f" <i>({escape(run.status_word)})</i>"


def _average(previous: float, sample: float, weight: float = 0.3) -> float:
    return sample if previous == 0.0 else (1 - weight) * previous + weight * sample


def style_plot(plot: pg.PlotItem, theme: Theme, font=None) -> None:
    """Axes, grid and labels of a plot in the theme's colours and sizes."""
    font = font or theme.font()
    for name in ("left", "bottom", "right", "top"):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen(theme.foreground, width=max(1.0, theme.line_width / 2)))
        axis.setTextPen(pg.mkPen(theme.foreground))
        # Major ticks only: the minor grid lines (blended across the whole plot) cost more to paint
        # than all the curves together, and the plots read as well without them.
        axis.setStyle(tickFont=font, tickTextOffset=max(3, int(theme.font_size / 2)), maxTickLevel=0)
        disable_si_prefix(axis)
        if axis.labelText:
            axis.setLabel(axis.labelText, units=axis.labelUnits,
                          **{"color": theme.foreground, "font-size": f"{theme.font_size}pt"})
    plot.showGrid(x=True, y=True, alpha=theme.grid_alpha)


def disable_si_prefix(axis: pg.AxisItem) -> None:
    """Plain numbers on an axis (steps, norms), never "x0.001" scaling.

    pyqtgraph's ``enableAutoSIPrefix(False)`` computes a scale from the range at that moment and
    then keeps it for good; an axis styled while its range was tiny would show steps times 1000.
    """
    axis.enableAutoSIPrefix(False)
    axis.autoSIPrefixScale = 1.0
    axis.labelUnitPrefix = ""
    axis._updateLabel()
