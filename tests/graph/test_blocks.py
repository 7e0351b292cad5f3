import pytest
import torch

from resviz.errors import ResvizError
from resviz.graph import block_graph, default_level, find_skips, trace_graph
from resviz.models import get_model

from .seed_models import SimpleResBlock


def traced(name, **options):
    with torch.device("meta"):
        return trace_graph(get_model(name, **options))


def labels(blocks):
    return [data["label"] for _, data in sorted(blocks.graph.nodes(data=True), key=lambda item: item[1]["order"])]


def loops(blocks):
    return {u: data["kind"] for u, v, data in blocks.graph.edges(data=True) if u == v}


@pytest.fixture(scope="module")
def resnet20():
    return traced("resnet20")


def test_blocks_level_collapses_residual_blocks_and_keeps_their_skips(resnet20):
    blocks = block_graph(resnet20, "blocks")
    assert labels(blocks) == ["input", "conv1", "bn1", "relu", "layer1.0", "layer1.1", "layer1.2", "layer2.0",
                              "layer2.1", "layer2.2", "layer3.0", "layer3.1", "layer3.2", "avgpool", "flatten", "fc",
                              "output"]
    assert loops(blocks) == {"layer1.0": "identity", "layer1.1": "identity", "layer1.2": "identity",
                             "layer2.0": "zero_pad", "layer2.1": "identity", "layer2.2": "identity",
                             "layer3.0": "zero_pad", "layer3.1": "identity", "layer3.2": "identity"}
    box = blocks.graph.nodes["layer2.0"]
    assert (box["kind"], box["collapsed"], box["folded"], box["shape"]) == ("BasicBlock", True, 1, (1, 32, 16, 16))
    assert box["params"] == 4608 + 64 + 9216 + 64
    assert box["children"] == ["layer2.0.conv1", "layer2.0.bn1", "layer2.0.relu1", "layer2.0.conv2", "layer2.0.bn2",
                               "layer2.0.relu2", "layer2.0.downsample"]
    assert "layer2.0.downsample.pad" in box["members"] and "layer2.0.add" in box["members"]
    main = [(u, v) for u, v, d in blocks.graph.edges(data=True) if d["kind"] == "main"]
    assert ("layer1.2", "layer2.0") in main and ("relu", "layer1.0") in main
    assert blocks.node_of["layer2.0.conv1"] == "layer2.0" and blocks.node_of["conv1"] == "conv1"


def test_layers_level_draws_skips_as_edges(resnet20):
    blocks = block_graph(resnet20, "layers")
    assert blocks.graph.number_of_nodes() == resnet20.graph.number_of_nodes()
    skip_edges = {(u, v): d["kind"] for u, v, d in blocks.graph.edges(data=True) if d["kind"] != "main"}
    assert skip_edges[("relu", "layer1.0.add")] == "identity"
    assert skip_edges[("layer1.2.relu2", "layer2.0.downsample.getitem")] == "zero_pad"
    assert skip_edges[("layer2.0.downsample.pad", "layer2.0.add")] == "zero_pad"
    assert sum(1 for (u, v) in skip_edges if v.endswith(".add")) == 9


def test_stages_level(resnet20):
    blocks = block_graph(resnet20, "stages")
    assert labels(blocks) == ["input", "conv1", "bn1", "relu", "layer1", "layer2", "layer3", "avgpool", "flatten",
                              "fc", "output"]
    layer2 = blocks.graph.edges["layer2", "layer2"]
    assert layer2["kinds"] == {"zero_pad": 1, "identity": 2} and layer2["count"] == 3
    assert layer2["kind"] == "identity"  # the commonest kind names the edge


def test_expand_and_collapse_single_modules(resnet20):
    opened = block_graph(resnet20, "blocks", expand=["layer2.0"])
    nodes = set(opened.graph.nodes)
    assert "layer2.0" not in nodes and {"layer2.0.conv1", "layer2.0.add", "layer2.0.downsample.pad"} <= nodes
    assert "layer1.0" in nodes and "layer2.1" in nodes
    edges = {(u, v): d["kind"] for u, v, d in opened.graph.edges(data=True)}
    assert edges[("layer1.2", "layer2.0.downsample.getitem")] == "zero_pad"  # the skip from the collapsed block
    # Expanding a block inside a collapsed stage opens the stage too.
    staged = block_graph(resnet20, "stages", expand=["layer2.1"])
    assert {"layer1", "layer3", "layer2.0", "layer2.2", "layer2.1.conv1"} <= set(staged.graph.nodes)
    closed = block_graph(resnet20, "layers", collapse=["layer3"])
    assert "layer3" in closed.graph and "layer3.0.conv1" not in closed.graph and "layer2.0.conv1" in closed.graph
    assert loops(closed) == {"layer3": "identity"}
    with pytest.raises(ResvizError, match="cannot expand 'layer9': no such module"):
        block_graph(resnet20, "blocks", expand=["layer9"])
    with pytest.raises(ResvizError, match="level 'cells'"):
        block_graph(resnet20, "cells")


