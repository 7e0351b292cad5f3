"""The interactive architecture view: a model's block graph with its skip connections.

``ArchitectureView.set_model`` traces the model in a worker thread (progress and Cancel over
the view; the GUI thread never traces), collapses it to the model's default level of detail
(large models open collapsed), lays it out and draws the graph package's Scene with
:class:`GraphScene` — the same primitives the SVG/PNG export writes. Expanding or collapsing a
block re-groups the already-traced graph: at once for a small graph, in a worker for a large
one (ResNet-1202 at full detail takes a second or more), where rapid requests coalesce and only
the latest is drawn. Gradient colours, skip colours and the selection change items in place, so
replaying a run at 30 Hz never rebuilds the scene.
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QColor, QFont, QKeySequence, QLinearGradient, QPainter, QPen, QShortcut
from PySide6.QtWidgets import (QApplication, QCheckBox, QComboBox, QFileDialog, QFrame, QGraphicsView, QHBoxLayout,
                               QLabel, QLineEdit, QMenu, QProgressBar, QPushButton, QSplitter, QTextBrowser,
                               QToolButton, QToolTip, QVBoxLayout, QWidget)

from ..errors import ResvizError
from ..files import atomic_path, atomic_write
from ..graph import LEVELS, block_graph, default_level, layout_graph, trace_graph
from ..graph.draw import build_scene, png_scale, scene_to_svg
from ..graph.types import MAIN_EDGE_COLOUR, SKIP_COLOURS, SKIP_KINDS, Layout, Scene, SceneText
from .graph_scene import (NONFINITE_FILL, GraphScene, colour_bar_primitives, format_power, gradient_colour,
                          gradient_lut, log_levels, log_ticks, render_scene_image, text_colour_on)
from .workers_tasks import MODEL_LOCK, TaskCancelled, TaskThread, stop_all_tasks

SKIP_LABELS = {
    "identity": "identity",
    "projection": "projection (1×1 conv)",
    "zero_pad": "zero-pad (option A)",
    "pooling": "pooling",
    "concat": "concatenation",
    "long": "long skip",
}
ZOOM_MIN, ZOOM_MAX = 0.01, 8.0
SKIP_GRADIENT_WIDTH = 4.0
READABLE_ZOOM = 0.55  # below this the labels are too small to read: open at the top, fitted to width
# Graphs with more ops than this re-group and re-lay out in a worker; smaller ones take
# milliseconds and redraw at once, so clicking through a small model stays immediate.
BACKGROUND_REGROUP_OPS = 300


@dataclass
class TracedModel:
    """What the worker hands back: the traced graph, its first drawing, and facts the view shows."""

    opgraph: Any  # resviz.graph.OpGraph
    title: str
    level: str
    block_graph: Any  # resviz.graph.BlockGraph
    layout: Layout
    scene: Scene
    seconds: dict[str, float] = field(default_factory=dict)  # time per stage

    @property
    def modules(self) -> dict[str, str]:
        """Qualified name -> class name of every module, in the model's order."""
        return self.opgraph.module_types


def format_count(value: Any) -> str:
    if value is None:
        return "–"
    value = float(value)
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.3g} {unit}"
    return f"{value:g}"


def format_shape(shape: Any) -> str:
    """(1, 16, 32, 32) -> "16×32×32" (the batch left out); nested outputs joined with " | "."""
    if shape is None:
        return "–"
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        return " | ".join(format_shape(s) for s in shape)
    if isinstance(shape, (list, tuple)):
        dims = shape[1:] if len(shape) > 1 else shape
        return "×".join(str(d) for d in dims)
    return str(shape)


def _edge_scene_id(source: str, target: str, kind: str) -> str:
    """The id ``build_scene`` gives an edge's path (a self-loop also names its kind)."""
    return f"{source}->{target}" + (f":{kind}" if source == target else "")


def _parent(name: str) -> str:
    return name.rpartition(".")[0]


def _svg_number(value: float) -> str:
    """A number as ``scene_to_svg`` writes it."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


class _Overlay(QFrame):
    """A small panel drawn over the graph (legend, colour bar), fixed to the viewport."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setStyleSheet("QFrame { background: rgba(255,255,255,230); border: 1px solid #CBD2D9;"
                           " border-radius: 6px; }")


class SkipLegend(_Overlay):
    """The skip kinds of the model with their counts, in the colours the graph draws them."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.counts: dict[str, int] = {}
        self.gradient = False

    def set_counts(self, counts: dict[str, int], gradient: bool = False) -> None:
        self.counts = {k: int(counts[k]) for k in SKIP_KINDS if counts.get(k)}
        self.gradient = gradient
        self.resize(self.sizeHint())
        self.update()

    def rows(self) -> list[tuple[str | None, str]]:
        rows: list[tuple[str | None, str]] = [(SKIP_COLOURS[k], f"{SKIP_LABELS.get(k, k)}  ×{n}")
                                              for k, n in self.counts.items()]
        if not rows:
            rows.append((None, "none: a plain network"))
        rows.append((MAIN_EDGE_COLOUR, "main path"))
        return rows

    def sizeHint(self) -> QSize:
        metrics = self.fontMetrics()
        texts = [text for _, text in self.rows()] + ["skip connections"]
        if self.gradient:
            texts.append("skips coloured by gradient")
        width = max(metrics.horizontalAdvance(t) for t in texts) + 64
        lines = len(self.rows()) + 1 + (1 if self.gradient else 0)
        return QSize(width, lines * (metrics.height() + 5) + 12)

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        metrics = self.fontMetrics()
        line = metrics.height() + 5
        baseline = metrics.ascent() / 2 - 1
        y = 6 + line / 2
        bold = QFont(self.font())
        bold.setBold(True)
        painter.setFont(bold)
        painter.setPen(QColor("#1F2933"))
        painter.drawText(QPointF(10, y + baseline), "skip connections")
        painter.setFont(self.font())
        for colour, text in self.rows():
            y += line
            if colour is not None:
                painter.setPen(QPen(QColor(colour), 3.0 if colour != MAIN_EDGE_COLOUR else 1.6))
                painter.drawLine(QPointF(12, y), QPointF(42, y))
                painter.setPen(QColor("#1F2933"))
                painter.drawText(QPointF(52, y + baseline), text)
            else:
                painter.setPen(QColor("#7B8794"))
                painter.drawText(QPointF(12, y + baseline), text)
        if self.gradient:
            y += line
            painter.setPen(QColor("#52606D"))
            painter.drawText(QPointF(10, y + baseline), "skips coloured by gradient")
        painter.end()


class ColourBar(_Overlay):
    """A vertical log10 colour bar for the gradient colours (high at the top)."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.levels: tuple[float, float] | None = None
        self._lut = gradient_lut(64)
        self.setMinimumSize(110, 180)

    def set_levels(self, levels: tuple[float, float] | None) -> None:
        self.levels = levels
        self.setVisible(levels is not None)
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(118, 220)

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if self.levels is None:
            return
        painter = QPainter(self)
        metrics = self.fontMetrics()
        top, bottom = 10 + metrics.height() * 2, self.height() - 12 - metrics.height()
        bar = QRectF(10, top, 16, max(10, bottom - top))
        gradient = QLinearGradient(bar.bottomLeft(), bar.topLeft())
        for i, (r, g, b) in enumerate(self._lut):
            gradient.setColorAt(i / (len(self._lut) - 1), QColor(int(r), int(g), int(b)))
        painter.fillRect(bar, gradient)
        painter.setPen(QColor("#52606D"))
        painter.drawRect(bar)
        bold = QFont(self.font())
        bold.setBold(True)
        painter.setFont(bold)
        painter.setPen(QColor("#1F2933"))
        painter.drawText(QPointF(8, 6 + metrics.ascent()), "gradient norm")
        painter.setFont(self.font())
        painter.drawText(QPointF(8, 6 + metrics.ascent() + metrics.height()), "(log scale)")
        for exponent, fraction in log_ticks(self.levels):
            y = bar.bottom() - fraction * bar.height()
            painter.drawLine(QPointF(bar.right(), y), QPointF(bar.right() + 4, y))
            painter.drawText(QPointF(bar.right() + 7, y + metrics.ascent() / 2 - 1), format_power(exponent))
        painter.setPen(QColor(NONFINITE_FILL))
        painter.fillRect(QRectF(10, self.height() - 8 - metrics.height() * 0.8, 16, metrics.height() * 0.7),
                         QColor(NONFINITE_FILL))
        painter.setPen(QColor("#1F2933"))
        painter.drawText(QPointF(33, self.height() - 8), "NaN / Inf")
        painter.end()


