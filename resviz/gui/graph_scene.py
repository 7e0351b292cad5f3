"""Qt drawing of the graph package's Scene primitives.

``resviz.graph.draw.build_scene`` turns a Layout into rectangles, paths and texts; the SVG
export writes them out, and :class:`GraphScene` turns the very same primitives into
QGraphicsItems, so the window draws exactly what an exported figure shows. Items are plain
native Qt items (no Python ``paint`` overrides, which would cost a Python call per item per
frame); colouring and selection change them in place through a node-id → items map, so a
gradient update never rebuilds the scene.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QImage, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsPolygonItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
)

from ..colours import gradient_fraction_colour, text_colour_on
from ..graph.draw import arrow_head as core_arrow_head
from ..graph.types import Scene, ScenePath, SceneRect, SceneText

# Data roles stored on items so the view can tell what was clicked without a lookup table.
ROLE_NODE_ID = 0
ROLE_EDGE_ID = 1

SELECTED_STROKE = "#D7263D"  # not one of the skip colours, visible on every fill
HOVER_STROKE = "#1F2933"

# Text smaller than this on screen is hidden: unreadable, and most of the cost of a frame.
MIN_READABLE_TEXT_PX = 4.0

FONT_FAMILY = "DejaVu Sans"


def qcolour(colour: str) -> QColor:
    """A QColor from an SVG colour; "none" is transparent as in SVG."""
    if not colour or colour == "none":
        return QColor(0, 0, 0, 0)
    return QColor(colour)


def _pen(colour: str, width: float, dashed: bool = False) -> QPen:
    if not colour or colour == "none" or width <= 0:
        return QPen(Qt.PenStyle.NoPen)
    pen = QPen(qcolour(colour), width)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    if dashed:
        pen.setStyle(Qt.PenStyle.DashLine)
    return pen


def _font(size: float, bold: bool) -> QFont:
    font = QFont(FONT_FAMILY)
    font.setPixelSize(max(1, int(round(size))))
    font.setBold(bold)
    return font


def arrow_head(points: list[tuple[float, float]], width: float = 1.5) -> QPolygonF | None:
    """The export's arrow head (``resviz.graph.draw.arrow_head``) at the last point, as a polygon."""
    if len(points) < 2 or tuple(points[-2]) == tuple(points[-1]):
        return None
    return QPolygonF([QPointF(x, y) for x, y in core_arrow_head(points)])


@functools.lru_cache(maxsize=4096)
def cached_brush(colour: str) -> QBrush:
    return QBrush(qcolour(colour))


@functools.lru_cache(maxsize=4096)
def cached_text_colour(fill: str, colour: str) -> str:
    return text_colour_on(fill, colour)


@dataclass
class _NodeItems:
    rects: list[QGraphicsPathItem] = field(default_factory=list)
    texts: list[QGraphicsSimpleTextItem] = field(default_factory=list)
    fills: list[str] = field(default_factory=list)  # as built, to restore
    pens: list[QPen] = field(default_factory=list)
    text_colours: list[str] = field(default_factory=list)


@dataclass
class _EdgeItems:
    kind: str
    path: QGraphicsPathItem
    arrow: QGraphicsPolygonItem | None
    stroke: str
    width: float


