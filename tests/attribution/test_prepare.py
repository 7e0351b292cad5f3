"""Models that reuse a module, run ops in place or apply nonlinearities as functions get correct
maps from the hook-based methods (or a clear refusal), never a silently wrong one."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from captum.attr import Deconvolution, DeepLift, GuidedBackprop
from torch import nn

from resviz.attribution import attribute
from resviz.attribution.prepare import CallSites, prepare_model, shared_copy
from resviz.errors import ResvizError

from .conftest import no_hooks_left

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # Captum's own notices on direct calls

CAPTUM = {"deeplift": DeepLift, "guided_backprop": GuidedBackprop, "deconvolution": Deconvolution}


class Block(nn.Module):
    """torchvision's BasicBlock pattern: one in-place ReLU module called twice, an in-place add.

    ``fresh=True`` builds the same maths with one ReLU per call and nothing in place: the
    reference a correct attribution must agree with. ``functional=True`` applies the second
    ReLU as a function instead."""

    def __init__(self, fresh: bool = False, functional: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(4, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.relu = nn.ReLU(inplace=not fresh)
        self.relu_out = nn.ReLU() if fresh else None
        self.fresh, self.functional = fresh, functional

    def forward(self, x):
        out = self.relu(self.conv1(x))
        out = self.conv2(out)
        if self.fresh:
            return self.relu_out(out + x)
        out += x
        return F.relu(out, inplace=True) if self.functional else self.relu(out)


class Net(nn.Module):
    def __init__(self, **block) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.block1 = Block(**block)
        self.block2 = Block(**block)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(4 * 4 * 4, 3)
        self.input_shape = (3, 8, 8)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.block2(self.block1(self.stem(x)))), 1))


def twins(**block):
    torch.manual_seed(0)
    reference = Net(fresh=True).eval()
    tricky = Net(**block).eval()
    tricky.load_state_dict(reference.state_dict(), strict=False)
    return reference, tricky


X = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(3))
TARGET = [1, 2]


@pytest.mark.parametrize("method", ["deeplift", "guided_backprop", "deconvolution"])
def test_reused_inplace_relu_gives_the_fresh_module_map(method):
    reference, tricky = twins()
    expected = CAPTUM[method](reference).attribute(X.clone(), target=TARGET).detach().numpy()
    result = attribute(tricky, X, TARGET, method)
    np.testing.assert_allclose(result.raw, expected, rtol=1e-5, atol=1e-7)
    assert any("block1.relu (2 calls)" in note for note in result.notes)
    assert np.abs(result.raw).max() > 0


def test_captum_alone_cannot_handle_the_reused_relu():
    # Why the prepared copy exists: DeepLift on the model as written fails.
    _, tricky = twins()
    with pytest.raises(RuntimeError, match="used more than once"):
        DeepLift(tricky).attribute(X.clone(), target=TARGET)


@pytest.mark.parametrize("method", ["deeplift", "guided_backprop", "deconvolution"])
def test_functional_relu_is_given_its_own_module(method):
    reference, tricky = twins(functional=True)
    expected = CAPTUM[method](reference).attribute(X.clone(), target=TARGET).detach().numpy()
    result = attribute(tricky, X, TARGET, method)
    np.testing.assert_allclose(result.raw, expected, rtol=1e-5, atol=1e-7)
    assert any("functional nonlinearities" in note for note in result.notes)


def test_captum_alone_silently_skips_the_functional_relu():
    reference, tricky = twins(functional=True)
    expected = GuidedBackprop(reference).attribute(X.clone(), target=TARGET).detach().numpy()
    # block*.relu is called once now, so Captum runs without complaint, and gets a different map.
    wrong = GuidedBackprop(tricky).attribute(X.clone(), target=TARGET).detach().numpy()
    assert not np.allclose(wrong, expected, atol=1e-6)


def test_the_users_model_keeps_its_modules_and_flags():
    _, tricky = twins()
    attribute(tricky, X, TARGET, "deeplift")
    assert isinstance(tricky.block1.relu, nn.ReLU) and tricky.block1.relu.inplace
    assert not any(isinstance(m, CallSites) for m in tricky.modules())
    assert no_hooks_left(tricky)


def test_prepared_copy_shares_the_weights_and_gives_each_call_its_module():
    _, tricky = twins()
    prepared = prepare_model(tricky)
    prepared.analyse(X)
    sites = prepared.model.get_submodule("block1.relu")
    assert isinstance(sites, CallSites) and sites.call_names() == ["block1.relu.call1", "block1.relu.call2"]
    assert not sites.call1.inplace and sites.call1 is not sites.call2
    assert prepared.model.get_submodule("block1.conv1").weight is tricky.block1.conv1.weight
    assert prepare_model(tricky) is prepared  # cached while the model's structure is the same
    tricky.fc = nn.Linear(16 * 4, 3)
    assert prepare_model(tricky) is not prepared


def test_grad_cam_on_a_reused_module_takes_the_graphs_call_names():
    _, tricky = twins()
    first = attribute(tricky, X, TARGET, "grad_cam", layer="block2.relu")
    assert any("block2.relu runs 2 times per forward pass" in note for note in first.notes)
    second = attribute(tricky, X, TARGET, "grad_cam", layer="block2.relu:1")
    assert second.layer == "block2.relu:1" and not np.allclose(first.raw, second.raw)
    np.testing.assert_array_equal(attribute(tricky, X, TARGET, "grad_cam", layer="block2.relu:0").raw, first.raw)
    # The second call's output is the block's output: the same map as Grad-CAM on the block.
    np.testing.assert_allclose(attribute(tricky, X, TARGET, "grad_cam", layer="block2").raw, second.raw, rtol=1e-5)
    with pytest.raises(ResvizError, match=r"'block2.relu' runs 2 times per forward pass; calls are block2.relu:0, "
                                          r"block2.relu:1"):
        attribute(tricky, X, TARGET, "grad_cam", layer="block2.relu:2")
    with pytest.raises(ResvizError, match=r"'block2.add' is not a module of the model \(a function applied in "
                                          r"block2\?\)"):
        attribute(tricky, X, TARGET, "grad_cam", layer="block2.add")
    from resviz.attribution import grad_cam_layers

    layers = grad_cam_layers(tricky)
    assert "block2.relu" in layers and "block2.relu:1" in layers and not any(".call" in n for n in layers)


def test_hooks_are_removed_when_the_model_fails():
    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.relu = nn.ReLU()
            self.calls = 0
            self.input_shape = (3, 8, 8)

        def forward(self, x):
            self.calls += 1
            if self.calls > 2:  # the probe and the prediction pass, then it breaks
                raise ValueError("boom")
            return self.relu(self.conv(x)).mean((2, 3))

    model = Broken().eval()
    with pytest.raises(ResvizError, match=r"Broken raised ValueError: boom"):  # one line naming the module
        attribute(model, X, None, "guided_backprop")
    prepared = prepare_model(model)
    assert no_hooks_left(prepared.model) and no_hooks_left(model)


def test_shared_copy_keeps_aliases_and_can_own_its_tensors():
    _, tricky = twins()
    copy = shared_copy(tricky)
    assert copy.block1 is not tricky.block1 and copy.block1.conv1.weight is tricky.block1.conv1.weight
    own = shared_copy(tricky, clone_tensors=True)
    assert own.block1.conv1.weight is not tricky.block1.conv1.weight
    assert torch.equal(own.block1.conv1.weight, tricky.block1.conv1.weight)
    aliased = nn.Sequential(nn.ReLU())
    aliased.add_module("again", aliased[0])
    twin = shared_copy(aliased)
    assert twin[0] is twin.again and twin[0] is not aliased[0]


STYLES = {
    "F.relu": lambda h: F.relu(h),
    "torch.relu": lambda h: torch.relu(h),
    "Tensor.relu": lambda h: h.relu(),
    "F.relu inplace": lambda h: F.relu(h, inplace=True),
    "relu_ statement": lambda h: (h.relu_(), h)[1],  # the return value ignored: h itself must change
}


@pytest.mark.parametrize("style", list(STYLES))
@pytest.mark.parametrize("method", ["guided_backprop", "deeplift"])
def test_every_way_of_writing_a_functional_relu(style, method):
    class Plain(nn.Module):
        def __init__(self, functional):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.relu = nn.ReLU()
            self.pool = nn.MaxPool2d(2)
            self.fc = nn.Linear(64, 3)
            self.functional = functional
            self.input_shape = (3, 8, 8)

        def forward(self, x):
            h = self.conv(x) + 0.1
            h = self.functional(h) if self.functional else self.relu(h)
            return self.fc(self.pool(h).flatten(1))

    torch.manual_seed(1)
    reference = Plain(None).eval()
    tricky = Plain(STYLES[style]).eval()
    tricky.load_state_dict(reference.state_dict())
    expected = CAPTUM[method](reference).attribute(X.clone(), target=TARGET).detach().numpy()
    result = attribute(tricky, X, TARGET, method)
    if style == "relu_ statement" and method == "deeplift":
        # The pooling reads h, a copy of the ReLU's output, not the output tensor itself. Captum's
        # module hooks then chain the pooling's multipliers into the ReLU's rule, where with
        # nn.ReLU -> nn.MaxPool2d its hook order drops them; both sum to the score difference.
        np.testing.assert_allclose(result.delta, 0.0, atol=1e-5)
        np.testing.assert_allclose(result.raw.sum((1, 2, 3)), expected.sum((1, 2, 3)), rtol=1e-4)
    else:
        np.testing.assert_allclose(result.raw, expected, rtol=1e-5, atol=1e-7)


def test_functional_max_pool_gets_deeplifts_pooling_rule():
    class Pooled(nn.Module):
        def __init__(self, functional):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.pool = nn.MaxPool2d(2)
            self.fc = nn.Linear(64, 3)
            self.functional = functional
            self.input_shape = (3, 8, 8)

        def forward(self, x):
            h = self.conv(x)
            h = F.max_pool2d(h, 2) if self.functional else self.pool(h)
            return self.fc(h.flatten(1))

    torch.manual_seed(2)
    reference = Pooled(False).eval()
    tricky = Pooled(True).eval()
    tricky.load_state_dict(reference.state_dict())
    expected = DeepLift(reference).attribute(X.clone(), target=TARGET).detach().numpy()
    np.testing.assert_allclose(attribute(tricky, X, TARGET, "deeplift").raw, expected, rtol=1e-5, atol=1e-7)
    assert not np.allclose(DeepLift(tricky).attribute(X.clone(), target=TARGET).detach().numpy(), expected)