class BusyPanel(QFrame):
    """Progress and Cancel while the model is traced."""

    cancel_requested = Signal()

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setStyleSheet("QFrame#busy { background: rgba(255,255,255,240); border: 1px solid #9AA5B1;"
                           " border-radius: 8px; }")
        self.setObjectName("busy")
        layout = QVBoxLayout(self)
        self.label = QLabel("Tracing…")
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)
        self.bar.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_requested)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button, 0, Qt.AlignmentFlag.AlignRight)
        self.setFixedWidth(320)
        self.adjustSize()


class GraphCanvas(QGraphicsView):
    """The drawing surface: drag to pan, wheel to zoom, hover for a tooltip, click to select."""

    node_clicked = Signal(str)
    node_double_clicked = Signal(str)
    node_context_menu = Signal(str, QPoint)
    zoom_changed = Signal(float)

    def __init__(self, graph_scene: GraphScene, parent: QWidget | None = None) -> None:
        super().__init__(graph_scene, parent)
        self.graph_scene = graph_scene
        self.tooltip_for = lambda node_id: ""
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setOptimizationFlags(QGraphicsView.OptimizationFlag.DontSavePainterState
                                  | QGraphicsView.OptimizationFlag.DontAdjustForAntialiasing)
        self.setCacheMode(QGraphicsView.CacheModeFlag.CacheBackground)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setDragMode(QGraphicsView.DragMode.NoDrag)
        self.setMouseTracking(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self._press: QPoint | None = None
        self._panning = False

    # zoom -----------------------------------------------------------------------------------

    def zoom(self) -> float:
        return self.transform().m11()

    def set_zoom(self, scale: float) -> None:
        scale = min(ZOOM_MAX, max(ZOOM_MIN, scale))
        factor = scale / self.zoom()
        if abs(factor - 1.0) > 1e-9:
            self.scale(factor, factor)
        self.graph_scene.set_detail(self.zoom())
        self.zoom_changed.emit(self.zoom())

    def zoom_by(self, factor: float) -> None:
        self.set_zoom(self.zoom() * factor)

    def fit_rect(self, rect: QRectF, max_zoom: float = 1.5) -> None:
        if rect.isEmpty():
            return
        margin = 12
        view = self.viewport().rect().adjusted(margin, margin, -margin, -margin)
        scale = min(view.width() / rect.width(), view.height() / rect.height(), max_zoom)
        self.set_zoom(scale)
        self.centerOn(rect.center())

    def wheelEvent(self, event) -> None:
        delta = event.angleDelta().y() or event.angleDelta().x()
        if delta:
            self.zoom_by(1.0015 ** delta)
        event.accept()

    # mouse ----------------------------------------------------------------------------------

    def _node_at(self, pos: QPoint) -> str | None:
        for item in self.items(pos):
            node_id = self.graph_scene.node_at(item)
            if node_id is not None and self.graph_scene.node_rect(node_id) is not None:
                return node_id
        return None

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._press = event.position().toPoint()
            self._panning = False
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        pos = event.position().toPoint()
        if self._press is not None:  # the left button is down (tracked: synthetic moves carry no buttons)
            if not self._panning and (pos - self._press).manhattanLength() > 4:
                self._panning = True
                self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            if self._panning:
                delta = pos - self._press
                self._press = pos
                self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - delta.x())
                self.verticalScrollBar().setValue(self.verticalScrollBar().value() - delta.y())
            event.accept()
            return
        node_id = self._node_at(pos)
        self.graph_scene.set_hovered(node_id)
        self.viewport().setCursor(Qt.CursorShape.PointingHandCursor if node_id else Qt.CursorShape.OpenHandCursor)
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self._press is not None:
            was_panning, self._press, self._panning = self._panning, None, False
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            if not was_panning:
                node_id = self._node_at(event.position().toPoint())
                if node_id is not None:
                    self.node_clicked.emit(node_id)
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event) -> None:
        node_id = self._node_at(event.position().toPoint())
        if node_id is not None and event.button() == Qt.MouseButton.LeftButton:
            self.node_double_clicked.emit(node_id)
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def contextMenuEvent(self, event) -> None:
        node_id = self._node_at(event.pos())
        self.node_context_menu.emit(node_id or "", event.globalPos())
        event.accept()

    def leaveEvent(self, event) -> None:
        self.graph_scene.set_hovered(None)
        super().leaveEvent(event)

    def viewportEvent(self, event) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            node_id = self._node_at(event.pos())
            text = self.tooltip_for(node_id) if node_id is not None else ""
            if text:
                QToolTip.showText(event.globalPos(), text, self.viewport())
            else:
                QToolTip.hideText()
                event.ignore()
            return True
        return super().viewportEvent(event)



