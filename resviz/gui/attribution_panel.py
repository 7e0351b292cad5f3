"""The attribution panel: a grid of sample images × attribution methods, for a model or a run.

The window gives it a model (``set_model``) or a run file (``set_run``: the model of a
checkpoint, with the data set and normalisation it was trained on); the user picks samples of
the data set or image files, methods, the Grad-CAM layer (``set_layer``, connected to a click
in the architecture view) and how the maps are drawn. Computing runs in a worker thread with
progress and Cancel; drawing settings (sign, outlier percentile, colour map, overlay) re-render
the kept maps without computing again. The grid is painted by one function for the screen and
for the exported PNG, so the file shows what the panel shows.
"""

from __future__ import annotations

import html
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, Signal, Slot
from PySide6.QtGui import QColor, QFont, QFontMetrics, QIcon, QImage, QLinearGradient, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QCompleter,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ..attribution.sources import pick_steps
from ..errors import ResvizError
from ..files import atomic_path
from .workers_tasks import MODEL_LOCK, TaskCancelled, TaskThread, stop_all_tasks

DEFAULT_METHODS = ("saliency", "integrated_gradients", "grad_cam")
POOL_SIZE = 24  # samples offered to pick from (balanced over the classes)
DEFAULT_SELECTION = 4
CHECKPOINT_COLUMNS = 6  # checkpoints compared across training
INK, MUTED, ERROR = "#1F2933", "#616E7C", "#B42318"


# --- what the worker computes --------------------------------------------------------------


@dataclass
class GridColumn:
    """One column: a method on one model (or checkpoint); its panels, or why it failed."""

    method: str
    label: str
    panels: list[Any] = field(default_factory=list)  # resviz.attribution.compare.Panel, one per row
    error: str | None = None
    seconds: float = 0.0
    layer: str | None = None
    source: str = ""  # the model or checkpoint it explains

    @property
    def captions(self) -> list[str]:
        return [panel.caption for panel in self.panels]


@dataclass
class GridResult:
    """A computed grid: inputs (rows) × methods, per model or checkpoint (columns)."""

    title: str
    row_labels: list[str]
    inputs: list[np.ndarray]  # (H, W, 3) uint8
    columns: list[GridColumn]
    notes: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.row_labels), len(self.columns)

    def row_caption(self, row: int) -> str | None:
        """The prediction shown beside a row when every column agrees on it (one model), else None."""
        captions = {c.panels[row].caption for c in self.columns if c.error is None and row < len(c.panels)}
        return captions.pop() if len(captions) == 1 else (None if captions else "")


@dataclass
class SampleSet:
    """The images offered to pick from, at the model's input shape."""

    samples: Any  # resviz.attribution.sources.Samples
    dataset: str


def _panel_source(model, title: str, input_shape, dataset: str, classes: Sequence[str], mean, std):
    from ..attribution.sources import ModelSource

    class _Source(ModelSource):
        # A model that declares no input shape gets the one the window knows.
        @property
        def input_shape(self) -> tuple[int, ...]:
            if input_shape is not None:
                return tuple(int(v) for v in input_shape)
            return ModelSource.input_shape.fget(self)

    return _Source(model, title, list(classes), dataset, mean=tuple(mean) if mean else None,
                   std=tuple(std) if std else None)


def _merge_samples(parts: Sequence[Any]):
    from ..attribution.sources import Samples

    parts = [p for p in parts if p is not None and len(p.images)]
    if not parts:
        return None
    # -1 marks an unknown true class (an image file) beside data set samples.
    labels = np.concatenate([p.labels if p.labels is not None else np.full(len(p.images), -1, np.int64)
                             for p in parts]).astype(np.int64)
    if (labels < 0).all():
        labels = None
    return Samples(np.concatenate([p.images for p in parts]), [n for p in parts for n in p.names], labels, None,
                   list(parts[0].classes), [n for p in parts for n in p.notes])


