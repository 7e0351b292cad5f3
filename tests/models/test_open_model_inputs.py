"""``open_model`` checks the input shape a user's model declares before anything is sized by it."""

from __future__ import annotations

import pytest

from resviz.cli import main
from resviz.errors import ResvizError
from resviz.models import open_model

MODEL = '''
import numpy as np
from torch import nn


def build(shape):
    model = nn.Sequential(nn.Flatten(), nn.LazyLinear(6))
    model.input_shape = tuple(shape) if isinstance(shape, list) else shape
    return model


def numpy_shape():
    model = nn.Sequential(nn.Flatten(), nn.Linear(48, 6))
    model.input_shape = np.array([3, 4, 4])
    return model
'''


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "shaped.py"
    path.write_text(MODEL)
    return path


@pytest.mark.parametrize("shape", [[3, -1, -1], "abc", [3, 2.5, 2], 5])
def test_a_nonsense_declared_input_shape_is_one_line(model_file, shape):
    with pytest.raises(ResvizError, match=r"the model's input_shape .* must be positive whole sizes"):
        open_model(f"{model_file}:build", {"shape": shape}, trust=True)


def test_sizes_of_any_integer_type_are_accepted(model_file):
    assert open_model(f"{model_file}:numpy_shape", trust=True).input_shape == (3, 4, 4)


def test_the_command_line_says_which_shape_is_wrong(model_file, tmp_path, capsys):
    code = main(["train", f"{model_file}:build", "--trust", "-o", "shape=-3", "--out", str(tmp_path / "r.resviz")])
    assert code == 2
    assert capsys.readouterr().err == (f"resviz: error: {model_file}:build: the model's input_shape -3 must be "
                                       "positive whole sizes such as (3, 32, 32); give one with --input-shape C,H,W\n")