class ArchitectureView(QWidget):
    """A model's block graph: skips by kind, levels of detail, search, gradient colours, export.

    Signals: ``module_selected(str)`` when the user clicks a node (a module qualified name, or
    an op's id such as ``layer1.0.add``); ``graph_ready()`` once a model is traced and drawn;
    ``trace_failed(str)`` with a one-line message; ``level_changed(str)``; ``graph_changed()``
    after every redraw; ``node_expanded(str)`` / ``node_collapsed(str)``; ``busy_changed(bool)``.
    """

    module_selected = Signal(str)
    graph_ready = Signal()
    trace_failed = Signal(str)
    level_changed = Signal(str)
    graph_changed = Signal()
    busy_changed = Signal(bool)
    node_expanded = Signal(str)
    node_collapsed = Signal(str)

    def __init__(self, parent: QWidget | None = None, *, show_details: bool = True) -> None:
        super().__init__(parent)
        self.graph_scene = GraphScene(self)
        self.canvas = GraphCanvas(self.graph_scene)
        self.canvas.tooltip_for = self._tooltip
        self.traced: TracedModel | None = None
        self.title = ""
        self._level = "blocks"
        self._fold = False
        self._expanded: list[str] = []
        self._collapsed: list[str] = []
        self._layout: Layout | None = None
        self._block_graph: Any = None
        self._scene: Scene | None = None
        self._box_of_module: dict[str, str] = {}  # module name -> the drawn node that shows it
        self._owner_cache: dict[str, str | None] = {}
        self._selected: str | None = None
        self._layer_norms: dict[str, float] | None = None
        self._block_norms: dict[str, float] | None = None
        self._levels: tuple[float, float] | None = None
        self._fixed_levels: tuple[float, float] | None = None
        self._node_colours: dict[str, str] = {}
        self._edge_colours: dict[tuple[str, str], str] = {}
        self._task: TaskThread | None = None
        self._regroup_task: TaskThread | None = None
        self._drawn_state: tuple | None = None  # the (level, expanded, collapsed, fold) drawn now
        self._regroup_anchor: tuple[QPointF | None, str | None] = (None, None)
        self._fit_after_regroup = False
        self._after_draw: list[Callable[[], None]] = []
        self._busy_shown = False
        self._modules_with_ops: tuple[int, set[str]] | None = None
        self._error: str | None = None
        self.last_timings: dict[str, float] = {}
        self._build_ui(show_details)
        self.canvas.node_clicked.connect(self._on_node_clicked)
        self.canvas.node_double_clicked.connect(self._on_node_double_clicked)
        self.canvas.node_context_menu.connect(self._on_context_menu)
        self._show_message("No model loaded")

    # construction ---------------------------------------------------------------------------

    def _build_ui(self, show_details: bool) -> None:
        self.title_label = QLabel("")
        font = self.title_label.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.title_label.setFont(font)
        self.level_box = QComboBox()
        self.level_box.addItems(list(LEVELS))
        self.level_box.setCurrentText(self._level)
        self.level_box.setToolTip("Level of detail: collapse or expand every block of a level")
        self.level_box.currentTextChanged.connect(self._on_level_box)
        self.fold_check = QCheckBox("Fold repeats")
        self.fold_check.setToolTip("Draw runs of identical blocks as one box (\"BasicBlock ×9\")")
        self.fold_check.toggled.connect(self.set_fold_repeats)
        self.search_box = QLineEdit()
        self.search_box.setPlaceholderText("Find module…")
        self.search_box.setClearButtonEnabled(True)
        self.search_box.setMaximumWidth(200)
        self.search_box.returnPressed.connect(lambda: self.search(self.search_box.text()))
        self.search_status = QLabel("")
        self.search_status.setStyleSheet("color: #7B8794;")
        buttons = []
        for text, tip, slot in (("−", "Zoom out (−)", lambda: self.canvas.zoom_by(0.8)),
                                ("+", "Zoom in (+)", lambda: self.canvas.zoom_by(1.25)),
                                ("Fit", "Fit the whole graph in the view (F)", self.fit),
                                ("Export…", "Save the graph as PNG or SVG", self._on_export_clicked)):
            button = QToolButton()
            button.setText(text)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            buttons.append(button)
        self.details_button = QToolButton()
        self.details_button.setText("Details")
        self.details_button.setToolTip("Show or hide the details of the selected module")
        self.details_button.setCheckable(True)
        self.details_button.setChecked(show_details)

        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 2)
        bar.addWidget(self.title_label)
        bar.addStretch(1)
        bar.addWidget(QLabel("Level"))
        bar.addWidget(self.level_box)
        bar.addWidget(self.fold_check)
        bar.addWidget(self.search_box)
        bar.addWidget(self.search_status)
        for button in buttons + [self.details_button]:
            bar.addWidget(button)

        self.details = QTextBrowser()
        self.details.setOpenLinks(False)
        self.details.anchorClicked.connect(lambda url: self.select(url.toString(), reveal=True, centre=True, emit=True))
        self.details.setMinimumWidth(200)
        self.details.setVisible(show_details)
        self.details_button.toggled.connect(self.details.setVisible)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.canvas)
        self.splitter.addWidget(self.details)
        self.splitter.setStretchFactor(0, 4)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([900, 260])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(bar)
        layout.addWidget(self.splitter, 1)

        self.legend = SkipLegend(self.canvas)
        self.legend.hide()
        self.colour_bar = ColourBar(self.canvas)
        self.colour_bar.hide()
        self.busy = BusyPanel(self.canvas)
        self.busy.cancel_requested.connect(self.cancel)
        self.busy.hide()
        self.message = QLabel(self.canvas)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #52606D; font-size: 14px; background: transparent;")
        self.message.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.canvas.installEventFilter(self)
        self.details.setHtml(self._details_html(None))

        for keys, slot in (("F", self.fit), ("+", lambda: self.canvas.zoom_by(1.25)),
                           ("=", lambda: self.canvas.zoom_by(1.25)), ("-", lambda: self.canvas.zoom_by(0.8)),
                           ("Ctrl+F", self.search_box.setFocus)):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)

    def eventFilter(self, watched, event) -> bool:
        if watched is self.canvas and event.type() == QEvent.Type.Resize:
            self._place_overlays()
        return super().eventFilter(watched, event)

    def _place_overlays(self) -> None:
        area = self.canvas.viewport().geometry()
        self.legend.resize(self.legend.sizeHint())
        self.legend.move(area.right() - self.legend.width() - 10, area.top() + 10)
        self.colour_bar.resize(self.colour_bar.sizeHint())
        below = self.legend.geometry().bottom() + 10 if self.legend.isVisible() else area.top() + 10
        self.colour_bar.move(area.right() - self.colour_bar.width() - 10, below)
        self.busy.adjustSize()
        self.busy.move(area.center().x() - self.busy.width() // 2, area.center().y() - self.busy.height() // 2)
        self.message.setGeometry(area.adjusted(40, 40, -40, -40))

    def _show_message(self, text: str | None) -> None:
        self.message.setText(text or "")
        self.message.setVisible(bool(text))
        self._place_overlays()

    # model ----------------------------------------------------------------------------------

    def set_model(self, model, example_input, title: str = "") -> None:
        """Trace ``model`` on ``example_input`` in a worker thread, then draw it at its default level.

        Progress and Cancel show over the view; ``graph_ready`` fires once it is drawn and
        ``trace_failed(message)`` if tracing fails. A newer call cancels an older one.
        """
        self.cancel()
        self.title = title
        self.title_label.setText(title)
        self._error = None
        self._show_message(None)
        task = TaskThread(lambda progress, cancel: trace_job(model, example_input, title, progress, cancel), "trace",
                          owner=self)
        task.progressed.connect(self._on_progress)
        task.succeeded.connect(self._on_traced)
        task.failed.connect(self._on_trace_failed)
        task.cancelled.connect(self._on_trace_cancelled)
        self._task = task
        self.busy.label.setText(f"Tracing {title or type(model).__name__}…")
        self.busy.bar.setRange(0, 0)
        self._update_busy()
        task.start_task()

    def set_graph(self, opgraph, title: str = "") -> None:
        """Draw an already traced graph (``resviz.graph.trace_graph``'s OpGraph) without a worker:
        grouping and layout take milliseconds. Emits ``graph_ready`` like ``set_model``."""
        self.cancel()
        self.title = title
        self.title_label.setText(title)
        self._error = None
        self._show_message(None)
        self._on_traced(prepare_graph(opgraph, title))

    def is_busy(self) -> bool:
        """Whether a trace or a background re-layout is running."""
        return self._task is not None or self._regroup_task is not None

    def cancel(self) -> None:
        """Stop tracing or re-laying out (the result is dropped; the graph shown before stays)."""
        self._cancel_regroup()
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        for signal in (task.progressed, task.succeeded, task.failed, task.cancelled):
            signal.disconnect()
        self._show_message("Tracing cancelled" if self.traced is None else None)
        self._update_busy()

    def _update_busy(self) -> None:
        """Show the busy panel while any worker runs; ``busy_changed`` on each change."""
        busy = self.is_busy()
        if busy:
            self.busy.show()
            self.busy.raise_()
            self._place_overlays()
        else:
            self.busy.hide()
        if busy != self._busy_shown:
            self._busy_shown = busy
            self.busy_changed.emit(busy)

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Cancel any trace and wait for its threads to end (the window calls it before closing)."""
        self.cancel()
        stop_all_tasks(timeout_ms, owner=self)

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)

    @Slot(int, int, str)
    def _on_progress(self, done: int, total: int, text: str) -> None:
        self.busy.bar.setRange(0, total)
        self.busy.bar.setValue(done)
        if text:
            self.busy.label.setText(text)

    def _end_task(self) -> None:
        if self._task is None:
            return
        self._task = None
        self._update_busy()

    @Slot(object)
    def _on_traced(self, traced: TracedModel) -> None:
        self._end_task()
        self._cancel_regroup(revert=False)
        started = time.perf_counter()
        self.traced = traced
        self._level = traced.level
        self._expanded, self._collapsed = [], []
        self._selected = None
        self._set_level_box(traced.level)
        self._show(traced.block_graph, traced.layout, traced.scene)
        self._initial_view()
        self.details.setHtml(self._details_html(None))
        self.last_timings = dict(traced.seconds, draw=time.perf_counter() - started)
        self.graph_ready.emit()

    @Slot(str, str)
    def _on_trace_failed(self, message: str, details: str) -> None:
        self._end_task()
        self._error = message
        self._show_message(f"Could not trace {self.title or 'the model'}:\n{message}")
        self.trace_failed.emit(message)

    @Slot()
    def _on_trace_cancelled(self) -> None:
        self._end_task()

    @property
    def error(self) -> str | None:
        """The last tracing error, or None."""
        return self._error

    # levels, expand, collapse ---------------------------------------------------------------

    def level(self) -> str:
        return self._level

    def set_level(self, level: str) -> None:
        """Draw every block at ``level`` (one of ``resviz.graph.LEVELS``); clears single expansions."""
        if level not in LEVELS:
            raise ResvizError(f"level {level!r} is not one of {', '.join(LEVELS)}")
        changed = level != self._level
        self._level = level
        self._expanded, self._collapsed = [], []
        self._set_level_box(level)
        if self.traced is not None:
            self._regroup(keep=self._selected, fit=True)
        if changed:
            self.level_changed.emit(level)

    def set_fold_repeats(self, fold: bool) -> None:
        """Fold runs of identical collapsed blocks into one box ("BasicBlock ×9")."""
        fold = bool(fold)
        if self.fold_check.isChecked() != fold:
            self.fold_check.setChecked(fold)  # re-enters through the toggled signal
            return
        if fold == self._fold:
            return
        self._fold = fold
        if self.traced is not None:
            self._regroup(keep=self._selected, fit=True)

    def _set_level_box(self, level: str) -> None:
        self.level_box.blockSignals(True)
        self.level_box.setCurrentText(level)
        self.level_box.blockSignals(False)

    def _on_level_box(self, level: str) -> None:
        if level != self._level:
            self.set_level(level)

    def is_expandable(self, node_id: str) -> bool:
        """Whether a drawn node is a collapsed module with children to show."""
        node = self._layout.nodes.get(node_id) if self._layout else None
        return bool(node is not None and node.collapsed and node.info.get("children"))

    def expand(self, node_id: str) -> bool:
        """Show the children of a collapsed node; False (nothing changes) if it has none."""
        if self.traced is None or not self.is_expandable(node_id):
            return False
        self._collapsed = [c for c in self._collapsed if c != node_id]
        if node_id not in self._expanded:
            self._expanded.append(node_id)
        self._regroup(keep=node_id)
        self.node_expanded.emit(node_id)
        return True

    def collapse(self, node_id: str) -> bool:
        """Draw a module as one box (its skips stay drawn as bypass arcs); False if it is not one."""
        if self.traced is None or not node_id or not self.traced.opgraph.module_children.get(node_id):
            return False
        if node_id in (self._layout.nodes if self._layout else {}) and self._layout.nodes[node_id].collapsed:
            return False
        self._expanded = [e for e in self._expanded if e != node_id and not e.startswith(node_id + ".")]
        if node_id not in self._collapsed:
            self._collapsed.append(node_id)
        self._regroup(keep=node_id)
        self.node_collapsed.emit(node_id)
        return True

    def _state(self) -> tuple:
        """What a re-grouping depends on: (level, expanded, collapsed, fold)."""
        return (self._level, tuple(self._expanded), tuple(self._collapsed), self._fold)

    def _regroup(self, keep: str | None = None, fit: bool = False) -> None:
        """Re-group the traced graph with the level, expansions and collapses; redraw in place.

        A large graph is re-grouped in a worker (busy panel shown, this returns at once); a
        request made while one runs is coalesced: only the state asked for last is drawn.
        """
        assert self.traced is not None
        anchor = self._anchor(keep)
        if self._regroup_task is None and self.traced.opgraph.graph.number_of_nodes() <= BACKGROUND_REGROUP_OPS:
            QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
            try:
                regrouped = regroup_job(self.traced.opgraph, self._state())
            finally:
                QApplication.restoreOverrideCursor()
            self._regroup_anchor, self._fit_after_regroup = (anchor, keep), fit
            self._apply_regroup(regrouped)
            return
        if self._regroup_task is None or self._regroup_anchor[0] is None:
            self._regroup_anchor = (anchor, keep)
        self._fit_after_regroup = self._fit_after_regroup or fit
        if self._regroup_task is None:
            self._start_regroup()

    def _start_regroup(self) -> None:
        assert self.traced is not None
        opgraph, state = self.traced.opgraph, self._state()
        task = TaskThread(lambda progress, cancel: regroup_job(opgraph, state, cancel), "layout", owner=self)
        task.succeeded.connect(self._on_regrouped)
        task.failed.connect(self._on_regroup_failed)
        self._regroup_task = task
        self.busy.label.setText(f"Laying out {self.title or 'the graph'} at level {self._level}…")
        self.busy.bar.setRange(0, 0)
        self._update_busy()
        task.start_task()

    def _forget_regroup_task(self) -> None:
        task, self._regroup_task = self._regroup_task, None
        if task is not None:
            task.cancel()
            for signal in (task.succeeded, task.failed):
                signal.disconnect()

    @Slot(object)
    def _on_regrouped(self, regrouped: RegroupedGraph) -> None:
        if self._regroup_task is None:  # a dropped request's result, queued before it was dropped
            return
        self._forget_regroup_task()
        if regrouped.state != self._state():  # asked for something else meanwhile: draw only that
            self._start_regroup()
            return
        self._update_busy()
        self._apply_regroup(regrouped)

    @Slot(str, str)
    def _on_regroup_failed(self, message: str, details: str) -> None:
        self._cancel_regroup()
        self._show_message(f"Could not lay out {self.title or 'the graph'}:\n{message}")
        QTimer.singleShot(6000, lambda: self._show_message(None) if shiboken6.isValid(self) else None)

    def _cancel_regroup(self, revert: bool = True) -> None:
        """Drop a background re-layout; ``revert`` puts the level, expansions and folding back
        to what is drawn, so the controls match the graph."""
        running = self._regroup_task is not None
        self._forget_regroup_task()
        self._after_draw.clear()
        self._fit_after_regroup = False
        self._regroup_anchor = (None, None)
        if running and revert and self._drawn_state is not None:
            level, expanded, collapsed, fold = self._drawn_state
            self._level, self._expanded, self._collapsed, self._fold = level, list(expanded), list(collapsed), fold
            self._set_level_box(level)
            self.fold_check.blockSignals(True)
            self.fold_check.setChecked(fold)
            self.fold_check.blockSignals(False)
        if running:
            self._update_busy()

    def _apply_regroup(self, regrouped: RegroupedGraph) -> None:
        started = time.perf_counter()
        self._show(regrouped.block_graph, regrouped.layout, regrouped.scene)
        anchor, keep = self._regroup_anchor
        self._restore_anchor(anchor, keep)
        if self._fit_after_regroup:
            self.fit()
        self._regroup_anchor, self._fit_after_regroup = (None, None), False
        self.last_timings = dict(regrouped.seconds, draw=time.perf_counter() - started)
        callbacks, self._after_draw = self._after_draw, []
        for callback in callbacks:
            callback()

    def _when_drawn(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` now, or once the re-layout in flight is drawn."""
        if self._regroup_task is None:
            callback()
        else:
            self._after_draw.append(callback)

    def _anchor(self, node_id: str | None) -> QPointF | None:
        """Where a node sits on screen, so it stays put while the graph around it changes."""
        shown = self._visible_node_for(node_id) if node_id else None
        rect = self.graph_scene.node_rect(shown) if shown else None
        return QPointF(self.canvas.mapFromScene(rect.center())) if rect is not None else None

    def _restore_anchor(self, anchor: QPointF | None, keep: str | None) -> None:
        if anchor is None or keep is None:
            return
        shown = self._visible_node_for(keep)
        if shown is None:  # expanded: follow its first child
            children = [n for n in self.graph_scene.node_ids() if n.startswith(keep + ".")]
            shown = children[0] if children else None
        rect = self.graph_scene.node_rect(shown) if shown else None
        if rect is None:
            return
        view_centre = QPointF(self.canvas.viewport().rect().center())
        self.canvas.centerOn(rect.center() + (view_centre - anchor) / self.canvas.zoom())

    # drawing --------------------------------------------------------------------------------

    def _show(self, blocks, layout: Layout, scene: Scene) -> None:
        self._block_graph, self._layout, self._scene = blocks, layout, scene
        self._drawn_state = self._state()
        self._box_of_module = {}
        for node_id, node in layout.nodes.items():
            if node.collapsed:
                for module in node.info.get("folded_ids") or [node_id]:
                    self._box_of_module[module] = node_id
            else:
                self._box_of_module.setdefault(node_id, node_id)
        self._owner_cache = {}
        self.graph_scene.load(scene)
        self.graph_scene.set_detail(self.canvas.zoom())
        self.legend.set_counts(layout.skip_counts, gradient=self._block_norms is not None)
        self.legend.show()
        self._recolour()
        if self._selected is not None:
            self.graph_scene.set_selected(self._visible_node_for(self._selected))
        self._place_overlays()
        if self.traced is not None:
            self.details.setHtml(self._details_html(self._selected))
        self.graph_changed.emit()

    def _initial_view(self) -> None:
        """Fit the graph; one too tall to read when fitted opens at its top, fitted to width."""
        rect = self.graph_scene.sceneRect()
        self.canvas.resetTransform()
        self.canvas.fit_rect(rect)
        if self.canvas.zoom() < READABLE_ZOOM:
            view = self.canvas.viewport().rect()
            self.canvas.set_zoom(min(1.0, max(READABLE_ZOOM, (view.width() - 24) / max(1.0, rect.width()))))
            zoom = self.canvas.zoom()
            self.canvas.centerOn(QPointF(rect.center().x(), rect.top() + view.height() / 2 / zoom))

    def fit(self) -> None:
        """Fit the whole graph into the view."""
        self.canvas.fit_rect(self.graph_scene.sceneRect())

    # queries --------------------------------------------------------------------------------

    def node_ids(self) -> list[str]:
        """The ids of the nodes drawn now."""
        return self.graph_scene.node_ids()

    def skip_edges(self) -> list[tuple[str, str, str]]:
        """(source, target, kind) of every skip edge drawn now (a collapsed block's is a loop)."""
        return [(e.source, e.target, e.kind) for e in (self._layout.edges if self._layout else []) if e.kind != "main"]

    @property
    def layout_data(self) -> Layout | None:
        """The Layout drawn now."""
        return self._layout

    @property
    def block_graph(self) -> Any:
        """The BlockGraph drawn now."""
        return self._block_graph

    @property
    def scene_data(self) -> Scene | None:
        """The Scene drawn now (without gradient colours: those are applied in place)."""
        return self._scene

    def selected(self) -> str | None:
        return self._selected

    def _visible_node_for(self, name: str | None) -> str | None:
        """The drawn node that shows ``name``: its own box, or the collapsed block holding it."""
        if name is None or self._layout is None:
            return None
        if name in self._layout.nodes:
            return name
        probe = name
        while probe:
            if probe in self._box_of_module:
                return self._box_of_module[probe]
            probe = _parent(probe)
        return None

    # selection, search ----------------------------------------------------------------------

    def select(self, name: str | None, *, reveal: bool = False, centre: bool = False, emit: bool = False) -> None:
        """Select a module by qualified name (the block holding it is highlighted when collapsed).

        ``reveal`` expands the blocks that hide it; ``centre`` scrolls it to the middle; ``emit``
        sends ``module_selected`` as a click does.
        """
        if reveal and name and self._layout is not None and name not in self._layout.nodes:
            self._reveal(name)
        self._selected = name or None
        self._when_drawn(lambda: self._highlight(name, centre))
        if emit and name:
            self.module_selected.emit(name)

    def _highlight(self, name: str | None, centre: bool) -> None:
        if (name or None) != self._selected:
            return  # selected something else since
        shown = self._visible_node_for(name) if name else None
        self.graph_scene.set_selected(shown)
        self.details.setHtml(self._details_html(self._selected))
        if centre and shown is not None:
            rect = self.graph_scene.node_rect(shown)
            if rect is not None:
                if self.canvas.zoom() < READABLE_ZOOM:
                    self.canvas.set_zoom(1.0)
                self.canvas.centerOn(rect.center())

    def _module_of(self, name: str) -> str | None:
        """The module a name belongs to: itself, or for an op (``layer1.0.add``) its module."""
        opgraph = self.traced.opgraph if self.traced else None
        if opgraph is None:
            return None
        if name in opgraph.module_types:
            return name
        if name in opgraph.graph:
            return opgraph.graph.nodes[name].get("module") or None
        probe = _parent(name)
        while probe and probe not in opgraph.module_types:
            probe = _parent(probe)
        return probe or None

    def _reveal(self, name: str) -> None:
        """Expand the collapsed blocks around ``name`` so it gets a box of its own."""
        module = self._module_of(name)
        if not module:
            return
        ancestors = [module]
        probe = _parent(module)
        while probe:
            ancestors.append(probe)
            probe = _parent(probe)
        self._collapsed = [c for c in self._collapsed if c not in ancestors]
        if self._fold:
            self._fold = False  # a folded run hides which block is which
            self.fold_check.blockSignals(True)
            self.fold_check.setChecked(False)
            self.fold_check.blockSignals(False)
        if module not in self._expanded:
            self._expanded.append(module)
        self._regroup(keep=None)

    def search(self, text: str) -> list[str]:
        """Modules and ops whose name contains ``text``, case-insensitive (exact first, then in
        model order). The first is revealed (its blocks expanded), selected and centred."""
        text = text.strip()
        if not text or self.traced is None:
            self.search_status.setText("")
            return []
        needle = text.lower()
        names = [n for n in self.traced.modules if n]
        known = set(names)
        opgraph = self.traced.opgraph
        names += [n for n, data in opgraph.graph.nodes(data=True)
                  if n not in known and data.get("kind") not in ("input", "output")]
        order = {n: i for i, n in enumerate(names)}
        hits = [n for n in names if needle in n.lower()]
        hits.sort(key=lambda n: (n.lower() != needle, not n.lower().startswith(needle), order[n]))
        if not hits:
            self.search_status.setText("not found")
        elif self._has_ops(hits[0]):
            self.select(hits[0], reveal=True, centre=True, emit=True)
            self.search_status.setText(f"{len(hits)} found" if len(hits) > 1 else "")
        else:  # a module the trace dropped (an nn.Identity): show where it would sit instead
            if self._layout is not None:
                self._reveal(hits[0])
            self._when_drawn(lambda first=hits[0]: self._select_stand_in(first))
        return hits

    def _has_ops(self, name: str) -> bool:
        """Whether ``name`` is an op, or a module with ops of its own or in its children."""
        opgraph = self.traced.opgraph
        if name in opgraph.graph:
            return True
        if self._modules_with_ops is None or self._modules_with_ops[0] != id(opgraph):
            modules: set[str] = set()
            for _, module in opgraph.graph.nodes(data="module"):
                while module and module not in modules:
                    modules.add(module)
                    module = _parent(module)
            self._modules_with_ops = (id(opgraph), modules)
        return name in self._modules_with_ops[1]

    def stand_in_for(self, module: str) -> str | None:
        """The drawn node that shows a module without ops: the box of the op that runs right
        after the last op of the modules before it (the next on its path), else of that op."""
        if self.traced is None or self._layout is None:
            return None
        opgraph = self.traced.opgraph
        order = {name: i for i, name in enumerate(opgraph.module_types)}
        if module not in order:
            return None
        position = order[module]
        ancestors = {module, ""}
        probe = _parent(module)
        while probe:
            ancestors.add(probe)
            probe = _parent(probe)
        scope = _parent(module)  # its siblings' ops: a module shared across the model would mislead

        def inside(owner: str) -> bool:
            return owner in order and (not scope or owner.startswith(scope + "."))
        ops = sorted((data.get("order", 0), node, data.get("module") or "")
                     for node, data in opgraph.graph.nodes(data=True) if data.get("kind") not in ("input", "output"))
        # An op of an enclosing module (a block's add) may run before or after it: not a landmark.
        before = [i for i, (_, _, owner) in enumerate(ops)
                  if owner not in ancestors and inside(owner) and order[owner] < position]
        after = before[-1] + 1 if before else next(
            (i for i, (_, _, owner) in enumerate(ops) if order.get(owner, -1) > position), len(ops))
        candidates = ops[after:after + 1] + ([ops[before[-1]]] if before else [])
        for _, node, _ in candidates:
            shown = self._visible_node_for(node)
            if shown is not None:
                return shown
        return None

    def _select_stand_in(self, module: str) -> None:
        stand_in = self.stand_in_for(module)
        if stand_in is None:
            self.search_status.setText(f"{module} is not drawn")
            return
        self.select(stand_in, centre=True, emit=True)
        self.search_status.setText(f"{module} has no box: showing {stand_in}")

    def _on_node_clicked(self, node_id: str) -> None:
        self.select(node_id, emit=True)

    def _on_node_double_clicked(self, node_id: str) -> None:
        if not self.expand(node_id):
            module = self._module_of(node_id)
            parent = _parent(module) if module == node_id else module
            if parent:
                self.collapse(parent)

    def _on_context_menu(self, node_id: str, global_pos: QPoint) -> None:
        menu = QMenu(self)
        if node_id:
            if self.is_expandable(node_id):
                menu.addAction(f"Expand {node_id}", lambda: self.expand(node_id))
            module = self._module_of(node_id)
            parent = _parent(module) if module == node_id else module
            if parent:
                menu.addAction(f"Collapse {parent}", lambda: self.collapse(parent))
            menu.addSeparator()
        menu.addAction("Fit", self.fit)
        level_menu = menu.addMenu("Level")
        for level in LEVELS:
            action = level_menu.addAction(level, lambda lv=level: self.set_level(lv))
            action.setCheckable(True)
            action.setChecked(level == self._level)
        menu.exec(global_pos)

    # details and tooltips -------------------------------------------------------------------

    def _skips_at(self, node_id: str) -> list[Any]:
        """The SkipConnections drawn at a node (its loop, or edges into or out of it)."""
        blocks = self._block_graph
        if blocks is None:
            return []
        out, seen = [], set()
        for u, v, data in blocks.graph.edges(data=True):
            if node_id in (u, v):
                for index in data.get("skips", ()):
                    if index not in seen:
                        seen.add(index)
                        out.append(blocks.skips[index])
        return out

    def _rows(self, name: str) -> list[tuple[str, str]]:
        node = self._layout.nodes.get(name) if self._layout else None
        rows: list[tuple[str, str]] = []
        opgraph = self.traced.opgraph if self.traced else None
        if node is not None:
            kind = node.kind + (f" ×{node.folded}" if node.folded > 1 else "")
            rows.append(("kind", kind))
            if node.folded > 1:
                ids = node.info.get("folded_ids") or []
                rows.append(("blocks", f"{ids[0]} … {ids[-1]}" if ids else ""))
            rows.append(("output", format_shape(node.info.get("shape"))))
            rows.append(("parameters", format_count(node.info.get("params", 0))))
            flops = node.info.get("flops")
            rows.append(("FLOPs", format_count(flops) if flops else "–"))
            if node.collapsed:
                rows.append(("ops inside", str(node.info.get("members", ""))))
        elif opgraph is not None and name in opgraph.module_types:
            rows.append(("kind", opgraph.module_types[name]))
            rows.append(("parameters", format_count(opgraph.module_params.get(name, 0))))
            if opgraph.graph.has_node(name):
                data = opgraph.graph.nodes[name]
                rows.append(("output", format_shape(data.get("shape"))))
                if data.get("flops"):
                    rows.append(("FLOPs", format_count(data.get("flops"))))
        norm = self.node_norm(name)
        if norm is not None:
            rows.append(("gradient norm", f"{norm:.3g}"))
        if self._block_norms and name in self._block_norms:
            rows.append(("output gradient", f"{self._block_norms[name]:.3g}"))
        return rows

    def _skip_text(self, skip: Any) -> str:
        return f"{SKIP_LABELS.get(skip.kind, skip.kind)}: {skip.fork} → {skip.merge}"

    def _tooltip(self, node_id: str) -> str:
        node = self._layout.nodes.get(node_id) if self._layout else None
        title = html.escape(node.label if node else node_id)
        rows = "".join(f"<tr><td style='color:#52606D;padding-right:8px'>{html.escape(k)}</td>"
                       f"<td>{html.escape(v)}</td></tr>" for k, v in self._rows(node_id))
        skips = self._skips_at(node_id)
        skip_text = "".join(f"<br/>{html.escape(self._skip_text(s))}" for s in skips[:4])
        if len(skips) > 4:
            skip_text += f"<br/>… {len(skips) - 4} more skips"
        hint = "<br/><i>double-click to expand</i>" if self.is_expandable(node_id) else ""
        return f"<b>{title}</b><br/><code>{html.escape(node_id)}</code><table>{rows}</table>{skip_text}{hint}"

    def _details_html(self, name: str | None) -> str:
        if self.traced is None:
            return "<p style='color:#7B8794'>Load a model to see its architecture.</p>"
        if name is None:
            opgraph = self.traced.opgraph
            counts = self._layout.skip_counts if self._layout else {}
            skips = ", ".join(f"{n} {SKIP_LABELS.get(k, k)}" for k, n in counts.items()) or "none (a plain network)"
            reason = opgraph.fallback_reason
            tracer = opgraph.tracer + (f" (torch.fx failed: {reason})" if reason else "")
            return (f"<h3>{html.escape(self.title or opgraph.model_type or 'model')}</h3>"
                    f"<p>{format_count(opgraph.parameter_count)} parameters<br/>"
                    f"skip connections: {html.escape(skips)}<br/>"
                    f"{len(self.node_ids())} boxes at level <b>{self._level}</b><br/>"
                    f"traced with {html.escape(tracer)}</p>"
                    "<p style='color:#7B8794'>Click a box for its details; double-click to expand or collapse; "
                    "drag to pan, wheel to zoom, F to fit.</p>")
        shown = self._visible_node_for(name)
        rows = "".join(f"<tr><td style='color:#52606D;padding-right:10px'>{html.escape(k)}</td>"
                       f"<td>{html.escape(v)}</td></tr>" for k, v in self._rows(name))
        parts = [f"<h3>{html.escape(name)}</h3><table>{rows}</table>"]
        if shown is not None and shown != name:
            parts.append(f"<p>inside <a href='{html.escape(shown)}'>{html.escape(shown)}</a> (collapsed)</p>")
        else:
            parent = _parent(self._module_of(name) or "") if self._module_of(name) == name else self._module_of(name)
            if parent:
                kind = self.traced.opgraph.module_types.get(parent, "")
                parts.append(f"<p>part of <a href='{html.escape(parent)}'>{html.escape(parent)}</a> "
                             f"{html.escape(kind)}</p>")
        skips = self._skips_at(name)
        if skips:
            parts.append("<p><b>skip connections</b><br/>"
                         + "<br/>".join(html.escape(self._skip_text(s)) for s in skips[:12]) + "</p>")
        children = self.traced.opgraph.module_children.get(name, [])
        if children:
            links = ", ".join(f"<a href='{html.escape(c)}'>{html.escape(c.rsplit('.', 1)[-1])}</a>"
                              for c in children[:40])
            parts.append(f"<p><b>children</b><br/>{links}</p>")
        return "".join(parts)

    # gradient colours -----------------------------------------------------------------------

    def set_gradient_colours(self, layer_norms: dict[str, float] | None,
                             levels: tuple[float, float] | None = None) -> None:
        """Colour every node by its gradient norm on a log10 scale, with a colour bar (None clears).

        ``layer_norms`` maps layer qualified names (the run file's ``layer_ids``) to norms; a
        collapsed block takes the L2 norm of its layers' norms (the norm of their gradients
        together). ``levels`` are log10 (low, high); give views that are compared the same
        levels. By default they span the values shown. Items change in place.
        """
        self._layer_norms = dict(layer_norms) if layer_norms is not None else None
        self._fixed_levels = (float(levels[0]), float(levels[1])) if levels is not None else None
        self._recolour()
        if self._selected is not None and self.traced is not None:
            self.details.setHtml(self._details_html(self._selected))

    def set_edge_gradients(self, block_norms: dict[str, float] | None) -> None:
        """Colour each skip by the gradient recorded at its merge's block output (the run file's
        ``act_grad_norm`` by ``block_ids``); None gives the skips their kind colours back."""
        self._block_norms = dict(block_norms) if block_norms is not None else None
        if self._layout is not None:
            self.legend.set_counts(self._layout.skip_counts, gradient=self._block_norms is not None)
        self._recolour()

    def gradient_levels(self) -> tuple[float, float] | None:
        """The log10 levels the colours use now (fixed, or spanning the data), or None."""
        return self._levels

    def _owner(self, layer: str) -> str | None:
        """The drawn node whose colour a layer's norm adds to."""
        if layer in self._owner_cache:
            return self._owner_cache[layer]
        owner = self._visible_node_for(layer)
        self._owner_cache[layer] = owner
        return owner

    def node_norms(self, layer_norms: dict[str, float] | None = None) -> dict[str, float]:
        """The gradient norm of every drawn node that has one: its layer's, or for a collapsed
        block the L2 norm of its layers' norms (NaN and Inf kept)."""
        norms = self._layer_norms if layer_norms is None else layer_norms
        if not norms or self._layout is None:
            return {}
        squares: dict[str, float] = {}
        for layer, value in norms.items():
            owner = self._owner(layer)
            if owner is None:
                continue
            node = self._layout.nodes[owner]
            if not node.collapsed and owner != layer:
                continue  # an op inside a drawn module, not the layer itself
            squares[owner] = squares.get(owner, 0.0) + float(value) ** 2
        return {node: math.sqrt(total) if math.isfinite(total) else total for node, total in squares.items()}

    def node_norm(self, name: str) -> float | None:
        if self._layer_norms is None:
            return None
        shown = self._visible_node_for(name)
        if shown == name:
            return self.node_norms().get(name)
        value = self._layer_norms.get(name)
        return None if value is None else float(value)

    def edge_norms(self, block_norms: dict[str, float] | None = None) -> dict[tuple[str, str], float]:
        """(source, target) -> the gradient each drawn skip edge carries: the norm at its merge's
        block output (the mean when one edge draws several skips, as a folded run does)."""
        norms = self._block_norms if block_norms is None else block_norms
        blocks = self._block_graph
        if not norms or blocks is None:
            return {}
        out = {}
        for u, v, data in blocks.graph.edges(data=True):
            if data.get("kind", "main") == "main":
                continue
            values = [float(norms[blocks.skips[i].block]) for i in data.get("skips", ())
                      if blocks.skips[i].block in norms]
            if values:
                out[(u, v)] = sum(values) / len(values)
        return out

    def _recolour(self) -> None:
        node_norms = self.node_norms()
        edge_norms = self.edge_norms()
        levels = self._fixed_levels or log_levels(list(node_norms.values()) + list(edge_norms.values()))
        colouring = self._layer_norms is not None or self._block_norms is not None
        self._levels = levels if colouring and (node_norms or edge_norms or self._fixed_levels) else None
        if self._levels is not None:
            self._node_colours = {n: c for n, v in node_norms.items() if (c := gradient_colour(v, self._levels))}
            self._edge_colours = {e: c for e, v in edge_norms.items() if (c := gradient_colour(v, self._levels))}
        else:
            self._node_colours, self._edge_colours = {}, {}
        fills: dict[str, str | None] = dict.fromkeys(self.graph_scene.node_ids())
        fills.update(self._node_colours)
        self.graph_scene.set_node_fills(fills)
        self.graph_scene.reset_edge_strokes()
        if self._edge_colours and self._layout is not None:
            strokes = {}
            for edge in self._layout.edges:
                colour = self._edge_colours.get((edge.source, edge.target))
                if colour is not None and edge.kind != "main":
                    strokes[_edge_scene_id(edge.source, edge.target, edge.kind)] = colour
            self.graph_scene.set_edge_strokes(strokes, width=SKIP_GRADIENT_WIDTH)
        self.colour_bar.set_levels(self._levels)
        self._place_overlays()

    # export ---------------------------------------------------------------------------------

    def export_scene(self, legend: bool = True) -> Scene:
        """The figure as Scene primitives: today's colours and selection, the legend, the colour bar."""
        if self._layout is None:
            raise ResvizError("architecture view: nothing to export yet (no model drawn)")
        selected = self._visible_node_for(self._selected) if self._selected else None
        scene = build_view_scene(self._layout, node_colours=self._node_colours, edge_colours=self._edge_colours,
                                 selected=selected, legend=legend, title=self.title or None)
        if self._edge_colours:  # gradient-coloured skips are drawn thicker, as in the window
            for item in scene.items:
                if getattr(item, "kind", "main") != "main" and getattr(item, "id", "") and hasattr(item, "points"):
                    source, _, rest = item.id.partition("->")
                    if (source, rest.partition(":")[0]) in self._edge_colours:
                        item.width = SKIP_GRADIENT_WIDTH
        if self._levels is not None:
            x = scene.width + 8
            height = min(260.0, max(120.0, scene.height - 90))
            scene.items.extend(colour_bar_primitives(self._levels, x=x, y=60, height=height))
            scene.width = x + 86
            if self._edge_colours:  # the legend gives the kinds; say what the skips' colours mean now
                for offset, line in enumerate(("skips coloured by", "the gradient at", "their block's output")):
                    scene.items.append(SceneText(x=x, y=60 + height + 22 + 13 * offset, text=line, size=9.5,
                                                 colour="#52606D", anchor="start"))
                scene.width = max(scene.width, x + 110)
                scene.height = max(scene.height, 60 + height + 22 + 13 * 3 + 8)
        return scene

    def export_image(self, path: str | Path, size: tuple[int, int] | None = None) -> Path:
        """Save the whole graph as PNG or SVG (by the suffix), both drawn from one Scene.

        ``size`` (width, height) in pixels: the PNG's size (the figure keeps its aspect, centred),
        or the SVG's displayed size. Without it a PNG is twice the scene's size, lowered to fit
        30,000 pixels a side (a graph too large to read that way asks for a coarser level or SVG).
        """
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".png", ".svg"):
            raise ResvizError(f"{path}: export as .png or .svg, not {suffix or 'a name without suffix'}")
        if size is not None and (len(size) != 2 or min(int(size[0]), int(size[1])) < 1):
            raise ResvizError(f"{path}: size {size!r} must be (width, height) in pixels")
        scene = self.export_scene()
        try:
            if suffix == ".svg":
                text = scene_to_svg(scene)
                if size is not None:  # the drawing keeps its viewBox; only its displayed size changes
                    text = text.replace(f'width="{_svg_number(scene.width)}" height="{_svg_number(scene.height)}"',
                                        f'width="{int(size[0])}" height="{int(size[1])}"', 1)
                with atomic_write(path) as handle:
                    handle.write(text)
            else:
                image = render_scene_image(scene, size, scale=png_scale(scene, 2.0) if size is None else 1.0)
                with atomic_path(path) as temporary:  # whole or not at all
                    if not image.save(str(temporary), "PNG"):
                        raise ResvizError(f"{path}: could not write the PNG file")
        except OSError as error:
            raise ResvizError(f"{path}: cannot write ({error.strerror or error})") from error
        return path

    def _on_export_clicked(self) -> None:
        if self._layout is None:
            return
        name = (self.title or "architecture").replace(" ", "_").replace("/", "_")
        path, _ = QFileDialog.getSaveFileName(self, "Export the architecture", f"{name}.png",
                                              "PNG image (*.png);;SVG drawing (*.svg)")
        if path:
            try:
                self.export_image(path)
            except ResvizError as error:
                self._show_message(str(error))
                QTimer.singleShot(4000, lambda: self._show_message(None))


