import pytest
import torch

from resviz.graph import find_skips, residual_blocks, skip_counts, trace_graph
from resviz.models import get_model, list_models

from .seed_models import (
    IdentityShortcutStack,
    InPlaceStatement,
    ListDenseBlock,
    ParallelBranches,
    PoolingShortcut,
    ResNetBlock,
    SharedBlock,
    SimpleResBlock,
    TinyUNet,
    TwoInputs,
)


def skips_of(name, tracer="auto", **options):
    with torch.device("meta"):
        model = get_model(name, **options)
    return find_skips(trace_graph(model, tracer=tracer))


@pytest.mark.parametrize("tracer", ["fx", "hooks"])
@pytest.mark.parametrize("name,expected", [
    ("resnet56", {"identity": 25, "zero_pad": 2}),
    ("plain56", {}),
    ("resnet20", {"identity": 7, "zero_pad": 2}),
    ("resnet18", {"identity": 5, "projection": 3}),
    ("plain18", {}),
    ("resnet50", {"identity": 12, "projection": 4}),
    ("preact_resnet20", {"identity": 7, "projection": 2}),
    ("mlp_residual", {"identity": 20}),
    ("densenet", {"concat": 18}),
    ("densenet_plain", {}),
    ("mnist_resnet", {"identity": 2}),
    ("cifar_small_resnet", {"identity": 3, "projection": 1}),
    ("simple_cnn", {}),
])
def test_zoo_skip_counts_and_kinds(name, expected, tracer):
    assert skip_counts(skips_of(name, tracer)) == expected


@pytest.mark.parametrize("tracer", ["fx", "hooks"])
@pytest.mark.parametrize("name,expected", [
    ("resnet56", {"identity": 25, "zero_pad": 2}),
    ("resnet20", {"identity": 7, "zero_pad": 2}),
    ("resnet18", {"identity": 5, "projection": 3}),
    ("preact_resnet20", {"identity": 7, "projection": 2}),
    ("densenet", {"concat": 18}),
    ("plain20", {}),
])
def test_zoo_skip_counts_without_norm_layers(name, expected, tracer):
    skips = skips_of(name, tracer, norm="none")
    assert skip_counts(skips) == expected
    # The norms were the only Identity layers; none is left on a path.
    assert not any(".bn" in node or "norm" in node for s in skips for node in s.short_path + s.long_path)


def test_resnet18_without_norms_projects_with_the_conv_alone():
    projection = [s for s in skips_of("resnet18", norm="none") if s.kind == "projection"]
    assert [s.short_path for s in projection] == [[f"layer{i}.0.downsample.0"] for i in (2, 3, 4)]
    assert projection[0].long_path == ["layer2.0.conv1", "layer2.0.relu1", "layer2.0.conv2"]


@pytest.mark.parametrize("tracer", ["fx", "hooks"])
def test_a_shortcut_that_is_an_identity_layer_is_an_identity_skip(tracer):
    skips = find_skips(trace_graph(IdentityShortcutStack(), torch.randn(1, 4, 6, 6), tracer=tracer))
    assert [(s.kind, s.fork, s.merge, s.block, s.short_path) for s in skips] == [
        ("identity", "input", "blocks.0.add", "blocks.0", []),
        ("identity", "blocks.0.add", "blocks.1.add", "blocks.1", [])]
    assert skips[0].long_path == ["blocks.0.conv", "blocks.0.relu"]


def test_resnet56_has_27_residual_merges_in_27_blocks():
    skips = skips_of("resnet56")
    assert len(skips) == 27
    assert residual_blocks(skips) == [f"layer{s}.{b}" for s in (1, 2, 3) for b in range(9)]
    assert [s.merge for s in skips][:2] == ["layer1.0.add", "layer1.1.add"]


def test_resnet18_projection_paths():
    skips = skips_of("resnet18")
    projection = [s for s in skips if s.kind == "projection"]
    assert [s.block for s in projection] == ["layer2.0", "layer3.0", "layer4.0"]
    first = projection[0]
    assert first.fork == "layer1.1.relu2" and first.merge == "layer2.0.add"
    assert first.short_path == ["layer2.0.downsample.0", "layer2.0.downsample.1"]
    assert first.long_path == ["layer2.0.conv1", "layer2.0.bn1", "layer2.0.relu1", "layer2.0.conv2", "layer2.0.bn2"]
    identity = skips[0]
    assert (identity.kind, identity.fork, identity.short_path) == ("identity", "maxpool", [])
    assert identity.block == "layer1.0"