def test_fold_repeats():
    blocks = block_graph(traced("resnet56"), "blocks", fold_repeats=True)
    assert labels(blocks)[4:10] == ["BasicBlock ×9", "layer2.0", "BasicBlock ×8", "layer3.0", "BasicBlock ×8",
                                    "avgpool"]
    first = blocks.graph.nodes["layer1.0"]
    assert first["folded"] == 9 and first["folded_ids"] == [f"layer1.{i}" for i in range(9)]
    assert first["params"] == 9 * (2 * 16 * 16 * 9 + 4 * 16)
    assert blocks.graph.edges["layer1.0", "layer1.0"]["count"] == 9
    assert blocks.node_of["layer1.8.conv2"] == "layer1.0"
    # The plain twin folds the same way: the twins differ only in their skips.
    plain = block_graph(traced("plain56"), "blocks", fold_repeats=True)
    assert labels(plain) == labels(blocks) and not loops(plain)


def test_blocks_of_models_without_stages():
    mlp = block_graph(traced("mlp_residual", depth=3), "blocks")
    assert labels(mlp) == ["input", "flatten", "fc_in", "act_in", "blocks.0", "blocks.1", "blocks.2", "fc_out",
                           "output"]
    assert labels(block_graph(traced("mlp_residual", depth=3), "stages"))[4] == "blocks"
    cnn = block_graph(traced("simple_cnn"), "blocks")
    assert labels(cnn)[1:3] == ["features.0", "features.1"]  # conv-conv-pool containers
    seed = block_graph(trace_graph(SimpleResBlock(), torch.ones(1, 3, 5, 5)), "blocks")
    assert labels(seed) == ["input", "conv", "relu", "add", "output"]  # the model itself is the block


def test_default_level_opens_big_models_collapsed():
    assert default_level(traced("resnet20")) == "layers"
    assert default_level(traced("resnet152")) == "blocks"
    big = traced("resnet1202")
    assert default_level(big) == "stages"
    blocks = block_graph(big, "stages", skips=find_skips(big))
    assert blocks.graph.number_of_nodes() == 11


def test_to_dict_is_plain_data(resnet20):
    import json

    data = block_graph(resnet20, "blocks").to_dict()
    text = json.dumps(data)
    assert '"kind": "zero_pad"' in text and data["level"] == "blocks"
    assert len(data["skips"]) == 9 and data["skips"][0]["merge"] == "layer1.0.add"


def test_without_norm_layers_no_identity_box_is_drawn_and_expanding_still_works():
    opgraph = traced("resnet20", norm="none")
    layers = block_graph(opgraph, "layers")
    assert not any(data["kind"] == "Identity" for _, data in layers.graph.nodes(data=True))
    assert labels(layers)[:5] == ["input", "conv1", "relu", "layer1.0.conv1", "layer1.0.relu1"]
    blocks = block_graph(opgraph, "blocks", expand=["layer1.0", "layer2.0.bn1"])
    assert labels(blocks)[:7] == ["input", "conv1", "relu", "layer1.0.conv1", "layer1.0.relu1", "layer1.0.conv2",
                                  "layer1.0.add"]
    assert "layer2.0" not in blocks.graph  # opened to show its (Identity) bn1, which has no box of its own
    assert blocks.graph.nodes["layer1.1"]["children"] == ["layer1.1.conv1", "layer1.1.bn1", "layer1.1.relu1",
                                                          "layer1.1.conv2", "layer1.1.bn2", "layer1.1.relu2"]
    assert loops(block_graph(opgraph, "blocks"))["layer1.0"] == "identity"


def test_a_model_that_is_an_identity_draws_input_to_output():
    from resviz.graph import draw, layout_graph

    opgraph = trace_graph(torch.nn.Sequential(torch.nn.Identity()), torch.randn(1, 4))
    for level in ("stages", "blocks", "layers"):
        blocks = block_graph(opgraph, level, fold_repeats=True)
        assert labels(blocks) == ["input", "output"] and list(blocks.graph.edges) == [("input", "output")]
    assert default_level(opgraph) == "layers"
    scene = draw.build_scene(layout_graph(block_graph(opgraph, "layers")), title="identity")
    assert {item.text for item in scene.items if hasattr(item, "text")} >= {"input", "output"}
