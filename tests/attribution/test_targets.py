"""Targets are checked before any method runs, and a model that fails gives one line, not a traceback."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from resviz.attribution import attribute, predict
from resviz.cli import main
from resviz.errors import ResvizError


class ReusedRelu(nn.Module):
    """torchvision's habit: one ``self.relu`` called twice, so attribution gives each call its own copy."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(4, 5)
        self.input_shape = (3, 8, 8)

    def forward(self, x):
        x = self.relu(self.conv1(x))
        x = self.relu(self.conv2(x))
        return self.fc(x.mean((2, 3)))


X = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
OUT_OF_RANGE = r"^target class {} is out of range: the model has 5 outputs \(0 to 4\)$"


@pytest.mark.parametrize("method", ["integrated_gradients", "saliency", "grad_cam"])
def test_a_target_out_of_range_is_named_after_an_earlier_attribution(method):
    model = ReusedRelu().eval()
    attribute(model, X, None, "deeplift")  # gives the reused ReLU its call sites
    with pytest.raises(ResvizError, match=OUT_OF_RANGE.format(99)):
        attribute(model, X, 99, method)
    assert attribute(model, X, 4, method).target.tolist() == [4, 4]  # and the model still works


@pytest.mark.parametrize("method", ["saliency", "grad_cam", "occlusion"])
@pytest.mark.parametrize("target", [-1, [-1], torch.tensor([-1]), np.int64(-1)])
def test_negative_targets_are_refused_not_counted_from_the_end(method, target):
    with pytest.raises(ResvizError, match=OUT_OF_RANGE.format(-1)):
        attribute(ReusedRelu().eval(), X[:1], target, method)


def test_a_model_that_fails_gives_one_line_naming_the_module():
    class Broken(ReusedRelu):
        def forward(self, x):
            return self.fc(self.conv2(x).mean((2, 3)))  # conv2 takes 4 channels; the input has 3

    for run in (lambda: attribute(Broken().eval(), X, 1, "saliency"), lambda: predict(Broken().eval(), X)):
        with pytest.raises(ResvizError, match=r"^the model failed on inputs of shape \(2, 3, 8, 8\): conv2 expects 4 "
                                              r"input channels, got 3"):
            run()


def test_the_command_line_refuses_a_negative_target_for_image_files(tmp_path, capsys):
    image = tmp_path / "cat.png"
    Image.fromarray(np.full((8, 8, 3), 128, np.uint8)).save(image)
    code = main(["attribute", "resnet20", "-o", "depth=8", "-o", "width=4", "-o", "input_size=8", "--images",
                 str(image), "--target", "-1", "-m", "saliency", "--out", str(tmp_path / "a.png")])
    assert code == 2
    assert capsys.readouterr().err == ("resviz: error: target class -1 is out of range: the model has 10 outputs "
                                       "(0 to 9)\n")
    assert not (tmp_path / "a.png").exists()


@pytest.mark.parametrize("argv,message", [
    (["-m", "ig", "-O", "n_steps=abc"], "integrated_gradients: option n_steps='abc' must be a whole number of at least 1"),
    (["-m", "smoothgrad", "-O", "stdevs=-1"], "smoothgrad: option stdevs=-1 must be a number of at least 0"),
    (["-m", "saliency", "-O", "abs=maybe"], "saliency: option abs='maybe' must be true or false"),
    (["-m", "occlusion", "-O", "window=a,b"], "method option window=a,b must be a size in pixels or HEIGHT,WIDTH"),
    (["-m", "ig", "-O", "integration=simpson"], "integrated_gradients: option integration='simpson' is not one of"),
])
def test_bad_method_options_are_one_line_before_anything_runs(tmp_path, capsys, argv, message):
    code = main(["attribute", "resnet20", "-o", "depth=8", "-o", "width=4", "-o", "input_size=8", "--images", "1",
                 *argv, "--out", str(tmp_path / "a.png")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"resviz: error: {message}") and err.count("\n") == 1


def test_integrated_gradients_takes_its_integration_rule():
    model = ReusedRelu().eval()
    result = attribute(model, X, 1, "ig", integration="riemann_left", n_steps=4)
    assert result.options["integration"] == "riemann_left" and result.maps.shape == (2, 8, 8)