def compute_grid(sources: Sequence[Any], samples, methods: Sequence[str], *, target: Any, layer: str | None,
                 method_options: dict[str, dict[str, Any]], progress: Callable[[float], None],
                 cancel: threading.Event) -> GridResult:
    """Every method on every sample for each model source (a model, or a run's checkpoint): one
    column per (source, method). A method that fails for a model leaves its reason in its column."""
    from ..attribution import get_method
    from ..attribution.compare import compare_methods
    from ..attribution.core import AttributionCancelled
    from ..attribution.inputs import to_display

    columns: list[GridColumn] = []
    notes: list[str] = list(samples.notes)
    row_labels: list[str] | None = None
    inputs: list[np.ndarray] | None = None
    total = max(1, len(sources) * len(methods))
    for s_index, source in enumerate(sources):
        x = samples.model_input(source)
        classes = samples.classes or source.classes
        for m_index, method in enumerate(methods):
            info = get_method(method)
            done = s_index * len(methods) + m_index
            part = (lambda f, done=done: progress((done + f) / total))
            label = info.title if len(sources) == 1 else f"{source.label} · {info.title}"
            try:
                comparison = compare_methods(
                    source.model, x, [(info.name, method_options.get(info.name, {}))], target=target,
                    layer=(layer or None) if info.needs_layer else None, labels=samples.labels, class_names=classes,
                    display=list(samples.images), row_names=samples.names, seed=0, title=source.label,
                    progress=part, cancel=cancel)
            except AttributionCancelled:
                raise
            except ResvizError as error:
                if cancel.is_set():
                    raise
                columns.append(GridColumn(info.name, label, error=str(error), source=source.label))
                continue
            result = comparison.results[0]
            if result.layer and len(sources) == 1:
                label = result.label
            elif result.layer:
                label = f"{label} ({result.layer})"
            columns.append(GridColumn(info.name, label, [row[0] for row in comparison.panels],
                                      seconds=result.seconds, layer=result.layer, source=source.label))
            notes += comparison.notes
            if row_labels is None:
                row_labels, inputs = comparison.row_labels, comparison.inputs
    if row_labels is None:  # every method failed: still show the inputs, and the reasons
        row_labels = list(samples.names)
        inputs = [to_display(image) for image in samples.images]
    title = sources[0].label if len(sources) == 1 else " vs ".join(s.label for s in sources[:3]) + (
        " …" if len(sources) > 3 else "")
    progress(1.0)
    return GridResult(title, row_labels, inputs, columns, list(dict.fromkeys(notes)))


# --- drawing the grid ----------------------------------------------------------------------


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
    from ..attribution.render import render

    out = []
    for panel in column.panels:
        sign = settings.sign or panel.sign
        picture = render(panel.map, panel.image if settings.overlay else None, sign=sign, cmap=settings.cmap,
                         clip_percentile=settings.clip_percentile, alpha=settings.alpha, scale=panel.scale)
        out.append(numpy_to_qimage(picture))
    return out


def legend_table(sign: str, settings: DrawSettings) -> np.ndarray:
    from ..attribution.colormaps import get_colormap
    from ..attribution.render import DEFAULT_COLORMAPS, OVERLAY_COLORMAPS

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
               geometry: GridGeometry, font: QFont) -> None:
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
    painter.setPen(QColor(INK))
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
        painter.setPen(QColor(INK))
        label_lines = _elide_lines(grid.row_labels[r], metrics, g.label_width - 10, 2)
        caption = grid.row_caption(r) or ""
        block = (len(label_lines) + (1 if caption else 0)) * line
        ty = y + (g.cell - block) / 2
        for part in label_lines:
            painter.drawText(QRectF(g.margin, ty, g.label_width - 10, line),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, part)
            ty += line
        if caption:
            painter.setPen(QColor(MUTED))
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
                    painter.setPen(QColor(MUTED))
                    painter.drawText(QRectF(rect.left() - g.gap / 2, rect.bottom() + 1, rect.width() + g.gap, line),
                                     Qt.AlignmentFlag.AlignHCenter,
                                     metrics.elidedText(column.panels[r].caption, Qt.TextElideMode.ElideRight,
                                                        int(rect.width() + g.gap)))
            else:
                painter.fillRect(rect, QColor("#F5F7FA"))
                painter.setPen(QColor("#CBD2D9"))
                painter.drawRect(rect)
                if r == 0 and column.error:
                    painter.setPen(QColor(ERROR))
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
        painter.setPen(QColor("#9AA5B1"))
        painter.drawRect(bar)
        title, low, middle, high = SIGN_TEXT[sign]
        painter.setPen(QColor(INK))
        below = QRectF(bar.left() - 10, bar.bottom() + 2, bar.width() + 20, line)
        painter.drawText(below, Qt.AlignmentFlag.AlignLeft, low)
        painter.drawText(below, Qt.AlignmentFlag.AlignHCenter, middle)
        painter.drawText(below, Qt.AlignmentFlag.AlignRight, high)
        painter.setPen(QColor(MUTED))
        painter.drawText(QRectF(bar.left(), bar.top() - line - 2, bar.width() + 60, line), Qt.AlignmentFlag.AlignLeft,
                         title + (" (overlay)" if settings.overlay else ""))
        x += bar.width() + 30


def needs_cell_captions(grid: GridResult) -> bool:
    return any(grid.row_caption(r) is None for r in range(grid.shape[0]))


def grid_to_image(grid: GridResult, pictures: list[list[QImage] | None], settings: DrawSettings, cell: int,
                  font: QFont) -> QImage:
    geometry = grid_geometry(*grid.shape, cell, font, needs_cell_captions(grid))
    image = QImage(geometry.width, geometry.height, QImage.Format.Format_RGB32)
    image.fill(QColor("#FFFFFF"))
    painter = QPainter(image)
    try:
        paint_grid(painter, grid, pictures, settings, geometry, font)
    finally:
        painter.end()
    return image