def build_view_scene(layout: Layout, *, node_colours: dict[str, str] | None = None,
                     edge_colours: dict[tuple[str, str], str] | None = None, selected: str | None = None,
                     legend: bool = False, title: str | None = None) -> Scene:
    """The graph package's Scene of ``layout``; the window draws its legend as an overlay instead."""
    scene = build_scene(layout, node_colours=node_colours or None, edge_colours=edge_colours or None,
                        selected=selected, legend=legend, title=title)
    if node_colours:  # labels on dark fills turn light, by the same rule the window applies in place
        for item in scene.items:
            if isinstance(item, SceneText) and item.id in node_colours:
                item.colour = text_colour_on(node_colours[item.id], item.colour)
    return scene


def trace_job(model, example_input, title: str, progress, cancel) -> TracedModel:
    """The worker's half of ``set_model``: trace, then everything ``prepare_graph`` does."""
    if cancel.is_set():
        raise TaskCancelled()
    progress(0, 4, f"Tracing {title or type(model).__name__}…")
    started = time.perf_counter()
    with MODEL_LOCK:
        opgraph = trace_graph(model, example_input)
    traced = prepare_graph(opgraph, title, progress, cancel)
    traced.seconds["trace"] = time.perf_counter() - started - sum(traced.seconds.values())
    return traced