def test_option_a_shortcut_is_zero_pad_and_option_b_projection():
    pad = [s for s in skips_of("resnet20") if s.kind == "zero_pad"]
    assert [s.block for s in pad] == ["layer2.0", "layer3.0"]
    assert pad[0].short_path == ["layer2.0.downsample.getitem", "layer2.0.downsample.pad"]
    assert skip_counts(skips_of("resnet20", shortcut="B")) == {"identity": 7, "projection": 2}


@pytest.mark.parametrize("depth,per_block", [(40, 6), (28, 4)])
def test_a_dense_block_of_k_layers_has_k_concatenations(depth, per_block):
    skips = skips_of("densenet", depth=depth)
    for index in (1, 2, 3):
        in_block = [s for s in skips if s.block.startswith(f"dense{index}.")]
        assert len(in_block) == per_block and {s.kind for s in in_block} == {"concat"}
        assert in_block[1].fork == in_block[0].merge  # each layer's input is the previous concatenation


def test_a_torchvision_style_dense_block_of_k_layers_has_k_concatenations():
    for tracer in ("fx", "hooks"):
        skips = find_skips(trace_graph(ListDenseBlock(layers=4), torch.randn(1, 8, 8, 8), tracer=tracer))
        assert [(s.kind, s.fork, s.merge) for s in skips] == [
            ("concat", "input", "layers.1.cat"), ("concat", "input", "layers.2.cat"),
            ("concat", "input", "layers.3.cat"), ("concat", "input", "cat")]


def test_seed_simple_res_block():
    skips = find_skips(trace_graph(SimpleResBlock(), torch.ones(1, 3, 5, 5)))
    assert len(skips) == 1
    skip = skips[0]
    assert (skip.kind, skip.fork, skip.merge, skip.block) == ("identity", "input", "add", "")
    assert skip.long_path == ["conv", "relu"]


def test_seed_resnet_block_with_in_place_add():
    for tracer in ("fx", "hooks"):
        skips = find_skips(trace_graph(ResNetBlock(64, 64), torch.randn(1, 64, 32, 32), tracer=tracer))
        assert [(s.kind, s.fork, s.merge) for s in skips] == [("identity", "input", "add")]
    assert [s.kind for s in find_skips(trace_graph(InPlaceStatement(), torch.randn(1, 6)))] == ["identity"]


def test_pooling_shortcut_unet_concat_and_long_skip():
    pooling = find_skips(trace_graph(PoolingShortcut(), torch.randn(1, 8, 16, 16)))
    assert [(s.kind, s.short_path) for s in pooling] == [("pooling", ["pool"])]
    unet = find_skips(trace_graph(TinyUNet(), torch.randn(1, 3, 16, 16)))
    assert [(s.kind, s.fork, s.merge) for s in unet] == [("concat", "relu", "cat"), ("long", "relu", "add")]


def test_merges_that_are_not_skips():
    assert find_skips(trace_graph(ParallelBranches(), torch.randn(1, 4, 8, 8))) == []
    assert find_skips(trace_graph(TwoInputs(), (torch.randn(1, 4), torch.randn(1, 4)))) == []


def test_a_shared_block_is_one_residual_block_with_two_skips():
    skips = find_skips(trace_graph(SharedBlock(), torch.randn(1, 3, 8, 8)))
    assert [(s.fork, s.merge, s.block) for s in skips] == [("input", "block.add", "block"),
                                                          ("mid", "block.add_1", "block")]


def test_every_residual_zoo_model_has_skips_and_every_plain_one_none():
    for name in list_models():
        if name in ("resnet1202", "plain1202", "resnet152", "plain152", "resnet101", "plain101"):
            continue  # the same builders as their smaller siblings; kept out for speed
        residual = name.startswith(("resnet", "preact_resnet", "mlp_residual", "densenet")) and name != "densenet_plain"
        residual = residual or name in ("mnist_resnet", "cifar_small_resnet")
        assert bool(skips_of(name)) == residual, name


class _TiedShortcut(torch.nn.Module):
    """An option-A shortcut (slice, pad) as long as the main branch (conv, relu), computed after it."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 6, 3, stride=2, padding=1)

    def forward(self, x):
        out = torch.relu(self.conv(x))
        return out + torch.nn.functional.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, 0, 3))


def test_a_parameter_free_branch_as_long_as_the_main_one_is_the_shortcut():
    skips = find_skips(trace_graph(_TiedShortcut(), torch.randn(1, 3, 8, 8)))
    assert [skip.kind for skip in skips] == ["zero_pad"]
    assert skips[0].long_path == ["conv", "relu"]
