from __future__ import annotations

import math

import pytest
import torch
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QImage
from torch import nn

from resviz.colours import gradient_colour
from resviz.graph import block_graph, layout_graph, trace_graph
from resviz.graph.types import SKIP_COLOURS
from resviz.gui.architecture_view import READABLE_ZOOM, ArchitectureView
from resviz.gui.graph_jobs import BACKGROUND_REGROUP_OPS
from resviz.gui.twin_architecture_view import TwinArchitectureView
from resviz.gui.workers_tasks import running_tasks
from resviz.models import get_model

# Its module-scoped fixture is costly: one worker runs the module, once.
pytestmark = pytest.mark.xdist_group("graph_view")


@pytest.fixture(scope="module")
def resnet20_graph():
    model = get_model("resnet20")
    return trace_graph(model, torch.zeros(1, *model.input_shape))


@pytest.fixture
def view(qtbot, resnet20_graph):
    widget = ArchitectureView()
    qtbot.addWidget(widget)
    widget.resize(1000, 700)
    widget.show()
    qtbot.waitExposed(widget)
    widget.set_graph(resnet20_graph, "resnet20")
    widget.set_level("blocks")
    yield widget
    widget.shutdown()
    assert running_tasks() == []


def skip_paths(widget: ArchitectureView) -> list[str]:
    return widget.graph_scene.edge_ids(skips_only=True)


def test_set_model_traces_in_a_worker_and_draws_nine_skips(qtbot):
    widget = ArchitectureView()
    qtbot.addWidget(widget)
    model = get_model("resnet20")
    with qtbot.waitSignal(widget.graph_ready, timeout=60000):
        widget.set_model(model, torch.zeros(1, 3, 32, 32), "resnet20")
        assert widget.is_busy() and widget.busy.isVisibleTo(widget)
    assert not widget.is_busy()
    assert len(widget.block_graph.skips) == 9
    widget.set_level("blocks")
    # At block level each residual block is one box and its skip a bypass arc: 9 arcs, 7 + 2 kinds.
    assert len(skip_paths(widget)) == 9
    assert sorted(kind for _, _, kind in widget.skip_edges()) == ["identity"] * 7 + ["zero_pad"] * 2
    assert widget.legend.counts == {"identity": 7, "zero_pad": 2}
    pen = widget.graph_scene.edge_pen("layer1.0->layer1.0:identity")
    assert pen.color() == QColor(SKIP_COLOURS["identity"])
    assert running_tasks() == []


def test_large_model_opens_collapsed(qtbot):
    widget = ArchitectureView()
    qtbot.addWidget(widget)
    model = get_model("resnet152")
    with qtbot.waitSignal(widget.graph_ready, timeout=60000):
        widget.set_model(model, torch.zeros(1, *model.input_shape), "resnet152")
    assert widget.level() in ("blocks", "stages")
    assert len(widget.node_ids()) <= 120
    assert len(widget.block_graph.skips) == 50
    widget.shutdown()


def test_cancel_drops_the_trace_and_leaves_no_thread(qtbot):
    widget = ArchitectureView()
    qtbot.addWidget(widget)
    ready = []
    widget.graph_ready.connect(lambda: ready.append(True))
    widget.set_model(get_model("resnet56"), torch.zeros(1, 3, 32, 32), "resnet56")
    widget.cancel()
    assert not widget.is_busy() and not widget.busy.isVisibleTo(widget)
    qtbot.waitUntil(lambda: running_tasks() == [], timeout=60000)
    qtbot.wait(50)
    assert ready == [] and widget.traced is None


def test_trace_failure_is_reported(qtbot):
    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x):
            raise RuntimeError("forward exploded")

    widget = ArchitectureView()
    qtbot.addWidget(widget)
    with qtbot.waitSignal(widget.trace_failed, timeout=60000) as blocker:
        widget.set_model(Broken(), torch.zeros(1, 3, 8, 8), "broken")
    assert "exploded" in blocker.args[0]
    assert "exploded" in widget.message.text() and widget.error
    assert widget.traced is None and not widget.is_busy()


def test_expand_and_collapse_change_the_node_count(view):
    blocks = len(view.node_ids())
    assert "layer2.0" in view.node_ids() and view.is_expandable("layer2.0")
    assert view.expand("layer2.0")
    expanded = view.node_ids()
    assert "layer2.0" not in expanded and "layer2.0.conv1" in expanded
    assert len(expanded) > blocks
    assert not view.expand("layer2.0.conv1")  # a leaf has nothing to show
    assert view.collapse("layer2.0")
    assert len(view.node_ids()) == blocks
    assert view.collapse("layer2")  # a whole stage as one box, its three skips kept as a bypass
    assert len(view.node_ids()) == blocks - 2
    loops = {kind for source, target, kind in view.skip_edges() if source == target == "layer2"}
    assert loops and loops <= {"identity", "zero_pad"}
    view.set_level("layers")
    assert len(view.node_ids()) == 75
    view.set_level("stages")
    assert len(view.node_ids()) < blocks


