import json

import networkx as nx
import pytest
import torch

from resviz.benchmarks.graph import synthetic_graph
from resviz.graph import block_graph, layout_graph, trace_graph
from resviz.graph.types import Layout
from resviz.models import get_model

from .seed_models import SharedBlock


def traced(name, **options):
    with torch.device("meta"):
        return trace_graph(get_model(name, **options))


def boxes_overlap(a, b, gap=1.0):
    return (abs(a.x - b.x) * 2 < a.width + b.width + gap) and (abs(a.y - b.y) * 2 < a.height + b.height + gap)


def assert_no_overlaps(layout):
    nodes = sorted(layout.nodes.values(), key=lambda n: n.y)
    for i, a in enumerate(nodes):
        for b in nodes[i + 1:]:
            if b.y - b.height / 2 > a.y + a.height / 2 + 1:
                break
            assert not boxes_overlap(a, b), (a.id, b.id)


def inside(node, point, margin=0.5):
    x, y = point
    return (abs(x - node.x) < node.width / 2 - margin) and (abs(y - node.y) < node.height / 2 - margin)


def on_border(node, point, tolerance=0.6):
    x, y = point
    dx, dy = abs(x - node.x) - node.width / 2, abs(y - node.y) - node.height / 2
    return (abs(dx) <= tolerance and dy <= tolerance) or (abs(dy) <= tolerance and dx <= tolerance)


@pytest.fixture(scope="module")
def resnet20_layers():
    return layout_graph(block_graph(traced("resnet20"), "layers"))


def test_main_path_runs_straight_down(resnet20_layers):
    layout = resnet20_layers
    spine = [n for n in layout.nodes.values() if n.info["spine"]]
    assert {n.x for n in spine} == {spine[0].x}
    ordered = sorted(spine, key=lambda n: n.info["rank"])
    assert ordered[0].id == "input" and ordered[-1].id == "output"
    assert all(a.y < b.y for a, b in zip(ordered, ordered[1:]))
    assert {"layer1.0.conv1", "layer2.0.bn2", "layer3.2.add", "fc"} <= {n.id for n in spine}
    assert_no_overlaps(layout)


def test_skips_arc_beside_the_main_path(resnet20_layers):
    layout = resnet20_layers
    spine_x = layout.nodes["input"].x
    spine_right = max(n.x + n.width / 2 for n in layout.nodes.values() if n.info["spine"])
    skips = [e for e in layout.edges if e.kind != "main"]
    into_merges = [e for e in skips if e.target.endswith(".add")]
    assert len(into_merges) == 9
    for edge in skips:
        assert max(x for x, _ in edge.points) > spine_right  # out to the right of every main-path box
        assert all(x > spine_x for x, _ in edge.points)
    for edge in layout.edges:
        source, target = layout.nodes[edge.source], layout.nodes[edge.target]
        assert on_border(source, edge.points[0]) and on_border(target, edge.points[-1]), edge
        for point in edge.points[1:-1]:  # routes never run through a box
            assert not any(inside(node, point) for node in layout.nodes.values()), (edge.source, edge.target, point)
    shortcut_nodes = [layout.nodes["layer2.0.downsample.getitem"], layout.nodes["layer2.0.downsample.pad"]]
    assert all(n.x > spine_right and not n.info["spine"] for n in shortcut_nodes)
    assert shortcut_nodes[0].x == shortcut_nodes[1].x  # the shortcut chain in one column


def test_collapsed_blocks_get_bypass_arcs():
    layout = layout_graph(block_graph(traced("resnet20"), "blocks", fold_repeats=True))
    loops = [e for e in layout.edges if e.source == e.target]
    assert [(e.source, e.kind) for e in loops] == [("layer1.0", "identity"), ("layer2.0", "zero_pad"),
                                                   ("layer2.1", "identity"), ("layer3.0", "zero_pad"),
                                                   ("layer3.1", "identity")]
    for edge in loops:
        box = layout.nodes[edge.source]
        assert max(x for x, _ in edge.points) > box.x + box.width / 2
        assert box.y - box.height / 2 < edge.points[0][1] < edge.points[-1][1] < box.y + box.height / 2
    assert layout.nodes["layer1.0"].info["loop_counts"] == {"identity": 3}
    assert layout.skip_counts == {"identity": 7, "zero_pad": 2}
    assert_no_overlaps(layout)


def test_stage_with_two_skip_kinds_gets_an_arc_for_each():
    layout = layout_graph(block_graph(traced("resnet20"), "stages"))
    kinds = sorted(e.kind for e in layout.edges if e.source == e.target == "layer2")
    assert kinds == ["identity", "zero_pad"]
    xs = {max(x for x, _ in e.points) for e in layout.edges if e.source == e.target == "layer2"}
    assert len(xs) == 2  # side by side, not on top of each other


def test_synthetic_graph_lays_out_without_overlaps():
    graph = synthetic_graph(2000)
    layout = layout_graph(graph)
    assert len(layout.nodes) == graph.number_of_nodes() >= 2000
    assert len(layout.edges) == graph.number_of_edges()
    assert_no_overlaps(layout)
    skip_edges = [e for e in layout.edges if e.kind != "main"]
    assert skip_edges and all(max(x for x, _ in e.points) > layout.nodes["n0"].x for e in skip_edges)


def test_a_reused_block_makes_a_cycle_that_still_lays_out():
    blocks = block_graph(trace_graph(SharedBlock(), torch.randn(1, 3, 8, 8)), "blocks")
    assert not nx.is_directed_acyclic_graph(nx.DiGraph([(u, v) for u, v in blocks.graph.edges if u != v]))
    layout = layout_graph(blocks)
    assert set(layout.nodes) == {"input", "block", "mid", "output"}
    back = [e for e in layout.edges if e.source == "mid" and e.target == "block"]
    assert back and min(x for x, _ in back[0].points) < layout.nodes["block"].x - layout.nodes["block"].width / 2


def test_layout_is_plain_data(resnet20_layers):
    data = json.loads(json.dumps(resnet20_layers.to_dict()))
    assert len(data["nodes"]) == 75 and data["width"] > 0 and data["height"] > 0
    assert layout_graph(nx.DiGraph()) == Layout({}, [], 32.0, 32.0)
