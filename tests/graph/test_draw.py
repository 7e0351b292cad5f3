import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch

from resviz.errors import ResvizError
from resviz.graph import block_graph, layout_graph, trace_graph
from resviz.graph.draw import arrow_head, build_scene, save_png, save_svg, scene_to_svg
from resviz.graph.types import SKIP_COLOURS, Scene, ScenePath, SceneRect, SceneText
from resviz.models import get_model

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def resnet20_blocks():
    with torch.device("meta"):
        model = get_model("resnet20")
    return layout_graph(block_graph(trace_graph(model), "blocks"))


@pytest.fixture(scope="module")
def resnet20_layers():
    return layout_graph(block_graph(trace_graph(get_model("resnet20")), "layers"))


def test_scene_has_boxes_labels_edges_legend_and_title(resnet20_blocks):
    scene = build_scene(resnet20_blocks, title="resnet20")
    rects = [i for i in scene.items if isinstance(i, SceneRect)]
    paths = [i for i in scene.items if isinstance(i, ScenePath)]
    texts = [i for i in scene.items if isinstance(i, SceneText)]
    assert {r.id for r in rects if r.id} == set(resnet20_blocks.nodes)
    skips = [p for p in paths if p.id and p.kind != "main"]
    assert len(skips) == 9
    assert {p.stroke for p in skips} == {SKIP_COLOURS["identity"], SKIP_COLOURS["zero_pad"]}
    assert all(p.arrow and p.width > 2 for p in skips)
    main = [p for p in paths if p.id and p.kind == "main"]
    assert main and all(p.width < skips[0].width for p in main)
    text = {t.text for t in texts}
    assert {"resnet20", "skip connections", "identity  ×7", "zero-pad  ×2", "main path", "layer2.0"} <= text
    # Everything lies inside the scene.
    for rect in rects:
        assert 0 <= rect.x and rect.x + rect.width <= scene.width and rect.y + rect.height <= scene.height
    for path in paths:
        assert all(0 <= x <= scene.width and 0 <= y <= scene.height for x, y in path.points)
    assert scene.items.index(main[0]) < scene.items.index(rects[0])  # edges under boxes


def test_node_colours_selection_and_no_legend(resnet20_blocks):
    scene = build_scene(resnet20_blocks, node_colours={"layer2.0": "#440154"}, selected="conv1",
                        edge_colours={("layer2.0", "layer2.0"): "#000000"}, legend=False)
    box = next(i for i in scene.items if isinstance(i, SceneRect) and i.id == "layer2.0")
    assert box.fill == "#440154"
    label = next(i for i in scene.items if isinstance(i, SceneText) and i.id == "layer2.0")
    assert label.colour == "#FFFFFF"  # readable on the dark fill
    selected = next(i for i in scene.items if isinstance(i, SceneRect) and i.id == "conv1")
    assert selected.stroke_width == 3.0
    loop = next(i for i in scene.items if isinstance(i, ScenePath) and i.id == "layer2.0->layer2.0:zero_pad")
    assert loop.stroke == "#000000"
    assert not any(isinstance(i, SceneText) and i.text == "skip connections" for i in scene.items)


def test_svg_is_valid_and_shows_the_skips(resnet20_layers, tmp_path):
    scene = build_scene(resnet20_layers, title="resnet20 <layers> & skips")
    path = save_svg(scene, tmp_path / "graph.svg")
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG}svg" and float(root.get("width")) == pytest.approx(scene.width, abs=0.01)
    polylines = root.findall(f"{SVG}polyline")
    coloured = [p for p in polylines if p.get("stroke") in SKIP_COLOURS.values() and p.get("stroke-width") == "2.6"]
    assert len(coloured) >= 9
    assert len(root.findall(f"{SVG}polygon")) >= len([p for p in scene.items if isinstance(p, ScenePath) and p.arrow])
    texts = [t.text for t in root.findall(f"{SVG}text")]
    assert "resnet20 <layers> & skips" in texts and "layer1.0.conv1" in texts
    assert scene_to_svg(scene) == path.read_text()


def test_png_is_valid_and_has_the_skip_colours(resnet20_blocks, tmp_path):
    from PIL import Image

    scene = build_scene(resnet20_blocks, title="resnet20")
    path = save_png(scene, tmp_path / "graph.png", scale=1.0)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = np.asarray(Image.open(path).convert("RGB"))
    assert abs(image.shape[0] - scene.height) <= 1 and abs(image.shape[1] - scene.width) <= 1
    for kind in ("identity", "zero_pad"):
        colour = np.array([int(SKIP_COLOURS[kind][i:i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(image.astype(int) - colour).sum(axis=2) < 30).sum() > 100, kind


def test_a_graph_too_big_for_a_readable_png_is_refused(tmp_path):
    scene = Scene(width=400, height=200_000)
    with pytest.raises(ResvizError, match="too large for a readable PNG"):
        save_png(scene, tmp_path / "huge.png")
    assert not (tmp_path / "huge.png").exists()


def test_arrow_head_points_along_the_last_segment():
    tip, left, right = arrow_head([(0, 0), (0, 10)])
    assert tip == (0, 10) and left[1] < 10 and right[1] < 10 and left[0] == -right[0]