@dataclass
class RegroupedGraph:
    """A re-grouping's result: the state it was asked for and what it draws."""

    state: tuple  # (level, expanded, collapsed, fold)
    block_graph: Any
    layout: Layout
    scene: Scene
    seconds: dict[str, float] = field(default_factory=dict)


def regroup_job(opgraph, state: tuple, cancel=None) -> RegroupedGraph:
    """Group, lay out and build the scene of a traced graph for ``state`` (pure Python, so it
    may run in a worker; the OpGraph is only read)."""
    level, expanded, collapsed, fold = state
    started = time.perf_counter()
    blocks = block_graph(opgraph, level=level, expand=tuple(expanded), collapse=tuple(collapsed), fold_repeats=fold)
    grouped = time.perf_counter()
    if cancel is not None and cancel.is_set():
        raise TaskCancelled()
    layout = layout_graph(blocks)
    laid = time.perf_counter()
    if cancel is not None and cancel.is_set():
        raise TaskCancelled()
    scene = build_view_scene(layout)
    built = time.perf_counter()
    return RegroupedGraph(state=state, block_graph=blocks, layout=layout, scene=scene,
                          seconds={"blocks": grouped - started, "layout": laid - grouped, "scene": built - laid})


def prepare_graph(opgraph, title: str = "", progress=None, cancel=None) -> TracedModel:
    """Choose the default level of a traced graph, group it, lay it out and build its scene."""
    seconds: dict[str, float] = {}

    def stage(index: int, text: str) -> None:
        if cancel is not None and cancel.is_set():
            raise TaskCancelled()
        if progress is not None:
            progress(index, 4, text)

    stage(1, "Finding blocks and skips…")
    started = time.perf_counter()
    level = default_level(opgraph)
    blocks = block_graph(opgraph, level=level)
    seconds["blocks"] = time.perf_counter() - started
    stage(2, "Laying out…")
    started = time.perf_counter()
    layout = layout_graph(blocks)
    seconds["layout"] = time.perf_counter() - started
    stage(3, "Drawing…")
    started = time.perf_counter()
    scene = build_view_scene(layout)
    seconds["scene"] = time.perf_counter() - started
    stage(4, "Drawing…")
    return TracedModel(opgraph=opgraph, title=title, level=level, block_graph=blocks, layout=layout, scene=scene,
                       seconds=seconds)


