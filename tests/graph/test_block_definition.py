"""One definition of a block: the graph's, for the recorder, the sanity checks and the window."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import resviz.graph.block_definition as block_definition
from resviz.graph import SKIP_KINDS, BlockInfo, block_graph, find_skips, model_blocks, trace_graph
from resviz.graph.block_definition import fallback_blocks, fallback_reason, skip_kinds
from resviz.models import get_model
from resviz.train.layers import find_blocks
from tests.graph.user_models import UserNet

ZOO_BLOCKS = [f"layer{stage}.{index}" for stage in (1, 2, 3) for index in range(3)]


def tiny(name: str) -> nn.Module:
    return get_model(name, depth=20, width=4, norm="none", input_size=8)


def test_zoo_resnet_blocks_keep_their_ids_and_name_their_skips():
    blocks = model_blocks(tiny("resnet20"))
    assert [block.name for block in blocks] == ZOO_BLOCKS
    assert all(block.traced and block.skip in SKIP_KINDS for block in blocks)
    # Option A: the first block of stages 2 and 3 halves the size and pads the channels with zeros.
    assert [block.skip for block in blocks] == ["identity"] * 3 + (["zero_pad"] + ["identity"] * 2) * 2
    projection = model_blocks(get_model("resnet20", depth=8, width=4, input_size=8, shortcut="B"))
    assert [block.skip for block in projection] == ["identity", "projection", "projection"]


def test_a_plain_twin_has_its_residual_twins_blocks_without_skips():
    plain = model_blocks(tiny("plain20"))
    assert [block.name for block in plain] == ZOO_BLOCKS
    assert all(block.traced and block.skip is None for block in plain)


def test_the_blocks_are_the_graphs_boxes_and_the_recorders_ids():
    model = tiny("resnet20")
    opgraph = trace_graph(model)
    boxes = block_graph(opgraph, "blocks").collapsed
    names = [block.name for block in model_blocks(model)]
    assert set(names) == boxes
    assert find_blocks(model) == names
    # The window colours each skip by the gradient the recorder keyed under the skip's block.
    assert {skip.block for skip in find_skips(opgraph)} == set(names)


def test_a_user_model_gets_the_fork_and_merge_blocks_not_the_old_rules():
    model = UserNet()
    assert model_blocks(model) == [BlockInfo("unit_a", "identity"), BlockInfo("unit_b", "projection")]
    assert find_blocks(model) == ["unit_a", "unit_b"]
    assert fallback_blocks(model) == ["unit_a.body", "unit_b"]  # what the recorder watched before
    assert skip_kinds(model, ["unit_a", "unit_a.body", "stem"]) == ["identity", None, None]


@pytest.mark.parametrize("model, example, reason", [
    (UserNet(input_shape=None), None, "no input_shape"),
    (UserNet(), (1, 5, 8, 8), "5"),  # a forward pass that fails: four channels expected
])
def test_an_untraceable_model_falls_back_to_outermost_modules_with_parameterised_children(model, example, reason):
    blocks = model_blocks(model, example)
    assert blocks == [BlockInfo("unit_a.body", None, traced=False), BlockInfo("unit_b", None, traced=False)]
    assert reason in fallback_reason(model, example)
    assert skip_kinds(model, ["unit_a"], example) is None  # unknown, not "no skip"


def test_a_model_without_blocks_has_none():
    assert model_blocks(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)), (1, 3)) == []


def test_the_trace_is_kept_per_model_and_input(monkeypatch):
    calls = []

    def counting_trace(model, example_input=None):
        calls.append(type(model).__name__)
        return trace_graph(model, example_input)

    monkeypatch.setattr(block_definition, "trace_graph", counting_trace)
    model = UserNet()
    first = model_blocks(model)
    assert model_blocks(model) == first and fallback_reason(model) is None and len(calls) == 1
    model_blocks(model, (2, 3, 8, 8))
    model_blocks(UserNet())
    assert len(calls) == 3  # another input shape, another instance: traced again
    model.unit_b.extra = nn.Conv2d(8, 8, 1)  # a changed module tree is traced again
    model_blocks(model)
    assert len(calls) == 4
    model.input_shape = (3, 6, 6)  # traced at another input_shape
    model_blocks(model)
    assert len(calls) == 5


def test_finding_blocks_leaves_the_random_stream_where_it_was():
    model = UserNet()
    torch.manual_seed(3)
    expected = torch.rand(4)
    torch.manual_seed(3)
    model_blocks(model)  # traced on a random input of the model's input_shape
    assert torch.equal(torch.rand(4), expected)