def test_fold_repeats(view):
    blocks = len(view.node_ids())
    view.set_fold_repeats(True)
    folded = view.node_ids()
    assert len(folded) < blocks
    assert any(view.layout_data.nodes[n].folded > 1 for n in folded)
    view.set_fold_repeats(False)
    assert len(view.node_ids()) == blocks


def test_search_reveals_selects_and_emits(view, qtbot):
    assert "layer2.0.conv1" not in view.node_ids()
    with qtbot.waitSignal(view.module_selected) as blocker:
        hits = view.search("layer2.0.conv1")
    assert hits[0] == "layer2.0.conv1"
    assert blocker.args == ["layer2.0.conv1"]
    assert "layer2.0.conv1" in view.node_ids()  # its block was expanded
    assert view.selected() == "layer2.0.conv1"
    assert view.graph_scene.selected == "layer2.0.conv1"
    assert "Conv2d" in view.details.toPlainText()
    assert view.search("conv2")[:2] == ["layer1.0.conv2", "layer1.1.conv2"]
    assert view.search("no such layer") == []
    assert view.search_status.text() == "not found"


def test_search_for_a_module_without_ops_selects_the_box_that_stands_for_it(qtbot):
    # Without normalisation each bn is an nn.Identity: the trace drops it, so it has no box.
    model = get_model("resnet20", norm="none")
    widget = ArchitectureView()
    qtbot.addWidget(widget)
    widget.set_graph(trace_graph(model, torch.zeros(1, *model.input_shape)), "resnet20 (no norm)")
    widget.set_level("blocks")
    with qtbot.waitSignal(widget.module_selected) as blocker:
        hits = widget.search("layer2.0.bn1")
    assert hits[0] == "layer2.0.bn1"
    # Its block is opened and the next op on its path (bn1 sits between conv1 and relu1) is shown.
    assert blocker.args == ["layer2.0.relu1"]
    assert widget.selected() == "layer2.0.relu1" and "layer2.0.relu1" in widget.node_ids()
    assert widget.graph_scene.selected == "layer2.0.relu1"
    assert "layer2.0.bn1" in widget.search_status.text()
    # The last module of a block has no op after it inside; the next drawn op follows the block.
    widget.set_level("blocks")
    widget.search("layer1.2.bn2")
    assert widget.selected() == "layer1.2.add" and widget.graph_scene.selected == "layer1.2.add"
    widget.shutdown()


@pytest.fixture(scope="module")
def resnet110_graph():
    model = get_model("resnet110")
    return trace_graph(model, torch.zeros(1, *model.input_shape))  # shapes come from a meta-device pass


def test_large_graph_regroups_in_a_worker_and_draws_only_the_latest_request(qtbot, resnet110_graph):
    assert resnet110_graph.graph.number_of_nodes() > BACKGROUND_REGROUP_OPS
    widget = ArchitectureView()
    qtbot.addWidget(widget)
    widget.resize(1000, 700)
    widget.show()
    widget.set_graph(resnet110_graph, "resnet110")
    widget.select("layer1.0.conv1")
    widget.set_gradient_colours({"layer1.0.conv1": 1e-3, "fc": 1.0})
    drawn: list[int] = []
    widget.graph_changed.connect(lambda: drawn.append(len(widget.node_ids())))
    before = widget.node_ids()
    expected = {level: len(layout_graph(block_graph(resnet110_graph, level=level)).nodes)
                for level in ("layers", "blocks")}

    widget.set_level("layers")
    # The call returns to the event loop at once: the old graph stays until the worker is done.
    assert drawn == [] and widget.node_ids() == before
    assert widget.is_busy() and widget.busy.isVisibleTo(widget)
    qtbot.waitUntil(lambda: not widget.is_busy(), timeout=60000)
    assert drawn == [expected["layers"]] and len(widget.node_ids()) == expected["layers"]
    assert not widget.busy.isVisibleTo(widget)
    # Selection and gradient colours are applied to the new items.
    assert widget.graph_scene.selected == "layer1.0.conv1"
    levels = widget.gradient_levels()
    assert widget.graph_scene.node_brush("layer1.0.conv1") == QColor(gradient_colour(1e-3, levels))

    # Two quick requests: only the second is drawn.
    drawn.clear()
    widget.set_level("stages")
    widget.set_level("blocks")
    assert drawn == []
    qtbot.waitUntil(lambda: not widget.is_busy(), timeout=60000)
    qtbot.wait(50)
    assert drawn == [expected["blocks"]] and widget.level() == "blocks"
    assert widget.level_box.currentText() == "blocks"

    # Cancel drops a re-layout in flight and puts the controls back to what is drawn.
    widget.set_level("layers")
    widget.cancel()
    assert not widget.is_busy() and widget.level() == "blocks" and widget.level_box.currentText() == "blocks"
    widget.shutdown()
    assert running_tasks() == [] and drawn == [expected["blocks"]]


