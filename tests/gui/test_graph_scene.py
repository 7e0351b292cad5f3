from __future__ import annotations

import math

import pytest
from PySide6.QtGui import QColor

from resviz.colours import NONFINITE_FILL, gradient_colour, text_colour_on
from resviz.graph.types import Scene, ScenePath, SceneRect, SceneText
from resviz.gui.graph_scene import (
    SELECTED_STROKE,
    GraphScene,
    arrow_head,
    log_ticks,
    render_scene_image,
)
from resviz.views.colour_levels import log_levels


def small_scene() -> Scene:
    """conv -> add, with an identity skip arcing beside, a legend swatch and a title."""
    return Scene(width=200, height=160, items=[
        SceneText(x=100, y=10, text="title", size=14, bold=True),
        ScenePath(id="conv->add", points=[(50, 40), (50, 100)], stroke="#7B8794"),
        ScenePath(id="in->add", points=[(80, 10), (120, 40), (120, 100), (70, 110)], stroke="#E69F00", kind="identity"),
        SceneRect(id="conv", x=20, y=20, width=60, height=20, fill="#DCEEFB", stroke="#52606D"),
        SceneText(x=50, y=30, text="conv", id="conv"),
        SceneRect(id="add", x=20, y=100, width=60, height=20, fill="#FFFFFF", stroke="#52606D"),
        SceneText(x=50, y=110, text="+", id="add"),
        ScenePath(id="", points=[(150, 140), (180, 140)], stroke="#E69F00", kind="identity", arrow=False),
        SceneRect(id="", x=140, y=130, width=50, height=20, fill="none", stroke="#CBD2D9"),
    ])


def test_load_maps_node_and_edge_ids(qapp):
    graph_scene = GraphScene()
    graph_scene.load(small_scene())
    assert sorted(graph_scene.node_ids()) == ["add", "conv"]
    assert graph_scene.edge_ids(skips_only=True) == ["in->add"]  # the legend swatch has no id
    assert graph_scene.edge_kinds("conv->add") == ["main"]
    assert graph_scene.node_rect("conv").contains(50, 30)
    assert graph_scene.node_brush("conv") == QColor("#DCEEFB")
    assert graph_scene.sceneRect().width() == 200
    # the label sits on its box, centred on x=50
    label = graph_scene._nodes["conv"].texts[0]
    assert abs(label.sceneBoundingRect().center().x() - 50) < 1.5
    assert abs(label.sceneBoundingRect().center().y() - 30) < 3


def test_in_place_fill_selection_and_restore(qapp):
    graph_scene = GraphScene()
    graph_scene.load(small_scene())
    items_before = len(graph_scene.items())
    graph_scene.set_node_fills({"conv": "#440154"})
    assert graph_scene.node_brush("conv") == QColor("#440154")
    # white text on the dark fill
    assert graph_scene._nodes["conv"].texts[0].brush().color() == QColor("#FFFFFF")
    graph_scene.set_selected("conv")
    assert graph_scene.node_pen("conv").color() == QColor(SELECTED_STROKE)
    graph_scene.set_selected("add")
    assert graph_scene.node_pen("conv").color() == QColor("#52606D")
    graph_scene.reset_node_fills()
    assert graph_scene.node_brush("conv") == QColor("#DCEEFB")
    graph_scene.set_edge_strokes({"in->add": "#21918C", "conv->add": "#000000"}, width=4.0)
    assert graph_scene.edge_pen("in->add").color() == QColor("#21918C")
    assert graph_scene.edge_pen("in->add").widthF() == 4.0
    assert graph_scene.edge_pen("conv->add").color() == QColor("#7B8794")  # main edges untouched by default
    graph_scene.reset_edge_strokes()
    assert graph_scene.edge_pen("in->add").color() == QColor("#E69F00")
    assert len(graph_scene.items()) == items_before  # nothing rebuilt


