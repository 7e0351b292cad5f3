"""Which layers the window counts as weight layers, and whether a run's model has skips: what the
run file says, without a model."""

from __future__ import annotations

import pytest

from resviz.gui.run_data import is_residual, weight_layer_mask
from resviz.models import resolve
from resviz.models.spec import ModelSpec
from resviz.runfile import RunStructure

from gui_support import make_info


def test_weight_layers_come_from_the_run_file_without_rebuilding_the_model(monkeypatch):
    def never(*args, **kwargs):
        pytest.fail("the model was rebuilt although the run file says what each layer is")

    monkeypatch.setattr(resolve, "rebuild_model", never)
    info = make_info("r", "resnet20", layers=4)
    info.layer_ids = ["conv1", "bn1", "act", "fc"]
    # Names alone would call "act" a weight layer; the run file knows it holds only a vector.
    info.structure = RunStructure(layer_kinds=["weight", "norm", "other", "weight"], block_layers=[[], [], []])
    assert weight_layer_mask(info).tolist() == [True, False, False, True]


def test_a_run_file_without_layer_kinds_falls_back_to_the_rebuilt_zoo_model_or_names():
    info = make_info("old", "resnet20", layers=3)
    info.layer_ids = ["conv1", "layer1.0.bn1", "fc"]  # resnet20's own modules: looked up on the meta device
    assert info.structure is None and weight_layer_mask(info).tolist() == [True, False, True]
    info.model_spec = ModelSpec("model.py:build")  # a user's model is never run to tell: names decide
    info.layer_ids = ["stem.conv", "stem.bn", "head"]
    assert weight_layer_mask(info).tolist() == [True, False, True]


def test_a_users_model_has_skips_when_the_run_file_says_a_block_holds_one():
    user = ModelSpec("model.py:build")
    with_skip = RunStructure(["weight"], [[], []], block_skips=[None, "projection"])
    assert is_residual(user, with_skip) is True
    # No skip in any block, or nothing recorded: still unknown (a skip may sit outside the blocks).
    assert is_residual(user, RunStructure(["weight"], [[]], block_skips=[None])) is None
    assert is_residual(user, RunStructure(["weight"], [[]])) is None and is_residual(user) is None
    # The zoo's registry decides for its own models.
    assert is_residual(ModelSpec("plain20"), with_skip) is False and is_residual(ModelSpec("resnet20")) is True
