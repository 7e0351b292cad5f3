"""Model options out of range, or asking for more memory than the machine has, are refused in one line before
anything is built."""

from __future__ import annotations

import pytest
import torch

from resviz.cli import main
from resviz.errors import ResvizError
from resviz.models import get_model, open_model
from resviz.models.registry import OPTION_RANGES, count_parameters


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and len(text) < 400, text
    return text


@pytest.mark.parametrize("name, option, value", [
    ("resnet20", "width", 100_000),
    ("resnet20", "depth", 10**6 + 4),
    ("resnet20", "num_classes", 10**9),
    ("mlp_plain", "input_size", 100_000),
    ("densenet", "growth_rate", 5000),
    ("densenet", "blocks", 100),
    ("resnet20", "width", 0),
])
def test_numeric_options_outside_their_range_name_the_option(name, option, value):
    with pytest.raises(ResvizError) as caught:
        get_model(name, **{option: value})
    low, high = OPTION_RANGES[option]
    assert one_line(caught.value) == (f"{name}: option {option}={value} must be at least {low}" if value < low else
                                      f"{name}: option {option}={value} is out of range: it must lie between {low} "
                                      f"and {high}")


def test_inputs_too_large_per_sample_are_refused():
    with pytest.raises(ResvizError, match=r"resnet20: options in_channels=1024, input_size=2048 make inputs of "
                                          r"4,294,967,296 values, more than the 16,777,216 resviz accepts"):
        get_model("resnet20", in_channels=1024, input_size=2048)


def test_a_model_too_large_for_this_machine_is_refused_before_it_is_built(monkeypatch):
    # resnet20 at width 4000 has 16.7 billion parameters: the old code went to the allocator with them.
    built = []
    monkeypatch.setattr(torch.nn.Conv2d, "reset_parameters",
                        lambda self: built.append(self.weight.device.type))  # on the meta device only
    with pytest.raises(ResvizError) as caught:
        get_model("resnet20", width=4000)
    assert one_line(caught.value).startswith("resnet20: option width=4000 makes a model of 16,704,612,010 "
                                             "parameters, which needs about 267 GB to train, more than 50% of "
                                             "this machine's")
    assert built and set(built) == {"meta"}


def test_the_ceiling_follows_the_machines_memory(monkeypatch):
    # 4 GB of memory: resnet20 at width 128 (17 M parameters, 274 MB to train) fits, at width 512 (274 M
    # parameters, 4.4 GB to train) it does not. mlp_plain's options multiply into its first layer.
    monkeypatch.setattr("resviz.models.registry.physical_memory", lambda: 4_000_000_000)
    assert count_parameters(get_model("resnet20", width=128)) == 17_124_490
    with pytest.raises(ResvizError, match=r"resnet20: option width=512 makes a model of 273,756,682 parameters, "
                                          r"which needs about 4.38 GB to train, more than 50% of this machine's "
                                          r"4 GB of memory"):
        get_model("resnet20", width=512)
    with pytest.raises(ResvizError, match=r"mlp_plain: options width=4096, in_channels=3, input_size=256 make a "
                                          r"model of"):
        get_model("mlp_plain", width=4096, in_channels=3, input_size=256)


def test_models_at_their_defaults_are_not_estimated(monkeypatch):
    monkeypatch.setattr("resviz.models.registry.physical_memory", lambda: 1)  # nothing would fit
    assert count_parameters(get_model("resnet20", norm="none", width=16, num_classes=10)) == 269_034
    with torch.device("meta"):  # model_info's shape-only builds are never refused
        assert count_parameters(get_model("resnet20", width=100)) > 0


def test_input_shapes_too_large_are_refused(tmp_path):
    with pytest.raises(ResvizError, match=r"resnet20: input shape 3x100000x100000 holds 30,000,000,000 values per "
                                          r"sample, more than the 16,777,216 resviz accepts"):
        open_model("resnet20", input_shape=(3, 100_000, 100_000))


def test_the_command_line_gives_one_line_for_an_impossible_width(capsys, tmp_path):
    assert main(["train", "resnet20", "-o", "width=100000", "--out", str(tmp_path / "run.resviz"), "--quiet"]) == 2
    assert capsys.readouterr().err == ("resviz: error: resnet20: option width=100000 is out of range: it must lie "
                                       "between 1 and 16384\n")
    assert not (tmp_path / "run.resviz").exists()
