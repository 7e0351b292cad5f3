"""The graph's drawing surface: drag to pan, wheel to zoom, hover for a tooltip, click to select;
with the panels fixed over it (legend, colour bar, progress, a message)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPoint, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QFrame, QGraphicsView, QLabel, QToolTip, QWidget

from .graph_busy_panel import BusyPanel
from .graph_colour_bar import ColourBar
from .graph_legend import SkipLegend
from .graph_scene import GraphScene

ZOOM_MIN, ZOOM_MAX = 0.01, 8.0


class GraphCanvas(QGraphicsView):
    """The drawing surface: drag to pan, wheel to zoom, hover for a tooltip, click to select."""

    node_clicked = Signal(str)
    node_double_clicked = Signal(str)
    node_context_menu = Signal(str, QPoint)
    zoom_changed = Signal(float)
    resized = Signal()  # the viewport changed size
    navigated = Signal()  # the user zoomed with the wheel or dragged the graph

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
        self.overlays_beside = False  # legend and colour bar in a column beside the graph, never over it
        self.overlays_shown = True  # False: a page that draws one legend for several graphs hides these
        self.legend = SkipLegend(self)
        self.legend.hide()
        self.colour_bar = ColourBar(self)
        self.colour_bar.hide()
        self.busy = BusyPanel(self)
        self.busy.hide()
        self.message = QLabel(self)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #52606D; font-size: 14px; background: transparent;")
        self.message.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)

    # overlays -------------------------------------------------------------------------------

    def set_overlays_beside(self, beside: bool) -> None:
        """Legend and colour bar over the graph's top right (False), or in a column beside it (True)."""
        self.overlays_beside = beside
        if not beside:
            self.setViewportMargins(0, 0, 0, 0)
        self.place_overlays()

    def _overlay_column(self) -> int:
        """The width the overlays take beside the graph (0 when they sit over it or none is shown)."""
        if not self.overlays_beside:
            return 0
        shown = [w.sizeHint().width() for w in (self.legend, self.colour_bar) if not w.isHidden()]
        return max(shown) + 16 if shown else 0

    def place_overlays(self) -> None:
        """Legend and colour bar at the top right (over the graph, or beside it), progress centred,
        the message over the middle."""
        if not self.overlays_shown:
            self.legend.hide()
            self.colour_bar.hide()
        column = self._overlay_column()
        if self.overlays_beside and self.viewportMargins().right() != column:
            self.setViewportMargins(0, 0, column, 0)
        area = self.viewport().geometry()
        if column:
            area = area.adjusted(0, 0, column, 0)  # the overlays' column lies right of the viewport
        self.legend.resize(self.legend.sizeHint())
        self.legend.move(area.right() - self.legend.width() - 10, area.top() + 10)
        self.colour_bar.resize(self.colour_bar.sizeHint())
        # isHidden, not isVisible: placed while its tab is hidden, the legend still takes its room.
        below = self.legend.geometry().bottom() + 10 if not self.legend.isHidden() else area.top() + 10
        self.colour_bar.move(area.right() - self.colour_bar.width() - 10, below)
        self.busy.adjustSize()
        self.busy.move(area.center().x() - self.busy.width() // 2, area.center().y() - self.busy.height() // 2)
        self.message.setGeometry(area.adjusted(40, 40, -40, -40))

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            # The legends grow with the font (presentation mode): place them again once they have it.
            QTimer.singleShot(0, self.place_overlays)

    def show_message(self, text: str | None) -> None:
        """A line over the graph (an error, "Tracing cancelled"); None hides it."""
        self.message.setText(text or "")
        self.message.setVisible(bool(text))
        self.place_overlays()

    def show_busy(self, text: str) -> None:
        self.busy.start(text)
        self.busy.show()
        self.busy.raise_()
        self.place_overlays()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.place_overlays()
        self.resized.emit()

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
            self.navigated.emit()
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
                self.navigated.emit()
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
