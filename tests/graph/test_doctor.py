import pytest
import torch
from torch import nn

from resviz.graph import ForwardError, ShapeError, diagnose, explain_forward_error, trace_graph
from resviz.graph.doctor import explain_failure
from resviz.graph.hooks import hook_count
from resviz.models import get_model

from .seed_models import (
    IdentityShortcutBlock,
    RaisesInForward,
    ResNetBlock,
    SimpleResBlock,
    StackedBlocks,
    StridedBlock,
)

SEED_MESSAGE = ("ResNetBlock: add of (1, 128, 32, 32) and (1, 64, 32, 32) fails: the shortcut carries 64 channels but "
                "the branch gives 128; fix: add a 1x1 projection: nn.Conv2d(64, 128, kernel_size=1, stride=1) (+ norm) "
                "on the shortcut")


def test_seed_resnet_block_64_to_128():
    model = ResNetBlock(64, 128)
    x = torch.randn(1, 64, 32, 32)
    with pytest.raises(RuntimeError, match="must match the size"):
        model(x)  # the bare error the seed shows
    with pytest.raises(ShapeError) as caught:
        trace_graph(model, x)
    assert str(caught.value) == SEED_MESSAGE
    report = caught.value.report
    assert (report.module, report.module_type, report.kind) == ("", "ResNetBlock", "merge")
    assert report.shapes == [(1, 128, 32, 32), (1, 64, 32, 32)]
    assert report.details == {"shortcut": (1, 64, 32, 32), "branch": (1, 128, 32, 32)}
    assert hook_count(model) == 0
    assert diagnose(model, x).message() == SEED_MESSAGE


def test_the_fix_has_the_matching_stride_and_names_the_block():
    report = diagnose(StridedBlock(), torch.randn(1, 64, 32, 32))
    assert "nn.Conv2d(64, 128, kernel_size=1, stride=2)" in report.fix
    assert "spatial size from 32x32 to 16x16" in report.problem
    stacked = diagnose(StackedBlocks(), torch.randn(1, 3, 32, 32))
    assert stacked.message().startswith("blocks.1 (ResNetBlock): add of")


def test_a_shortcut_that_is_an_identity_layer_is_told_apart_from_the_branch():
    block = IdentityShortcutBlock()
    block.conv = nn.Conv2d(4, 8, 3, padding=1)  # the branch now widens, the Identity shortcut cannot follow
    report = diagnose(block, torch.randn(1, 4, 6, 6))
    assert report.details == {"shortcut": (1, 4, 6, 6), "branch": (1, 8, 6, 6)}
    assert report.fix == "add a 1x1 projection: nn.Conv2d(4, 8, kernel_size=1, stride=1) (+ norm) on the shortcut"


def test_vector_shortcuts_get_a_linear_projection():
    class Mlp(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(16, 32)

        def forward(self, x):
            return torch.tanh(self.fc(x)) + x

    report = diagnose(Mlp(), torch.randn(2, 16))
    assert report.fix == "add a projection: nn.Linear(16, 32) on the shortcut"


def test_wrong_channel_count_of_the_input():
    with pytest.raises(ShapeError) as caught:
        trace_graph(get_model("resnet20"), torch.randn(1, 1, 32, 32))
    message = str(caught.value)
    assert message.startswith("conv1 expects 3 input channels, got 1 from the input (1, 1, 32, 32)")
    assert "give an input of shape (N, 3, 32, 32)" in message
    assert caught.value.report.kind == "input"


def test_wrong_input_size_reaches_the_classifier():
    report = diagnose(get_model("mnist_resnet"), torch.randn(1, 1, 14, 14))
    assert report.module == "fc" and report.kind == "input"
    assert report.problem == "expects 25088 input features, got 6272 from flatten (1, 6272)"
    assert report.fix.startswith("give an input of shape (N, 1, 28, 28)")


def test_a_missing_batch_dimension():
    report = diagnose(get_model("resnet20"), torch.randn(3, 32, 32))
    assert report.module == "bn1" and "expects a 4-D input" in report.problem
    assert "(N, 3, 32, 32)" in report.fix


def test_a_layer_inside_the_model_given_the_wrong_channels():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(16, 4, 3))
    report = diagnose(model, torch.randn(1, 3, 16, 16))
    assert report.message() == ("2 expects 16 input channels, got 8 from 1 (1, 8, 14, 14); fix: set "
                                "in_channels=8, or make 1 produce 16 channels")


def test_concatenation_of_different_sizes():
    class BadUNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.down = nn.Conv2d(3, 8, 3, stride=2, padding=1)

        def forward(self, x):
            return torch.cat([x, self.down(x)], 1)

    report = diagnose(BadUNet(), torch.randn(1, 3, 32, 32))
    assert report.problem == "cat along dim 1 of (1, 3, 32, 32), (1, 8, 16, 16) fails: sizes differ in dim 2, 3"
    assert report.fix.startswith("resize the skip to 16x16")


def test_working_models_have_nothing_to_report():
    assert diagnose(SimpleResBlock(), torch.ones(1, 3, 5, 5)) is None
    assert diagnose(get_model("resnet20")) is None


def test_explain_an_exception_raised_elsewhere():
    model = ResNetBlock(64, 128)
    x = torch.randn(1, 64, 32, 32)
    try:
        model(x)
    except RuntimeError as exc:
        report = explain_forward_error(model, x, exc)
    assert report.message() == SEED_MESSAGE
    assert "must match the size of tensor b" in report.error


def test_python_errors_in_forward_name_the_module():
    with pytest.raises(ForwardError) as caught:
        trace_graph(RaisesInForward(), torch.randn(1, 4))
    assert not isinstance(caught.value, ShapeError)
    assert str(caught.value) == "body.1 (Raiser): forward raised ValueError: this layer is not finished"


def test_a_failed_forward_is_placed_from_its_traceback_without_running_again():
    model = RaisesInForward()
    calls = []
    model.body[0].register_forward_pre_hook(lambda module, args: calls.append(1))
    try:
        model(torch.randn(2, 4))
    except ValueError as exc:
        failure = explain_failure(model, exc)
    assert len(calls) == 1  # not a shape mismatch: nothing ran again to find the module
    assert (failure.module, failure.module_type, failure.report) == ("body.1", "Raiser", None)
    assert failure.message() == "body.1 (Raiser) raised ValueError: this layer is not finished"


def test_a_shape_mismatch_gets_the_diagnosis_named_from_the_models_top():
    model = StackedBlocks()
    try:
        model.blocks(torch.randn(2, 64, 8, 8))  # a submodule called directly, as a user's loop may do
    except RuntimeError as exc:
        failure = explain_failure(model, exc)
    assert failure.module == "blocks.1" and failure.report.kind == "merge"
    assert failure.message().startswith("blocks.1 (ResNetBlock): add of (2, 128, 8, 8) and (2, 64, 8, 8) fails: "
                                        "the shortcut carries 64 channels but the branch gives 128; fix: ")
    assert hook_count(model) == 0


def test_errors_from_outside_the_model_are_not_placed_in_it():
    model = StackedBlocks()
    try:
        raise RuntimeError("The size of tensor a (3) must match the size of tensor b (4)")
    except RuntimeError as exc:
        assert explain_failure(model, exc) is None
