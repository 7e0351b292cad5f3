"""The window's model choice: which twin is shown as the residual one, and where weights go."""

from __future__ import annotations

import torch

from resviz.models import get_model, save_weights
from resviz.views.model_choice import ModelChoice, load_choice

TINY = {"depth": 8, "width": 4, "input_size": 8}


def test_either_twin_named_shows_the_residual_one_first():
    for named in ("plain20", "resnet20"):
        choice = ModelChoice(named, {"norm": "none"}, twin=True)
        assert (choice.twin_pair().residual, choice.twin_pair().plain) == ("resnet20", "plain20")
        assert choice.label() == "resnet20 vs plain20 (norm=none)"
    assert ModelChoice("plain20", twin=False).twin_pair() is None
    assert ModelChoice("simple_cnn", twin=True).twin_pair() is None  # no twin: shown alone
    assert ModelChoice("simple_cnn", twin=True).label() == "simple_cnn"


def test_weights_load_into_the_twin_the_user_named(tmp_path):
    torch.manual_seed(0)
    plain = get_model("plain20", **TINY)
    weights = tmp_path / "plain.safetensors"
    save_weights(plain, weights)
    loaded = load_choice(ModelChoice("plain20", dict(TINY), twin=True, weights=str(weights)))
    assert loaded.main.spec.name == "resnet20" and loaded.main.weights is None
    assert loaded.plain is not None and loaded.plain.spec.name == "plain20" and loaded.plain.weights.ok
    torch.testing.assert_close(loaded.plain.model.state_dict()["fc.weight"], plain.state_dict()["fc.weight"])


def test_only_files_whose_loading_can_run_code_need_trust():
    assert ModelChoice("model.py:build", twin=False).needs_trust
    assert ModelChoice("exported.pt2", twin=False).needs_trust  # torch.export.load unpickles
    onnx_choice = ModelChoice("graph.onnx", twin=False)
    assert onnx_choice.is_user_file and not onnx_choice.needs_trust  # read, never run
    assert not ModelChoice("resnet20").needs_trust