class TwinArchitectureView(QWidget):
    """Two architecture views side by side: a plain network and its residual twin.

    The level of detail, folding, expansions and the selection are mirrored, and gradient
    colours share one log10 scale, so the same layer can be pointed at in both.
    ``module_selected(str)`` fires for a click in either view; ``graph_ready()`` once both are
    drawn.
    """

    module_selected = Signal(str)
    graph_ready = Signal()

    def __init__(self, parent: QWidget | None = None, *, show_details: bool = False) -> None:
        super().__init__(parent)
        self.plain_view = ArchitectureView(show_details=show_details)
        self.residual_view = ArchitectureView(show_details=show_details)
        self.views = (self.plain_view, self.residual_view)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.plain_view)
        self.splitter.addWidget(self.residual_view)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)
        self._mirroring = False
        self._ready: set[int] = set()
        self._norms: dict[int, dict[str, float] | None] = {id(v): None for v in self.views}
        self._levels: tuple[float, float] | None = None
        self._fixed_levels: tuple[float, float] | None = None
        for view in self.views:
            other = self.residual_view if view is self.plain_view else self.plain_view
            view.level_changed.connect(lambda level, o=other: self._mirror(o.set_level, level))
            view.fold_check.toggled.connect(lambda fold, o=other: self._mirror(o.set_fold_repeats, fold))
            view.node_expanded.connect(lambda node, o=other: self._mirror(o.expand, node))
            view.node_collapsed.connect(lambda node, o=other: self._mirror(o.collapse, node))
            view.module_selected.connect(lambda name, o=other: self._on_selected(o, name))
            view.graph_ready.connect(lambda v=view: self._on_ready(v))
            view.graph_changed.connect(self._apply_gradients)
            # Zoom and scroll together, so the same depth shows in both.
            view.canvas.zoom_changed.connect(lambda zoom, o=other: self._mirror(o.canvas.set_zoom, zoom))
            view.canvas.verticalScrollBar().valueChanged.connect(
                lambda value, v=view, o=other: self._mirror(self._follow_scroll, (v, o)))

    def _alive(self) -> bool:
        """False while Qt tears the pair down (children go first; signals may still fire)."""
        return shiboken6.isValid(self) and all(shiboken6.isValid(v) and shiboken6.isValid(v.canvas)
                                               for v in self.views)

    def _mirror(self, method, argument) -> None:
        if self._mirroring or not self._alive():
            return
        self._mirroring = True
        try:
            method(argument)
        finally:
            self._mirroring = False

    @staticmethod
    def _follow_scroll(views: tuple[ArchitectureView, ArchitectureView]) -> None:
        """Scroll ``other`` to the same fraction of its height as ``view``."""
        view, other = views
        source, target = view.canvas.verticalScrollBar(), other.canvas.verticalScrollBar()
        if source.maximum() > 0:
            target.setValue(round(source.value() / source.maximum() * target.maximum()))

    def _on_selected(self, other: ArchitectureView, name: str) -> None:
        if not self._alive():
            return
        if not self._mirroring:
            self._mirroring = True
            try:
                known = other.traced is not None and other._module_of(name) is not None
                other.select(name if known else None, centre=known)
            finally:
                self._mirroring = False
        self.module_selected.emit(name)

    def _on_ready(self, view: ArchitectureView) -> None:
        self._ready.add(id(view))
        if all(id(v) in self._ready for v in self.views):
            # Both open at the finer of their default levels, so the twins line up box for box.
            levels = [v.level() for v in self.views]
            finest = max(levels, key=LEVELS.index)
            for v in self.views:
                if v.level() != finest:
                    self._mirror(v.set_level, finest)
            self._apply_gradients()
            self.graph_ready.emit()

    def set_models(self, plain_model, residual_model, example_input, plain_title: str = "",
                   residual_title: str = "") -> None:
        """Trace both models (each in its own worker thread) and draw them side by side."""
        self._ready.clear()
        self.plain_view.set_model(plain_model, example_input, plain_title)
        self.residual_view.set_model(residual_model, example_input, residual_title)

    def set_graphs(self, plain_opgraph, residual_opgraph, plain_title: str = "", residual_title: str = "") -> None:
        """Draw two already traced graphs side by side."""
        self._ready.clear()
        self.plain_view.set_graph(plain_opgraph, plain_title)
        self.residual_view.set_graph(residual_opgraph, residual_title)

    def is_busy(self) -> bool:
        return any(v.is_busy() for v in self.views)

    def set_level(self, level: str) -> None:
        for view in self.views:
            self._mirror(view.set_level, level)

    def level(self) -> str:
        return self.residual_view.level()

    def fit(self) -> None:
        for view in self.views:
            view.fit()

    def search(self, text: str) -> list[str]:
        """Search both views; the first match is selected in each that has it."""
        hits = self.residual_view.search(text)
        plain = self.plain_view.search(text)
        return hits + [h for h in plain if h not in hits]

    def set_gradient_colours(self, plain_norms: dict[str, float] | None, residual_norms: dict[str, float] | None,
                             levels: tuple[float, float] | None = None) -> None:
        """Colour both graphs on one log10 scale: ``levels``, or spanning both sets of norms."""
        self._norms = {id(self.plain_view): plain_norms, id(self.residual_view): residual_norms}
        self._fixed_levels = levels
        self._apply_gradients()

    def set_edge_gradients(self, plain_block_norms: dict[str, float] | None,
                           residual_block_norms: dict[str, float] | None) -> None:
        self.residual_view.set_edge_gradients(residual_block_norms)
        self.plain_view.set_edge_gradients(plain_block_norms)
        self._apply_gradients()

    def gradient_levels(self) -> tuple[float, float] | None:
        """The shared log10 levels, or None when nothing is coloured."""
        return self._levels

    def _apply_gradients(self) -> None:
        levels = self._fixed_levels
        if levels is None:
            values: list[float] = []
            for view in self.views:
                values += list(view.node_norms(self._norms[id(view)] or {}).values())
                values += list(view.edge_norms().values())
            levels = log_levels(values)
        coloured = any(self._norms[id(v)] is not None for v in self.views)
        for view in self.views:
            view.set_gradient_colours(self._norms[id(view)], levels if (coloured or view._block_norms) else None)
        self._levels = levels if (coloured or any(v._block_norms for v in self.views)) else None

    def export_image(self, path: str | Path, size: tuple[int, int] | None = None) -> list[Path]:
        """Export both graphs: ``NAME-plain.EXT`` and ``NAME-residual.EXT``."""
        path = Path(path)
        return [view.export_image(path.with_name(f"{path.stem}-{tag}{path.suffix}"), size)
                for view, tag in ((self.plain_view, "plain"), (self.residual_view, "residual"))]

    def shutdown(self, timeout_ms: int = 30000) -> None:
        for view in self.views:
            view.shutdown(timeout_ms)

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)
