import pytest
import torch
from torch import nn

from resviz.errors import ResvizError
from resviz.models import (
    ModelSpec,
    count_parameters,
    get_model,
    list_models,
    model_info,
    rebuild_model,
    resolve_options,
    twin_pair,
    weighted_depth,
)
from resviz.models.resnet import PadShortcut


@pytest.mark.parametrize("name", list_models())
def test_every_zoo_model_runs_forward_and_backward(name):
    # ImageNet-sized models at 64x64: the same layers run (the stem and four stages leave 2x2), a
    # twelfth of the work of 224x224.
    size = resolve_options(name, {}).get("input_size")
    model = get_model(name, **({"input_size": 64} if isinstance(size, int) and size > 64 else {}))
    x = torch.randn(2, *model.input_shape)
    out = model(x)
    assert out.shape == (2, resolve_options(name, {})["num_classes"])
    out.sum().backward()
    grads = [p.grad for p in model.parameters()]
    assert torch.isfinite(out).all()
    assert all(g is not None for g in grads)
    # A 1202-layer plain net's gradients overflow: that degradation is what resviz shows.
    if name != "plain1202":
        assert all(torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("name,expected", [
    ("resnet20", 269_722), ("resnet56", 853_018), ("resnet110", 1_727_962),
])
def test_cifar_parameter_counts_match_the_paper(name, expected):
    # He et al. (2016) Table 6: 0.27M, 0.85M, 1.7M.
    count = count_parameters(get_model(name))
    assert count == expected
    assert round(count / 1e6, 2) == {"resnet20": 0.27, "resnet56": 0.85, "resnet110": 1.73}[name]


@pytest.mark.parametrize("name,expected", [("resnet18", 11_689_512), ("resnet50", 25_557_032)])
def test_imagenet_parameter_counts_match_torchvision(name, expected):
    with torch.device("meta"):
        assert count_parameters(get_model(name)) == expected


@pytest.mark.parametrize("depth", [20, 32, 44, 56, 110])
def test_cifar_twins_differ_only_in_skips(depth):
    residual, plain = get_model(f"resnet{depth}"), get_model(f"plain{depth}")
    assert weighted_depth(residual) == weighted_depth(plain) == depth
    # Option A shortcuts have no parameters, so the twins have identical parameter sets.
    assert [(n, p.shape) for n, p in residual.named_parameters()] == [(n, p.shape) for n, p in plain.named_parameters()]
    assert any(isinstance(m, PadShortcut) for m in residual.modules())
    assert not any(isinstance(m, PadShortcut) for m in plain.modules())


def test_option_b_projection_adds_parameters():
    a = count_parameters(get_model("resnet20", shortcut="A"))
    b = count_parameters(get_model("resnet20", shortcut="B"))
    # Two projections: 16->32 and 32->64 (1x1 conv + batch norm each).
    assert b - a == (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)


def test_residual_flag_removes_the_addition():
    torch.manual_seed(0)
    model = get_model("mlp_residual", depth=3)
    plain = get_model("mlp_residual", depth=3, residual=False)
    plain.load_state_dict(model.state_dict())
    x = torch.randn(4, 1, 28, 28)
    assert not torch.allclose(model(x), plain(x))
    block = model.blocks[0]
    h = torch.randn(4, 64)
    assert torch.allclose(block(h), h + block.act(block.fc(h)))


def test_model_info_reports_family_depth_and_twin():
    info = model_info("resnet56")
    assert (info.family, info.depth, info.parameters, info.skips, info.twin) == (
        "cifar-resnet", 56, 853_018, "add", "plain56")
    assert model_info("densenet").skips == "concat"
    assert model_info("plain20").skips == "no"
    assert twin_pair("plain20").residual == "resnet20"


@pytest.mark.parametrize("norm", ["batch", "group", "layer", "none"])
@pytest.mark.parametrize("act", ["relu", "gelu", "tanh", "sigmoid"])
def test_norm_and_activation_options(norm, act):
    model = get_model("resnet20", norm=norm, activation=act)
    kinds = {type(m).__name__ for m in model.modules()}
    assert {"relu": "ReLU", "gelu": "GELU", "tanh": "Tanh", "sigmoid": "Sigmoid"}[act] in kinds
    if norm == "batch":
        assert "BatchNorm2d" in kinds
    elif norm in ("group", "layer"):
        assert "GroupNorm" in kinds and "BatchNorm2d" not in kinds
    else:
        assert not kinds & {"BatchNorm2d", "GroupNorm"}
    model(torch.randn(2, 3, 32, 32)).sum().backward()


def test_layer_norm_is_one_group():
    model = get_model("resnet20", norm="layer")
    assert all(m.num_groups == 1 for m in model.modules() if isinstance(m, nn.GroupNorm))


def test_zero_init_residual_zeroes_last_norm_of_each_branch():
    model = get_model("resnet20", zero_init_residual=True)
    for name, module in model.named_modules():
        if name.endswith(".bn2"):
            assert torch.count_nonzero(module.weight) == 0
        elif name.endswith(".bn1"):
            assert torch.all(module.weight == 1)


@pytest.mark.parametrize("init", ["kaiming", "xavier"])
def test_init_options_change_the_weights(init):
    torch.manual_seed(1)
    default = get_model("plain20")
    torch.manual_seed(1)
    other = get_model("plain20", init=init)
    assert not torch.equal(default.conv1.weight, other.conv1.weight)
    std = other.layer1[0].conv1.weight.std().item()
    assert 0.01 < std < 0.5


def test_width_classes_channels_and_size_options():
    model = get_model("resnet20", width=8, num_classes=7, in_channels=1)
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 7)
    assert model.conv1.out_channels == 8
    mlp = get_model("mlp_plain", input_size=8, in_channels=3, depth=4)
    assert mlp.fc_in.in_features == 3 * 8 * 8 and len(mlp.blocks) == 4