def test_click_selects_and_emits(view, qtbot):
    rect = view.graph_scene.node_rect("layer1.1")
    view.canvas.centerOn(rect.center())
    pos = view.canvas.mapFromScene(rect.center())
    with qtbot.waitSignal(view.module_selected) as blocker:
        qtbot.mouseClick(view.canvas.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert blocker.args == ["layer1.1"]
    assert view.graph_scene.selected == "layer1.1"
    assert "layer1.1" in view.details.toPlainText()
    assert view._tooltip("layer1.1").count("identity") >= 1
    # A drag pans instead of selecting.
    view.canvas.set_zoom(2.0)
    rect = view.graph_scene.node_rect("layer2.1")
    view.canvas.centerOn(rect.center())
    pos = view.canvas.mapFromScene(rect.center())
    before = view.canvas.verticalScrollBar().value()
    selected = []
    view.module_selected.connect(selected.append)
    qtbot.mousePress(view.canvas.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    for step in range(1, 6):
        qtbot.mouseMove(view.canvas.viewport(), pos - QPoint(0, 30 * step))
    qtbot.mouseRelease(view.canvas.viewport(), Qt.MouseButton.LeftButton, pos=pos - QPoint(0, 150))
    assert selected == []
    assert view.canvas.verticalScrollBar().value() != before


def test_hover_tooltip_and_wheel_zoom(view, qtbot):
    from PySide6.QtCore import QEvent, QPointF
    from PySide6.QtGui import QHelpEvent, QWheelEvent
    from PySide6.QtWidgets import QApplication, QToolTip

    view.set_level("layers")
    rect = view.graph_scene.node_rect("layer2.0.conv1")
    view.canvas.centerOn(rect.center())
    pos = view.canvas.mapFromScene(rect.center())
    event = QHelpEvent(QEvent.Type.ToolTip, pos, view.canvas.viewport().mapToGlobal(pos))
    QApplication.sendEvent(view.canvas.viewport(), event)
    text = QToolTip.text()
    assert "layer2.0.conv1" in text and "Conv2d" in text
    assert "32×16×16" in text and "parameters" in text and "4.6K" in text and "FLOPs" in text
    QToolTip.hideText()
    zoom = view.canvas.zoom()
    wheel = QWheelEvent(QPointF(pos), QPointF(view.canvas.viewport().mapToGlobal(pos)), QPoint(0, 0), QPoint(0, 240),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(view.canvas.viewport(), wheel)
    assert view.canvas.zoom() == pytest.approx(zoom * 1.0015 ** 240)
    view.fit()  # 75 layers do not fit legibly: Fit keeps the boxes readable and scrolls instead
    assert view.canvas.zoom() >= READABLE_ZOOM and view.canvas.verticalScrollBar().maximum() > 0
    rect = view.graph_scene.sceneRect()
    assert rect.width() * view.canvas.zoom() <= view.canvas.viewport().width()  # fitted to the width
    view.set_level("blocks")  # a graph that fits legibly is fitted whole
    view.fit()
    rect = view.graph_scene.sceneRect()
    shown = view.canvas.mapFromScene(rect).boundingRect()
    assert view.canvas.viewport().rect().adjusted(-2, -2, 2, 2).contains(shown)


def test_gradient_colours_change_brushes_in_place(view, resnet20_graph):
    layers = [name for name, params in resnet20_graph.module_params.items()
              if params and name in resnet20_graph.leaf_modules]
    norms = {name: 10.0 ** (-4 + 4 * i / len(layers)) for i, name in enumerate(layers)}
    items_before = len(view.graph_scene.items())
    before = view.graph_scene.node_brush("conv1")
    view.set_gradient_colours(norms)
    levels = view.gradient_levels()
    assert levels == pytest.approx((math.log10(min(view.node_norms().values())),
                                    math.log10(max(view.node_norms().values()))))
    assert view.graph_scene.node_brush("conv1") == QColor(gradient_colour(norms["conv1"], levels))
    assert view.graph_scene.node_brush("conv1") != before
    # A collapsed block shows the L2 norm of its layers' norms.
    inside = [v for k, v in norms.items() if k.startswith("layer2.1.")]
    expected = math.sqrt(sum(v * v for v in inside))
    assert view.node_norms()["layer2.1"] == pytest.approx(expected)
    assert view.graph_scene.node_brush("layer2.1") == QColor(gradient_colour(expected, levels))
    assert view.colour_bar.isVisibleTo(view)
    # Fixed levels (shared between compared views) are used as given.
    view.set_gradient_colours(norms, levels=(-8.0, 2.0))
    assert view.gradient_levels() == (-8.0, 2.0)
    assert view.graph_scene.node_brush("conv1") == QColor(gradient_colour(norms["conv1"], (-8.0, 2.0)))
    # Skips take the colour of the gradient at their block's output.
    view.set_edge_gradients({"layer1.0": 1e-6, "layer3.2": 1.0})
    pen = view.graph_scene.edge_pen("layer1.0->layer1.0:identity")
    assert pen.color() == QColor(gradient_colour(1e-6, (-8.0, 2.0)))
    assert pen.widthF() == 4.0
    assert view.graph_scene.edge_pen("layer1.1->layer1.1:identity").color() == QColor(SKIP_COLOURS["identity"])
    # NaN is shown, never hidden.
    view.set_gradient_colours({**norms, "layer1.0.conv1": float("nan")}, levels=(-8.0, 2.0))
    assert view.graph_scene.node_brush("layer1.0") == QColor("#FF2D55")
    view.set_gradient_colours(None)
    view.set_edge_gradients(None)
    assert view.graph_scene.node_brush("conv1") == before
    assert view.graph_scene.edge_pen("layer1.0->layer1.0:identity").color() == QColor(SKIP_COLOURS["identity"])
    assert not view.colour_bar.isVisibleTo(view)
    assert len(view.graph_scene.items()) == items_before


def test_export_png_and_svg(view, tmp_path):
    view.set_gradient_colours({"conv1": 1e-3, "fc": 1.0})
    view.select("layer1.0")
    png = view.export_image(tmp_path / "graph.png")
    image = QImage(str(png))
    assert not image.isNull() and image.width() > 200 and image.height() > 200
    sized = QImage(str(view.export_image(tmp_path / "small.png", size=(400, 300))))
    assert (sized.width(), sized.height()) == (400, 300)
    sized_svg = view.export_image(tmp_path / "sized.svg", size=(640, 480)).read_text()
    assert sized_svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" width="640" height="480" viewBox="0 0 ')
    svg = view.export_image(tmp_path / "graph.svg").read_text()
    assert svg.startswith("<svg") and "<title>layer3.2</title>" in svg
    assert gradient_colour(1e-3, view.gradient_levels()) in svg  # the node's gradient fill
    assert "gradient norm" in svg and "skip connections" in svg and "resnet20" in svg
    with pytest.raises(Exception, match="png or .svg"):
        view.export_image(tmp_path / "graph.jpg")


def test_twin_view_shares_level_selection_and_gradient_levels(qtbot):
    twin = TwinArchitectureView()
    qtbot.addWidget(twin)
    twin.resize(1400, 700)
    with qtbot.waitSignal(twin.graph_ready, timeout=60000):  # two traces at once, in two workers
        twin.set_models(get_model("plain20"), get_model("resnet20"), torch.zeros(1, 3, 32, 32), "plain20", "resnet20")
    assert twin.plain_view.error is None and twin.residual_view.error is None
    assert twin.plain_view.level() == twin.residual_view.level()
    assert len(twin.plain_view.block_graph.skips) == 0 and len(twin.residual_view.block_graph.skips) == 9
    twin.plain_view.set_level("blocks")
    assert twin.residual_view.level() == "blocks"
    twin.residual_view.expand("layer3.0")
    assert "layer3.0.conv1" in twin.plain_view.node_ids()
    selected = []
    twin.module_selected.connect(selected.append)
    twin.residual_view.select("layer3.0.conv2", emit=True)
    assert selected == ["layer3.0.conv2"] and twin.plain_view.selected() == "layer3.0.conv2"
    # The plain net's gradient vanishes; the residual one's does not; one scale for both.
    plain = {"conv1": 1e-7, "fc": 1e-1}
    residual = {"conv1": 1e-2, "fc": 1.0}
    twin.set_gradient_colours(plain, residual)
    assert twin.gradient_levels() == pytest.approx((-7.0, 0.0))
    assert twin.plain_view.gradient_levels() == twin.residual_view.gradient_levels() == twin.gradient_levels()
    assert twin.plain_view.graph_scene.node_brush("conv1") == QColor(gradient_colour(1e-7, (-7.0, 0.0)))
    assert twin.residual_view.graph_scene.node_brush("fc") == QColor(gradient_colour(1.0, (-7.0, 0.0)))
    twin.set_edge_gradients(None, {"layer1.0": 1e-3, "layer1.1": 1e-9})  # the skips widen the shared range
    assert twin.gradient_levels() == pytest.approx((-9.0, 0.0))
    pen = twin.residual_view.graph_scene.edge_pen("layer1.0->layer1.0:identity")
    assert pen.color() == QColor(gradient_colour(1e-3, (-9.0, 0.0)))
    twin.set_gradient_colours(None, None)
    twin.set_edge_gradients(None, None)
    assert twin.gradient_levels() is None and not twin.plain_view.colour_bar.isVisibleTo(twin.plain_view)
    twin.shutdown()


def folded_boxes(widget: ArchitectureView) -> dict[str, int]:
    return {n: box.folded for n, box in widget.layout_data.nodes.items() if box.folded > 1}


def test_a_chosen_level_survives_a_retrace(qtbot, resnet20_graph):
    widget = ArchitectureView()
    qtbot.addWidget(widget)
    widget.set_graph(resnet20_graph, "resnet20")
    assert widget.level() == "blocks"  # its default: 16 boxes read well, 75 layers do not
    widget.level_box.setCurrentText("layers")  # the user's choice
    assert widget.level() == "layers" and "layer2.0.conv1" in widget.node_ids()
    with qtbot.waitSignal(widget.graph_ready, timeout=60000):
        widget.set_model(get_model("resnet20"), torch.zeros(1, 3, 32, 32), "resnet20 (re-traced)")
    assert widget.level() == "layers" and widget.level_box.currentText() == "layers"
    assert "layer2.0.conv1" in widget.node_ids()
    widget.shutdown()


def test_fold_repeats_ticked_is_always_applied(qtbot, resnet20_graph):
    widget = ArchitectureView()
    qtbot.addWidget(widget)
    widget.set_graph(resnet20_graph, "resnet20")
    widget.set_level("blocks")
    widget.fold_check.setChecked(True)
    assert folded_boxes(widget) == {"layer1.0": 3, "layer2.1": 2, "layer3.1": 2}
    # A new model opens folded, as the tick says (it used to open unfolded, ticked).
    with qtbot.waitSignal(widget.graph_ready, timeout=60000):
        widget.set_model(get_model("resnet56"), torch.zeros(1, 3, 32, 32), "resnet56")
    assert widget.fold_check.isChecked() and folded_boxes(widget) == {"layer1.0": 9, "layer2.1": 8, "layer3.1": 8}
    # Ticked while a model is traced: applied once it is drawn.
    widget.fold_check.setChecked(False)
    with qtbot.waitSignal(widget.graph_ready, timeout=60000):
        widget.set_model(get_model("resnet20"), torch.zeros(1, 3, 32, 32), "resnet20")
        widget.fold_check.setChecked(True)
    assert widget.fold_check.isChecked() and folded_boxes(widget) == {"layer1.0": 3, "layer2.1": 2, "layer3.1": 2}
    widget.shutdown()


def test_twins_keep_the_chosen_level_and_folding_when_redrawn(qtbot, resnet20_graph):
    plain = get_model("plain20")
    plain_graph = trace_graph(plain, torch.zeros(1, *plain.input_shape))
    twin = TwinArchitectureView()
    qtbot.addWidget(twin)
    twin.set_graphs(plain_graph, resnet20_graph, "plain20", "resnet20")
    twin.residual_view.level_box.setCurrentText("blocks")
    twin.plain_view.fold_check.setChecked(True)
    for view in twin.views:
        assert view.level() == "blocks" and view.fold_check.isChecked()
        assert folded_boxes(view) == {"layer1.0": 3, "layer2.1": 2, "layer3.1": 2}
    twin.set_graphs(plain_graph, resnet20_graph, "plain20", "resnet20")
    for view in twin.views:
        assert view.level_box.currentText() == "blocks" and view.fold_check.isChecked()
        assert folded_boxes(view) == {"layer1.0": 3, "layer2.1": 2, "layer3.1": 2}
    twin.shutdown()
