"""The window opens ONNX files without asking for trust (nothing runs) and picks model files."""

import warnings

import pytest
import torch

from resviz.models import get_model
from resviz.views.model_choice import ModelChoice

pytest.importorskip("onnx", reason="the onnx package is not installed")


def test_an_onnx_file_opens_without_a_trust_dialog_and_is_drawn(qtbot, make_window, tmp_path):
    path = tmp_path / "small.onnx"
    model = get_model("resnet20", depth=8, width=4, input_size=8).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(1, 3, 8, 8),), str(path), dynamo=False)
    window = make_window()
    window.open_model_choice(ModelChoice(str(path), twin=False))
    assert window._trust_dialog is None
    qtbot.waitUntil(lambda: window.loaded is not None and window.loaded.choice.reference == str(path),
                    timeout=30_000)
    assert window.loaded.main.input_shape == (3, 8, 8)


def test_the_picker_takes_model_files_without_a_factory(make_window):
    window = make_window()
    picker = window.show_model_picker()
    picker.tabs.setCurrentIndex(1)
    picker.file_field.setText("exported.pt2")
    picker.factory_field.setText("build")  # a factory means nothing to a model file
    assert picker.choice().reference == "exported.pt2"
    picker.file_field.setText("model.py")
    assert picker.choice().reference == "model.py:build"
    picker.reject()