def test_seed_models_follow_the_documents():
    mnist = get_model("mnist_resnet")
    assert mnist.conv1.out_channels == 32 and mnist.fc.in_features == 32 * 28 * 28
    small = get_model("cifar_small_resnet")
    widths = [block.conv2.out_channels for stage in (small.layer1, small.layer2) for block in stage]
    assert widths == [64, 64, 128, 128]
    assert small.layer2[0].conv1.stride == (2, 2) and small.layer2[0].downsample is not None
    assert small.layer1[0].downsample is None


@pytest.mark.parametrize("name,options,message", [
    ("resnet21", {}, "did you mean"),
    ("resnet20", {"depth": 21}, r"not 6n\+2"),
    ("resnet20", {"norm": "batchnorm"}, "norm='batchnorm' is not one of"),
    ("resnet20", {"widht": 8}, "did you mean width"),
    ("resnet20", {"width": "wide"}, "should be a int"),
    ("resnet18", {"depth": 19}, "is not one of"),
    ("resnet20", {"shortcut": "C"}, "shortcut='C'"),
    ("densenet", {"depth": 41}, "does not split"),
])
def test_impossible_options_give_clear_errors(name, options, message):
    with pytest.raises(ResvizError, match=message):
        get_model(name, **options)


def test_model_spec_round_trips_through_json_and_rebuilds_exactly():
    torch.manual_seed(0)
    model = get_model("resnet20", norm="group", width=8)
    spec = model.resviz_spec
    again = ModelSpec.from_json(spec.to_json())
    assert again == spec and again.options == {"norm": "group", "width": 8}
    rebuilt = rebuild_model(again)
    assert [(n, p.shape) for n, p in rebuilt.named_parameters()] == [(n, p.shape) for n, p in model.named_parameters()]


def test_model_spec_rejects_bad_json():
    with pytest.raises(ResvizError, match="not valid JSON"):
        ModelSpec.from_json("{nope")
    with pytest.raises(ResvizError, match="no model name"):
        ModelSpec.from_json("{}")