class GraphScene(QGraphicsScene):
    """A QGraphicsScene holding one resviz Scene, with in-place colouring and selection."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._nodes: dict[str, _NodeItems] = {}
        self._edges: dict[str, list[_EdgeItems]] = {}
        self._texts_by_size: dict[float, list[QGraphicsSimpleTextItem]] = {}
        self._hidden_sizes: set[float] = set()
        self._selected: str | None = None
        self._hovered: str | None = None
        self._node_fill: dict[str, str] = {}
        self._edge_stroke: dict[tuple[str, str], tuple[str, float]] = {}  # recoloured edges only
        self.source: Scene | None = None
        self.background_override: str | None = None  # a dark theme's background instead of the Scene's

    def set_background(self, colour: str | None) -> None:
        """Draw on ``colour`` (None: the Scene's own background)."""
        self.background_override = colour
        background = colour or (self.source.background if self.source is not None else "#FFFFFF")
        self.setBackgroundBrush(QBrush(qcolour(background)))

    # building -------------------------------------------------------------------------------

    def load(self, scene: Scene) -> None:
        """Replace everything with the primitives of ``scene`` (in its painter's order)."""
        self.clear()
        self._nodes.clear()
        self._edges.clear()
        self._texts_by_size.clear()
        self._hidden_sizes.clear()
        self._node_fill.clear()
        self._edge_stroke.clear()
        self._selected = self._hovered = None
        self.source = scene
        # No spatial index while thousands of items go in; build it once at the end.
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)
        self.setBackgroundBrush(QBrush(qcolour(self.background_override or scene.background)))
        for primitive in scene.items:
            if isinstance(primitive, SceneRect):
                self._add_rect(primitive)
            elif isinstance(primitive, ScenePath):
                self._add_path(primitive)
            elif isinstance(primitive, SceneText):
                self._add_text(primitive)
        self.setSceneRect(QRectF(0, 0, scene.width, scene.height))
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.BspTreeIndex)

    def _add_rect(self, r: SceneRect) -> None:
        path = QPainterPath()
        path.addRoundedRect(QRectF(r.x, r.y, r.width, r.height), r.radius, r.radius)
        item = QGraphicsPathItem(path)
        pen = _pen(r.stroke, r.stroke_width, r.dashed)
        item.setPen(pen)
        item.setBrush(QBrush(qcolour(r.fill)))
        self.addItem(item)
        if r.id:
            item.setData(ROLE_NODE_ID, r.id)
            entry = self._nodes.setdefault(r.id, _NodeItems())
            entry.rects.append(item)
            entry.fills.append(r.fill)
            entry.pens.append(pen)

    def _add_path(self, p: ScenePath) -> None:
        if len(p.points) < 2:
            return
        path = QPainterPath(QPointF(*p.points[0]))
        for x, y in p.points[1:]:
            path.lineTo(x, y)
        item = QGraphicsPathItem(path)
        item.setPen(_pen(p.stroke, p.width, p.dashed))
        item.setBrush(Qt.BrushStyle.NoBrush)
        self.addItem(item)
        arrow = None
        if p.arrow:
            polygon = arrow_head(p.points, p.width)
            if polygon is not None:
                arrow = QGraphicsPolygonItem(polygon)
                arrow.setPen(Qt.PenStyle.NoPen)
                arrow.setBrush(QBrush(qcolour(p.stroke)))
                self.addItem(arrow)
        if p.id:
            item.setData(ROLE_EDGE_ID, p.id)
            if arrow is not None:
                arrow.setData(ROLE_EDGE_ID, p.id)
            self._edges.setdefault(p.id, []).append(_EdgeItems(p.kind, item, arrow, p.stroke, p.width))

    def _add_text(self, t: SceneText) -> None:
        item = QGraphicsSimpleTextItem(t.text)
        font = _font(t.size, t.bold)
        item.setFont(font)
        item.setBrush(QBrush(qcolour(t.colour)))
        metrics = QFontMetricsF(font)
        width = metrics.horizontalAdvance(t.text)
        dx = {"start": 0.0, "middle": width / 2, "end": width}.get(t.anchor, width / 2)
        # y is the vertical centre of the line: put the middle of the ascent-descent box there.
        item.setPos(t.x - dx, t.y - metrics.height() / 2)
        # Text is not clickable on its own: clicks fall through to the node box under it.
        item.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        item.setAcceptHoverEvents(False)
        self.addItem(item)
        self._texts_by_size.setdefault(t.size, []).append(item)
        entry = self._nodes.get(t.id) if t.id else None
        # Only a label inside its box follows the box's fill; one beside it (a loop's "×9") keeps its colour.
        if entry is not None and any(r.sceneBoundingRect().contains(QPointF(t.x, t.y)) for r in entry.rects):
            item.setData(ROLE_NODE_ID, t.id)
            entry.texts.append(item)
            entry.text_colours.append(t.colour)

    # queries --------------------------------------------------------------------------------

    def node_ids(self) -> list[str]:
        return [node_id for node_id, entry in self._nodes.items() if entry.rects]

    def edge_ids(self, kind: str | None = None, *, skips_only: bool = False) -> list[str]:
        """Edge ids ("source->target"), each once per drawn edge; filtered by kind or to skips."""
        out = []
        for edge_id, entries in self._edges.items():
            for entry in entries:
                if kind is not None and entry.kind != kind:
                    continue
                if skips_only and entry.kind == "main":
                    continue
                out.append(edge_id)
        return out

    def edge_kinds(self, edge_id: str) -> list[str]:
        return [entry.kind for entry in self._edges.get(edge_id, [])]

    def node_rect(self, node_id: str) -> QRectF | None:
        entry = self._nodes.get(node_id)
        if not entry or not entry.rects:
            return None
        rect = QRectF()
        for item in entry.rects:
            rect = rect.united(item.sceneBoundingRect())
        return rect

    def node_brush(self, node_id: str) -> QColor | None:
        entry = self._nodes.get(node_id)
        return entry.rects[-1].brush().color() if entry and entry.rects else None

    def node_pen(self, node_id: str) -> QPen | None:
        entry = self._nodes.get(node_id)
        return entry.rects[-1].pen() if entry and entry.rects else None

    def edge_pen(self, edge_id: str, kind: str | None = None) -> QPen | None:
        for entry in self._edges.get(edge_id, []):
            if kind is None or entry.kind == kind:
                return entry.path.pen()
        return None

    def node_at(self, item: QGraphicsItem | None) -> str | None:
        """The node id an item stands for (the box or its label), or None."""
        while item is not None:
            node_id = item.data(ROLE_NODE_ID)
            if node_id:
                return str(node_id)
            item = item.parentItem()
        return None

    @property
    def selected(self) -> str | None:
        return self._selected

    # in-place updates -----------------------------------------------------------------------

    def set_node_fills(self, fills: dict[str, str | None]) -> None:
        """Fill nodes with colours (None restores the built fill); label colours follow for contrast.

        Only nodes whose colour changes are touched, and brushes come from a cache, so a replay
        recolouring thousands of nodes per frame stays cheap.
        """
        for node_id, colour in fills.items():
            if self._node_fill.get(node_id) == colour:
                continue  # unchanged: no repaint
            entry = self._nodes.get(node_id)
            if entry is None or not entry.rects:
                continue
            if colour is None:
                self._node_fill.pop(node_id, None)
                for item, fill in zip(entry.rects, entry.fills):
                    item.setBrush(cached_brush(fill))
                for item, text_colour in zip(entry.texts, entry.text_colours):
                    item.setBrush(cached_brush(text_colour))
            else:
                self._node_fill[node_id] = colour
                brush = cached_brush(colour)
                for item in entry.rects:
                    item.setBrush(brush)
                for item, text_colour in zip(entry.texts, entry.text_colours):
                    item.setBrush(cached_brush(cached_text_colour(colour, text_colour)))

    def reset_node_fills(self) -> None:
        self.set_node_fills({node_id: None for node_id in list(self._node_fill)})

    def set_edge_strokes(self, strokes: dict[str, str | None], *, skips_only: bool = True,
                         width: float | None = None) -> None:
        """Recolour edges by id (None restores the built stroke); by default only the skip arcs."""
        for edge_id, colour in strokes.items():
            for entry in self._edges.get(edge_id, []):
                if skips_only and entry.kind == "main":
                    continue
                stroke = entry.stroke if colour is None else colour
                stroke_width = entry.width if colour is None or width is None else width
                key = (edge_id, entry.kind)
                if self._edge_stroke.get(key, (entry.stroke, entry.width)) == (stroke, stroke_width):
                    continue  # unchanged
                if colour is None:
                    self._edge_stroke.pop(key, None)
                else:
                    self._edge_stroke[key] = (stroke, stroke_width)
                pen = entry.path.pen()
                pen.setColor(qcolour(stroke))
                pen.setWidthF(stroke_width)
                entry.path.setPen(pen)
                if entry.arrow is not None:
                    entry.arrow.setBrush(cached_brush(stroke))

    def reset_edge_strokes(self) -> None:
        """Give every recoloured edge its built stroke back."""
        self.set_edge_strokes({edge_id: None for edge_id, _ in list(self._edge_stroke)}, skips_only=False)

    def set_selected(self, node_id: str | None) -> None:
        if self._selected == node_id:
            return
        previous, self._selected = self._selected, node_id
        if previous is not None:
            self._restore_pen(previous)
        if node_id is not None and node_id in self._nodes:
            self._outline(node_id, SELECTED_STROKE, 3.0, z=2.0)

    def set_hovered(self, node_id: str | None) -> None:
        if self._hovered == node_id:
            return
        previous, self._hovered = self._hovered, node_id
        if previous is not None and previous != self._selected:
            self._restore_pen(previous)
        if node_id is not None and node_id != self._selected and node_id in self._nodes:
            self._outline(node_id, HOVER_STROKE, 2.0, z=1.0)

    def _outline(self, node_id: str, colour: str, width: float, z: float) -> None:
        entry = self._nodes[node_id]
        for item in entry.rects:
            item.setPen(_pen(colour, width))
            item.setZValue(z)
        for item in entry.texts:
            item.setZValue(z + 0.5)

    def _restore_pen(self, node_id: str) -> None:
        entry = self._nodes.get(node_id)
        if entry is None:
            return
        for item, pen in zip(entry.rects, entry.pens):
            item.setPen(pen)
            item.setZValue(0.0)
        for item in entry.texts:
            item.setZValue(0.0)

    def set_detail(self, scale: float) -> None:
        """Hide text that would be too small to read at this view scale (changes only at thresholds)."""
        for size, items in self._texts_by_size.items():
            hide = size * scale < MIN_READABLE_TEXT_PX
            if hide == (size in self._hidden_sizes):
                continue
            if hide:
                self._hidden_sizes.add(size)
            else:
                self._hidden_sizes.discard(size)
            for item in items:
                item.setVisible(not hide)

    # rendering ------------------------------------------------------------------------------

    def render_image(self, size: QSize | tuple[int, int] | None = None, *, scale: float = 2.0) -> QImage:
        """The whole scene as an image: ``size`` in pixels (aspect kept, centred), or ``scale`` × scene size."""
        source = self.sceneRect()
        if size is None:
            width, height = max(1, int(source.width() * scale)), max(1, int(source.height() * scale))
        else:
            width, height = (size.width(), size.height()) if isinstance(size, QSize) else size
        image = QImage(int(width), int(height), QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(self.backgroundBrush().color())
        hidden = [item for items in self._texts_by_size.values() for item in items if not item.isVisible()]
        for item in hidden:  # an export shows every label, whatever the view's zoom
            item.setVisible(True)
        painter = QPainter(image)
        try:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            self.render(painter, QRectF(0, 0, width, height), source, Qt.AspectRatioMode.KeepAspectRatio)
        finally:
            painter.end()
            for item in hidden:
                item.setVisible(False)
        return image


def render_scene_image(scene: Scene, size: QSize | tuple[int, int] | None = None, *, scale: float = 2.0) -> QImage:
    """Draw a resviz Scene to an image with the same items the window uses."""
    graph_scene = GraphScene()
    try:
        graph_scene.load(scene)
        return graph_scene.render_image(size, scale=scale)
    finally:
        graph_scene.clear()
        graph_scene.deleteLater()


# Colour bar --------------------------------------------------------------------------------

def colour_bar_primitives(levels: tuple[float, float], *, x: float, y: float, height: float, width: float = 14.0,
                          label: str = "gradient norm", steps: int = 64) -> list[SceneRect | SceneText]:
    """A vertical log10 colour bar as Scene primitives (high at the top), for exported figures."""
    low, high = levels
    items: list[SceneRect | SceneText] = [SceneText(x=x, y=y - 12, text=label, size=11.0, anchor="start", bold=True)]
    band = height / steps
    for i in range(steps):
        t = 1.0 - (i + 0.5) / steps
        colour = gradient_fraction_colour(t)
        items.append(SceneRect(id="", x=x, y=y + i * band, width=width, height=band + 0.6, fill=colour,
                               stroke=colour, stroke_width=0.0, radius=0.0))
    items.append(SceneRect(id="", x=x, y=y, width=width, height=height, fill="none", stroke="#52606D",
                           stroke_width=1.0, radius=0.0))
    for exponent, fraction in log_ticks(levels):
        ty = y + (1.0 - fraction) * height
        items.append(SceneText(x=x + width + 4, y=ty, text=format_power(exponent), size=10.0, anchor="start"))
    return items


def log_ticks(levels: tuple[float, float], max_ticks: int = 7) -> list[tuple[float, float]]:
    """(log10 value, fraction along the bar) of round decade ticks inside ``levels``."""
    low, high = levels
    span = max(high - low, 1e-9)
    first, last = math.ceil(low - 1e-9), math.floor(high + 1e-9)
    count = last - first + 1
    if count < 2:
        return [(low, 0.0), (high, 1.0)]
    step = max(1, math.ceil(count / max_ticks))
    return [(float(e), (e - low) / span) for e in range(first, last + 1, step)]


def format_power(exponent: float) -> str:
    if abs(exponent - round(exponent)) < 1e-9:
        return f"1e{int(round(exponent))}"
    return f"{10 ** exponent:.2g}"