def test_detail_hides_small_text_and_export_shows_it(qapp):
    graph_scene = GraphScene()
    graph_scene.load(small_scene())
    label = graph_scene._nodes["conv"].texts[0]
    graph_scene.set_detail(0.1)
    assert not label.isVisible()
    image = graph_scene.render_image((100, 80))
    assert (image.width(), image.height()) == (100, 80)
    assert not label.isVisible()
    graph_scene.set_detail(1.0)
    assert label.isVisible()


def test_render_draws_the_scene(qapp):
    image = render_scene_image(small_scene(), scale=1.0)
    assert (image.width(), image.height()) == (200, 160)
    assert QColor(image.pixel(50, 25)) == QColor("#DCEEFB")  # inside the conv box
    assert QColor(image.pixel(5, 150)) == QColor("#FFFFFF")  # background


def test_arrow_head_points_along_the_last_segment():
    polygon = arrow_head([(0, 0), (0, 10)], 1.5)
    tip = polygon.at(0)
    assert (tip.x(), tip.y()) == (0, 10)
    assert all(polygon.at(i).y() < 10 for i in (1, 2))
    assert arrow_head([(3, 3)], 1.0) is None


def test_gradient_colour_scale():
    levels = log_levels([1e-6, 1e-3, 1.0, 0.0, float("nan")])
    assert levels == pytest.approx((-6.0, 0.0))
    low, high = gradient_colour(1e-6, levels), gradient_colour(1.0, levels)
    assert low != high
    assert gradient_colour(1e-9, levels) == low  # clipped below
    assert gradient_colour(0.0, levels) == low
    assert gradient_colour(float("inf"), levels) == NONFINITE_FILL
    assert gradient_colour(None, levels) is None
    assert log_levels([]) is None
    equal = log_levels([0.1, 0.1])
    assert equal[0] < math.log10(0.1) < equal[1]
    assert [e for e, _ in log_ticks((-6.0, 0.0))][0] == -6.0
    assert text_colour_on("#440154", "#1F2933") == "#FFFFFF"  # dark purple: white text
    assert text_colour_on("#FDE725", "#1F2933") == "#1F2933"  # yellow: dark text stays
    assert text_colour_on("#21918C", "#52606D") in ("#FFFFFF", "#1F2933")  # grey detail on teal: made legible


def test_the_window_colours_labels_and_gradients_as_the_command_lines_export(qapp):
    # One rule and one table: recolouring in place in the window gives every label the colour the
    # command line's export (graph.draw.build_scene) gives it, and the heatmap's lookup table is
    # the graph's gradient table.
    import numpy as np
    import torch

    from resviz.colours import get_colormap, gradient_lut, hex_colour
    from resviz.graph import block_graph, layout_graph, trace_graph
    from resviz.graph.draw import build_scene
    from resviz.gui.theme import colour_map, lookup_table
    from resviz.models import get_model

    with torch.device("meta"):
        layout = layout_graph(block_graph(trace_graph(get_model("resnet20")), "blocks"))
    node = next(n.id for n in layout.nodes.values() if n.info.get("detail"))
    window = GraphScene()
    window.load(build_scene(layout))
    labels = [item for item in window.items() if getattr(item, "data", None) and item.data(0) == node
              and hasattr(item, "text")]
    assert len(labels) == 2
    for rgb in get_colormap("viridis")[::16]:
        fill = hex_colour(rgb)
        window.set_node_fills({node: fill})
        exported = [t.colour for t in build_scene(layout, node_colours={node: fill}).items
                    if isinstance(t, SceneText) and t.id == node]
        by_text = {item.text(): item.brush().color() for item in labels}
        texts = [t.text for t in build_scene(layout).items if isinstance(t, SceneText) and t.id == node]
        assert [by_text[text] for text in texts] == [QColor(c) for c in exported]
    assert np.array_equal(lookup_table(), gradient_lut())
    assert np.array_equal(colour_map().getLookupTable(nPts=256, alpha=False), gradient_lut())