class AttributionGrid(QWidget):
    """Paints a GridResult scaled to fit, re-rendering pictures only when settings change."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.grid: GridResult | None = None
        self.settings = DrawSettings()
        self.pictures: list[list[QImage] | None] = []
        self.placeholder = "Pick samples and methods, then press Explain."
        self.setMinimumSize(320, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

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
        return fit_cell(*self.grid.shape, self.size(), self.font(), needs_cell_captions(self.grid))

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#FFFFFF"))
        if self.grid is None:
            painter.setPen(QColor(MUTED))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.placeholder)
            painter.end()
            return
        geometry = grid_geometry(*self.grid.shape, self.cell_size(), self.font(), needs_cell_captions(self.grid))
        if geometry.width > self.width() or geometry.height > self.height():
            # Too many rows for the widget even at the smallest cell: scale the whole figure down.
            scale = min(self.width() / geometry.width, self.height() / geometry.height)
            painter.scale(scale, scale)
        paint_grid(painter, self.grid, self.pictures, self.settings, geometry, self.font())
        painter.end()

    def to_image(self, cell: int = 160) -> QImage:
        if self.grid is None:
            raise ResvizError("attribution panel: nothing to export yet (press Explain first)")
        return grid_to_image(self.grid, self.pictures, self.settings, cell, self.font())


# --- the panel -----------------------------------------------------------------------------


class AttributionPanel(QWidget):
    """Samples × methods attribution grid for the window's model or a run checkpoint.

    Signals: ``run_started()``, ``run_finished()`` (the grid is shown), ``run_failed(str)``,
    ``run_cancelled()``, ``samples_ready()`` (the sample pool is loaded), ``layer_changed(str)``,
    ``busy_changed(bool)``.
    """

    run_started = Signal()
    run_finished = Signal()
    run_failed = Signal(str)
    run_cancelled = Signal()
    samples_ready = Signal()
    layer_changed = Signal(str)
    busy_changed = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from ..attribution import METHODS

        self._methods_info = METHODS
        self._model_sources: list[Any] = []  # ModelSource per model the window gave
        self._resolved: dict[tuple, Any] = {}  # ("model", i) / ("run", step) -> ModelSource
        self._pool_key: tuple = ("model", 0)  # the source whose input shape and data set the samples follow
        self._run_path: Path | None = None
        self._run_steps: list[int] = []
        self._dataset = "shapes"
        self._pool: SampleSet | None = None
        self._files = None  # Samples from image files
        self._task: TaskThread | None = None
        self._task_kind = ""
        self._pending_run = False
        self._error: str | None = None
        self.grid_result: GridResult | None = None
        self._build_ui()
        self._update_enabled()

    # construction ---------------------------------------------------------------------------

    def _build_ui(self) -> None:
        from ..attribution.colormaps import list_colormaps
        from ..attribution.render import SIGNS
        from ..data import DATASETS

        controls = QWidget()
        column = QVBoxLayout(controls)
        column.setContentsMargins(6, 6, 6, 6)

        model_box = QGroupBox("Model")
        model_form = QFormLayout(model_box)
        self.model_label = QLabel("none")
        self.model_label.setWordWrap(True)
        self.source_box = QComboBox()
        self.source_box.setToolTip("Which model to explain: one of the window's models, all side by side, "
                                   "a checkpoint of the run, or checkpoints across its training")
        self.source_box.currentIndexChanged.connect(self._on_source_changed)
        model_form.addRow("model", self.model_label)
        model_form.addRow("explain", self.source_box)
        column.addWidget(model_box)

        samples_box = QGroupBox("Samples")
        samples_layout = QVBoxLayout(samples_box)
        row = QHBoxLayout()
        self.dataset_box = QComboBox()
        self.dataset_box.addItems(list(DATASETS))
        self.dataset_box.setCurrentText(self._dataset)
        self.dataset_box.setToolTip("The data set to take samples from (shapes needs no download)")
        self.dataset_box.currentTextChanged.connect(self.set_dataset)
        row.addWidget(QLabel("data set"))
        row.addWidget(self.dataset_box, 1)
        samples_layout.addLayout(row)
        self.sample_list = QListWidget()
        self.sample_list.setViewMode(QListWidget.ViewMode.IconMode)
        self.sample_list.setIconSize(QSize(48, 48))
        self.sample_list.setGridSize(QSize(64, 72))
        self.sample_list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.sample_list.setMovement(QListWidget.Movement.Static)
        self.sample_list.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        self.sample_list.setMinimumHeight(160)
        self.sample_list.setToolTip("Click to pick the samples to explain (one row each)")
        samples_layout.addWidget(self.sample_list)
        row = QHBoxLayout()
        add_file = QPushButton("Add image…")
        add_file.setToolTip("Explain an image file (converted to the model's input size and channels)")
        add_file.clicked.connect(self._on_add_file)
        one_each = QPushButton("One per class")
        one_each.clicked.connect(lambda: self.select_samples(list(range(DEFAULT_SELECTION))))
        row.addWidget(add_file)
        row.addWidget(one_each)
        samples_layout.addLayout(row)
        column.addWidget(samples_box)

        methods_box = QGroupBox("Methods")
        methods_grid = QGridLayout(methods_box)
        self.method_checks: dict[str, QCheckBox] = {}
        for i, (name, info) in enumerate(self._methods_info.items()):
            check = QCheckBox(info.title)
            check.setToolTip(info.description)
            check.setChecked(name in DEFAULT_METHODS)
            check.toggled.connect(self._update_enabled)
            self.method_checks[name] = check
            methods_grid.addWidget(check, i // 2, i % 2)
        options = QFormLayout()
        self.ig_steps = QSpinBox()
        self.ig_steps.setRange(2, 1000)
        self.ig_steps.setValue(50)
        self.ig_steps.setToolTip("Integrated Gradients: steps along the path from the baseline")
        self.nt_samples = QSpinBox()
        self.nt_samples.setRange(2, 500)
        self.nt_samples.setValue(10)
        self.nt_samples.setToolTip("SmoothGrad: noisy samples per input")
        options.addRow("IG steps", self.ig_steps)
        options.addRow("SmoothGrad samples", self.nt_samples)
        methods_grid.addLayout(options, (len(self._methods_info) + 1) // 2, 0, 1, 2)
        column.addWidget(methods_box)

        target_box = QGroupBox("Explain")
        target_form = QFormLayout(target_box)
        self.target_box = QComboBox()
        self.target_box.addItem("predicted class", None)
        self.target_box.addItem("true label", "label")
        self.layer_box = QComboBox()
        self.layer_box.setEditable(True)
        self.layer_box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.layer_box.lineEdit().setPlaceholderText("default: last spatial layer")
        self.layer_box.setToolTip("The Grad-CAM layer (a module qualified name); click a box in the architecture view")
        self.layer_box.currentTextChanged.connect(lambda text: self.layer_changed.emit(text.strip()))
        target_form.addRow("class", self.target_box)
        target_form.addRow("Grad-CAM layer", self.layer_box)
        column.addWidget(target_box)

        draw_box = QGroupBox("Display")
        draw_form = QFormLayout(draw_box)
        self.sign_box = QComboBox()
        self.sign_box.addItem("method default", None)
        for sign in SIGNS:
            self.sign_box.addItem(sign, sign)
        self.percentile_box = QDoubleSpinBox()
        self.percentile_box.setRange(0.0, 50.0)
        self.percentile_box.setSingleStep(0.5)
        self.percentile_box.setValue(1.0)
        self.percentile_box.setSuffix(" %")
        self.percentile_box.setToolTip("Clip the top percent of values as outliers, so they do not wash out the map")
        self.cmap_box = QComboBox()
        self.cmap_box.addItem("default", None)
        for name in list_colormaps():
            self.cmap_box.addItem(name, name)
        self.overlay_check = QCheckBox("overlay on the image")
        self.overlay_check.setChecked(True)
        self.alpha_slider = QSlider(Qt.Orientation.Horizontal)
        self.alpha_slider.setRange(0, 100)
        self.alpha_slider.setValue(70)
        self.alpha_slider.setToolTip("Overlay opacity")
        draw_form.addRow("sign", self.sign_box)
        draw_form.addRow("clip outliers", self.percentile_box)
        draw_form.addRow("colour map", self.cmap_box)
        draw_form.addRow(self.overlay_check)
        draw_form.addRow("opacity", self.alpha_slider)
        for signal in (self.sign_box.currentIndexChanged, self.cmap_box.currentIndexChanged,
                       self.percentile_box.valueChanged, self.overlay_check.toggled, self.alpha_slider.valueChanged):
            signal.connect(self._on_settings_changed)
        column.addWidget(draw_box)
        column.addStretch(1)

        scroll = QScrollArea()
        scroll.setWidget(controls)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(300)

        self.grid_view = AttributionGrid()
        self.run_button = QPushButton("Explain")
        self.run_button.setDefault(True)
        self.run_button.setToolTip("Compute the chosen methods on the chosen samples")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.export_button = QPushButton("Export PNG…")
        self.export_button.clicked.connect(self._on_export_clicked)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bar = QHBoxLayout()
        bar.addWidget(self.run_button)
        bar.addWidget(self.cancel_button)
        bar.addWidget(self.progress, 1)
        bar.addWidget(self.export_button)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(4, 4, 4, 4)
        right_layout.addLayout(bar)
        right_layout.addWidget(self.status)
        right_layout.addWidget(self.grid_view, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(scroll)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([330, 900])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

    # sources --------------------------------------------------------------------------------

    def set_model(self, model, input_shape: Sequence[int] | None = None, title: str = "", *,
                  dataset: str | None = None, classes: Sequence[str] = (), mean: Sequence[float] | None = None,
                  std: Sequence[float] | None = None) -> None:
        """Explain ``model``, whose inputs are ``input_shape`` (C, H, W) (default: its ``input_shape``).

        ``dataset`` (default: the panel's choice, shapes at first) gives the samples; ``mean``/``std``
        the input normalisation when the model was trained with one.
        """
        self.set_models({title or type(model).__name__: model}, input_shape, dataset=dataset, classes=classes,
                        mean=mean, std=std)

    def set_models(self, models: Mapping[str, Any], input_shape: Sequence[int] | None = None, *,
                   dataset: str | None = None, classes: Sequence[str] = (), mean: Sequence[float] | None = None,
                   std: Sequence[float] | None = None) -> None:
        """Explain one of several models (by label), or all side by side (e.g. a residual net and
        its plain twin, one column per model and method). They must take the same input shape."""
        if not models:
            raise ResvizError("attribution panel: no model given")
        sources = []
        for label, model in models.items():
            shape = tuple(input_shape) if input_shape is not None else getattr(model, "input_shape", None)
            if shape is None or len(shape) != 3:
                raise ResvizError(f"{label}: give the input shape (C, H, W); the model declares none")
            sources.append(_panel_source(model, str(label), shape, dataset or self._dataset, classes, mean, std))
        shapes = {tuple(s.input_shape) for s in sources}
        if len(shapes) > 1:
            raise ResvizError("attribution panel: the models take different input shapes "
                              + ", ".join("x".join(map(str, sh)) for sh in sorted(shapes)))
        self.cancel()
        if dataset:
            self._set_dataset_box(dataset)
        self._run_path, self._run_steps = None, []
        self._model_sources = sources
        self._resolved = {("model", i): src for i, src in enumerate(sources)}
        self._pool_key = ("model", 0)
        self._fill_layers(sources[0].model)
        self.source_box.blockSignals(True)
        self.source_box.clear()
        for i, src in enumerate(sources):
            self.source_box.addItem(src.label, f"model:{i}")
        if len(sources) > 1:
            self.source_box.addItem("all side by side", "models")
        self.source_box.blockSignals(False)
        self.source_box.setEnabled(len(sources) > 1)
        self.model_label.setText(html.escape(", ".join(src.label for src in sources)))
        self._clear_grid()
        self._load_pool()

    def set_run(self, path: str | os.PathLike, step: int | None = None) -> None:
        """Explain the model of a run file at checkpoint ``step`` (latest when None), on the data set
        and with the normalisation it was trained with; "across training" compares checkpoints."""
        from ..attribution.sources import open_run_reader

        path = Path(path)
        with open_run_reader(path) as reader:
            info = reader.info()
            steps = [c.step for c in reader.checkpoints()]
        if not steps:
            raise ResvizError(f"run file {path} has no checkpoint to explain")
        chosen = steps[-1] if step is None else int(step)
        if chosen not in steps:
            raise ResvizError(f"run file {path} has no checkpoint at step {chosen}; it has "
                              f"{', '.join(map(str, steps[-6:]))}")
        self.cancel()
        self._run_path, self._run_steps = path, steps
        self._model_sources = []
        self._resolved = {}
        self._pool_key = ("run", chosen)
        self.source_box.blockSignals(True)
        self.source_box.clear()
        for s in reversed(steps):
            self.source_box.addItem(f"checkpoint at step {s}", f"run:{s}")
        if len(steps) > 1:
            count = len(pick_steps(steps, CHECKPOINT_COLUMNS))
            self.source_box.addItem(f"across training ({count} checkpoints)", "checkpoints")
        self.source_box.setCurrentIndex(self.source_box.findData(f"run:{chosen}"))
        self.source_box.blockSignals(False)
        self.source_box.setEnabled(True)
        dataset = (info.config or {}).get("dataset")
        if dataset:
            self._set_dataset_box(dataset)
        name = info.model_spec.name if info.model_spec else info.name
        self.model_label.setText(html.escape(f"{name} ({path.name})"))
        self._clear_grid()
        self._load_pool()

    def _set_dataset_box(self, dataset: str) -> None:
        self._dataset = dataset
        self.dataset_box.blockSignals(True)
        if self.dataset_box.findText(dataset) < 0:
            self.dataset_box.addItem(dataset)
        self.dataset_box.setCurrentText(dataset)
        self.dataset_box.blockSignals(False)

    def _on_source_changed(self, index: int) -> None:
        if index >= 0:
            self._clear_grid()

    def source_choices(self) -> list[str]:
        """The entries of the "explain" list (models, checkpoints, side by side, across training)."""
        return [self.source_box.itemText(i) for i in range(self.source_box.count())]

    def choose_source(self, text_or_index: str | int) -> None:
        """Pick an entry of ``source_choices()`` by its text or index."""
        index = text_or_index if isinstance(text_or_index, int) else self.source_box.findText(text_or_index)
        if not 0 <= index < self.source_box.count():
            raise ResvizError(f"attribution panel: no choice {text_or_index!r}; choices are "
                              f"{', '.join(self.source_choices())}")
        self.source_box.setCurrentIndex(index)

    def checkpoint(self) -> int | None:
        """The run checkpoint chosen, or None (no run, or across training)."""
        key = _parse_key(self.source_box.currentData())
        return key[1] if key and key[0] == "run" else None

    def _source_keys(self) -> list[tuple]:
        """The keys of the model sources the next grid explains, one per column group."""
        key = _parse_key(self.source_box.currentData())
        if key is None:
            return []
        if key[0] == "models":
            return [("model", i) for i in range(len(self._model_sources))]
        if key[0] == "checkpoints":
            return [("run", s) for s in pick_steps(self._run_steps, CHECKPOINT_COLUMNS)]
        return [key]

    def _fill_layers(self, model) -> None:
        names = [name for name, _ in model.named_modules() if name]
        current = self.layer_box.currentText()
        self.layer_box.blockSignals(True)
        self.layer_box.clear()
        self.layer_box.addItem("")
        self.layer_box.addItems(names)
        completer = QCompleter(names, self.layer_box)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.layer_box.setCompleter(completer)
        self.layer_box.setEditText(current if current in names else "")
        self.layer_box.blockSignals(False)

    @Slot(str)
    def set_layer(self, qualified_name: str) -> None:
        """The Grad-CAM layer by module qualified name ("" for the default: the last spatial layer)."""
        self.layer_box.setEditText(qualified_name or "")

    def layer(self) -> str:
        return self.layer_box.currentText().strip()

    def set_dataset(self, name: str) -> None:
        """Take samples from another data set (its images are converted to the model's input)."""
        if name == self._dataset and self._pool is not None:
            return
        self._set_dataset_box(name)
        self._pool = None
        self.sample_list.clear()
        if self._model_sources or self._run_path is not None:
            self._load_pool()

    # samples --------------------------------------------------------------------------------

    def _load_pool(self) -> None:
        key, dataset, run_path = self._pool_key, self._dataset, self._run_path
        resolved = dict(self._resolved)

        def job(progress, cancel):
            from ..attribution.sources import dataset_samples

            progress(0, 0, "Loading samples…")
            sources = resolve_sources([key], resolved, run_path)
            source = sources[key]
            samples = dataset_samples(source, dataset if dataset != source.dataset else None, count=POOL_SIZE)
            return sources, SampleSet(samples, dataset)

        self._start(job, "samples", self._on_pool_loaded)

    @Slot(object)
    def _on_pool_loaded(self, result) -> None:
        self._finish_task()
        sources, pool = result
        self._resolved.update(sources)
        self._fill_layers(sources[self._pool_key].model)
        self._pool = pool
        self._fill_samples(select=DEFAULT_SELECTION)
        self._set_status(f"{len(pool.samples.names)} samples of {pool.dataset}; pick some and press Explain.")
        self.samples_ready.emit()
        if self._pending_run:
            self._pending_run = False
            self.run()

    def _fill_samples(self, select: int | None = None) -> None:
        selected = set(self.selected_samples())
        self.sample_list.clear()
        from ..attribution.inputs import to_display

        for index, (image, name) in enumerate(self._all_names_and_images()):
            rgb = to_display(image)
            item = QListWidgetItem(QIcon(QPixmap.fromImage(numpy_to_qimage(rgb))), self._short_name(index))
            item.setToolTip(name)
            self.sample_list.addItem(item)
            if (select is not None and index < select) or (select is None and index in selected):
                item.setSelected(True)

    def _all_samples(self):
        return _merge_samples([self._files, self._pool.samples if self._pool else None])

    def _all_names_and_images(self) -> list[tuple[np.ndarray, str]]:
        samples = self._all_samples()
        if samples is None:
            return []
        out = []
        for i, name in enumerate(samples.names):
            label = ""
            if samples.labels is not None and samples.classes and samples.labels[i] >= 0:
                label = f": {samples.classes[int(samples.labels[i])]}"
            out.append((samples.images[i], name + label))
        return out

    def _short_name(self, index: int) -> str:
        samples = self._all_samples()
        if samples is None:
            return ""
        files = len(self._files.names) if self._files is not None else 0
        if index < files:
            return Path(samples.names[index]).stem[:10]
        if samples.labels is not None and samples.classes and samples.labels[index] >= 0:
            return samples.classes[int(samples.labels[index])]
        return f"#{index}"

    def sample_names(self) -> list[str]:
        samples = self._all_samples()
        return list(samples.names) if samples is not None else []

    def selected_samples(self) -> list[int]:
        """Indices (into ``sample_names()``) of the samples that will be explained, in list order."""
        return sorted(self.sample_list.row(item) for item in self.sample_list.selectedItems())

    def select_samples(self, indices: Sequence[int]) -> None:
        wanted = set(int(i) for i in indices)
        for row in range(self.sample_list.count()):
            self.sample_list.item(row).setSelected(row in wanted)

    def add_image_files(self, paths: Sequence[str | os.PathLike]) -> None:
        """Add image files to the samples (first in the list, selected); converted to the model's input."""
        from ..attribution.sources import file_samples

        source = self._resolved.get(self._pool_key)
        if source is None:
            raise ResvizError("attribution panel: choose a model before adding images")
        added = file_samples(source, [str(p) for p in paths])
        previous = self.selected_samples()
        files_before = len(self._files.names) if self._files is not None else 0
        self._files = _merge_samples([self._files, added])
        self._fill_samples()
        shift = len(added.names)
        self.select_samples([i + shift if i >= files_before else i for i in previous]
                            + list(range(files_before, files_before + shift)))
        if added.notes:
            self._set_status("; ".join(added.notes))

    def _on_add_file(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Explain image files", "",
                                                "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp)")
        if paths:
            try:
                self.add_image_files(paths)
            except ResvizError as error:
                self._set_status(str(error), error=True)

    # methods and settings -------------------------------------------------------------------

    def methods(self) -> list[str]:
        return [name for name, check in self.method_checks.items() if check.isChecked()]

    def set_methods(self, names: Sequence[str]) -> None:
        from ..attribution import get_method

        wanted = {get_method(name).name for name in names}
        for name, check in self.method_checks.items():
            check.setChecked(name in wanted)

    def set_display(self, *, sign: str | None = ..., clip_percentile: float | None = None, cmap: str | None = ...,
                    overlay: bool | None = None, alpha: float | None = None) -> None:
        """Change how maps are drawn (re-renders the kept maps; nothing is recomputed).

        ``sign``: None for each method's default, or positive / negative / absolute / all;
        ``cmap``: None for the sign's default, or a colour map name.
        """
        if sign is not ...:
            index = self.sign_box.findData(sign)
            if index < 0:
                raise ResvizError(f"sign {sign!r} is not one of positive, negative, absolute, all")
            self.sign_box.setCurrentIndex(index)
        if cmap is not ...:
            index = self.cmap_box.findData(cmap)
            if index < 0:
                raise ResvizError(f"unknown colour map {cmap!r}")
            self.cmap_box.setCurrentIndex(index)
        if clip_percentile is not None:
            self.percentile_box.setValue(float(clip_percentile))
        if overlay is not None:
            self.overlay_check.setChecked(bool(overlay))
        if alpha is not None:
            self.alpha_slider.setValue(int(round(float(alpha) * 100)))

    def draw_settings(self) -> DrawSettings:
        return DrawSettings(sign=self.sign_box.currentData(), clip_percentile=float(self.percentile_box.value()),
                            cmap=self.cmap_box.currentData(), overlay=self.overlay_check.isChecked(),
                            alpha=self.alpha_slider.value() / 100.0)

    def _on_settings_changed(self, *args) -> None:
        self.alpha_slider.setEnabled(self.overlay_check.isChecked())
        self.grid_view.set_settings(self.draw_settings())

    def _method_options(self) -> dict[str, dict[str, Any]]:
        return {"integrated_gradients": {"n_steps": int(self.ig_steps.value())},
                "smoothgrad": {"nt_samples": int(self.nt_samples.value())}}

    # computing ------------------------------------------------------------------------------

    def run(self) -> bool:
        """Compute the grid in a worker (progress and Cancel beside the buttons); False if it cannot start."""
        methods = self.methods()
        if self._task is not None and self._task_kind == "samples":
            self._pending_run = True  # run as soon as the samples are there
            return True
        if self._task is not None:
            return False
        if not methods:
            self._set_status("Choose at least one method.", error=True)
            return False
        if not self._model_sources and self._run_path is None:
            self._set_status("No model: open one in the window first.", error=True)
            return False
        samples = self._all_samples()
        rows = self.selected_samples()
        if samples is None or not rows:
            self._set_status("Pick at least one sample.", error=True)
            return False
        chosen = _subset(samples, rows)
        target = self.target_box.currentData()
        if target == "label":
            if chosen.labels is None:
                self._set_status("The true label is unknown for image files; explain the predicted class.", error=True)
                return False
            target = [int(v) for v in chosen.labels]
        layer, options = self.layer(), self._method_options()
        keys, resolved, run_path = self._source_keys(), dict(self._resolved), self._run_path

        def job(progress, cancel):
            sources = resolve_sources(keys, resolved, run_path, progress, cancel)
            with MODEL_LOCK:
                grid = compute_grid([sources[k] for k in keys], chosen, methods, target=target, layer=layer,
                                    method_options=options, cancel=cancel,
                                    progress=lambda f: progress(int(round(f * 1000)), 1000, ""))
            return sources, grid

        self._start(job, "explain", self._on_grid_ready)
        self.run_started.emit()
        return True

    def _start(self, function, kind: str, on_done: Callable[[Any], None]) -> None:
        self.cancel()
        task = TaskThread(function, f"attribution-{kind}", owner=self)
        task.progressed.connect(self._on_progress)
        task.succeeded.connect(on_done)
        task.failed.connect(self._on_failed)
        task.cancelled.connect(self._on_cancelled)
        self._task, self._task_kind = task, kind
        self._error = None
        self.progress.setRange(0, 0 if kind == "samples" else 1000)
        self.progress.setValue(0)
        self._set_status("Loading samples…" if kind == "samples" else "Computing…")
        self._update_enabled()
        self.busy_changed.emit(True)
        task.start_task()

    def is_busy(self) -> bool:
        return self._task is not None

    def cancel(self) -> None:
        """Stop the computation before its next forward pass; the grid shown so far stays."""
        task, kind, self._task = self._task, self._task_kind, None
        self._pending_run = False
        if task is None:
            return
        task.cancel()
        for signal in (task.progressed, task.succeeded, task.failed, task.cancelled):
            signal.disconnect()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self._set_status("Cancelled.")
        self._update_enabled()
        self.busy_changed.emit(False)
        if kind == "explain":
            self.run_cancelled.emit()

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Cancel any work and wait for its threads to end (the window calls it before closing)."""
        self.cancel()
        stop_all_tasks(timeout_ms, owner=self)

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)

    @Slot(int, int, str)
    def _on_progress(self, done: int, total: int, text: str) -> None:
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
        if text:
            self._set_status(text)

    def _finish_task(self) -> str:
        kind, self._task = self._task_kind, None
        self.progress.setRange(0, 1000)
        self._update_enabled()
        self.busy_changed.emit(False)
        return kind

    @Slot(object)
    def _on_grid_ready(self, result) -> None:
        self._finish_task()
        sources, grid = result
        self._resolved.update(sources)
        self.grid_result = grid
        self._update_enabled()
        self.progress.setValue(1000)
        self.grid_view.set_settings(self.draw_settings())
        self.grid_view.set_grid(grid)
        failed = [c for c in grid.columns if c.error]
        timing = ", ".join(f"{c.label} {c.seconds:.2f} s" for c in grid.columns if c.error is None)
        text = timing
        if failed:
            text += ("; " if text else "") + "; ".join(f"{c.label}: {c.error}" for c in failed)
        if grid.notes:
            text += " — " + "; ".join(grid.notes[:3])
        self._set_status(text, error=bool(failed))
        self.run_finished.emit()

    @Slot(str, str)
    def _on_failed(self, message: str, details: str) -> None:
        kind = self._finish_task()
        self._pending_run = False
        self._error = message
        self._set_status(message, error=True)
        if kind == "explain" or kind == "samples":
            self.run_failed.emit(message)

    @Slot()
    def _on_cancelled(self) -> None:
        kind = self._finish_task()
        self._set_status("Cancelled.")
        if kind == "explain":
            self.run_cancelled.emit()

    @property
    def error(self) -> str | None:
        return self._error

    def _set_status(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {ERROR if error else MUTED};")

    def _update_enabled(self) -> None:
        busy = self._task is not None
        self.cancel_button.setEnabled(busy)
        self.run_button.setEnabled(not busy and bool(self.methods()))
        self.export_button.setEnabled(self.grid_result is not None)

    def _clear_grid(self) -> None:
        self.grid_result = None
        self.grid_view.set_grid(None)
        self._update_enabled()

    # export ---------------------------------------------------------------------------------

    def export_png(self, path: str | os.PathLike, cell: int = 160) -> Path:
        """Save the grid as shown (titles, labels, legend) with ``cell``-pixel images."""
        path = Path(path)
        if path.suffix.lower() != ".png":
            raise ResvizError(f"{path}: the attribution grid exports as .png")
        image = self.grid_view.to_image(cell)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ResvizError(f"{path}: cannot create its folder ({error.strerror or error})") from error
        with atomic_path(path) as temporary:  # whole or not at all
            if not image.save(str(temporary), "PNG"):
                raise ResvizError(f"{path}: could not write the PNG file")
        return path

    def _on_export_clicked(self) -> None:
        if self.grid_result is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export the attribution grid", "attribution.png",
                                              "PNG image (*.png)")
        if path:
            try:
                self.export_png(path if path.lower().endswith(".png") else path + ".png")
                self._set_status(f"Saved {path}")
            except ResvizError as error:
                self._set_status(str(error), error=True)


def _parse_key(data: Any) -> tuple | None:
    """"model:1" -> ("model", 1); "run:30" -> ("run", 30); "models" -> ("models", None)."""
    if not data:
        return None
    kind, _, value = str(data).partition(":")
    return (kind, int(value)) if value else (kind, None)


def resolve_sources(keys: Sequence[tuple], resolved: Mapping[tuple, Any], run_path: Path | None,
                    progress=None, cancel: threading.Event | None = None) -> dict[tuple, Any]:
    """ModelSources for keys ("model", i) (given) or ("run", step) (a checkpoint of ``run_path``,
    built and loaded here, in the worker)."""
    from ..attribution.sources import source_from_run

    out = {}
    for key in keys:
        if key in resolved:
            out[key] = resolved[key]
            continue
        if cancel is not None and cancel.is_set():
            raise TaskCancelled()
        if key[0] != "run" or run_path is None:
            raise ResvizError(f"attribution panel: no model for {key}")
        if progress is not None:
            progress(0, 0, f"Loading the checkpoint at step {key[1]}…")
        out[key] = source_from_run(run_path, key[1])
    return out


def _subset(samples, rows: Sequence[int]):
    from ..attribution.sources import Samples

    rows = list(rows)
    labels = None if samples.labels is None else samples.labels[rows]
    if labels is not None and (labels < 0).any():
        labels = None  # an image file among them: no true class to show or explain
    return Samples(samples.images[rows], [samples.names[i] for i in rows], labels,
                   None if samples.masks is None else samples.masks[rows], list(samples.classes), list(samples.notes))
