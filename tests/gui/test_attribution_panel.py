from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from PySide6.QtGui import QColor, QImage
from torch import nn

from resviz.attribution import attribute
from resviz.errors import ResvizError
from resviz.gui.attribution_panel import AttributionPanel
from resviz.gui.workers_tasks import running_tasks
from resviz.models import get_model


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return get_model("simple_cnn", width=4, input_size=16)  # (3, 16, 16), spatial layers features.*


class SlowNet(nn.Module):
    """A tiny model whose forward passes take a while and are counted."""

    input_shape = (3, 16, 16)
    calls = 0

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 6)

    def forward(self, x):
        type(self).calls += 1
        time.sleep(0.15)
        return self.fc(self.pool(torch.relu(self.conv(x))).flatten(1))


@pytest.fixture
def panel(qtbot):
    widget = AttributionPanel()
    qtbot.addWidget(widget)
    widget.resize(1200, 800)
    yield widget
    widget.shutdown()
    assert running_tasks() == []


def load(panel, qtbot, model, title="tiny"):
    with qtbot.waitSignal(panel.samples_ready, timeout=30000):
        panel.set_model(model, None, title)


def model_input(grid) -> torch.Tensor:
    return torch.from_numpy(np.stack(grid.inputs)).permute(0, 3, 1, 2).float() / 255.0


def test_saliency_and_grad_cam_grid(panel, qtbot):
    model = tiny_model()
    load(panel, qtbot, model)
    assert len(panel.sample_names()) == 24 and panel.selected_samples() == [0, 1, 2, 3]
    panel.set_methods(["saliency", "grad_cam"])
    panel.set_layer("features.1.3")
    with qtbot.waitSignal(panel.run_finished, timeout=60000):
        assert panel.run()
    grid = panel.grid_result
    assert grid.shape == (4, 2)
    assert [c.label for c in grid.columns] == ["Saliency", "Grad-CAM (features.1.3)"]
    assert all(c.error is None for c in grid.columns)
    # The maps are Captum's, through the core's attribute(), on the images shown.
    x = model_input(grid)
    expected = attribute(model, x, method="saliency").maps
    np.testing.assert_allclose(np.stack([p.map for p in grid.columns[0].panels]), expected, rtol=1e-5, atol=1e-7)
    cam = attribute(model, x, method="grad_cam", layer="features.1.3").maps
    np.testing.assert_allclose(np.stack([p.map for p in grid.columns[1].panels]), cam, rtol=1e-5, atol=1e-7)
    assert grid.row_labels[0].endswith("circle") and grid.row_caption(0).startswith("pred ")
    # Drawing settings re-render the kept maps; nothing is recomputed.
    before = panel.grid_view.pictures[0][0].copy()
    panel.set_display(sign="all", cmap="viridis", overlay=False)
    assert panel.grid_result is grid
    assert panel.grid_view.pictures[0][0] != before
    panel.set_display(clip_percentile=5.0)
    assert panel.draw_settings().clip_percentile == 5.0
    assert panel.grid_view.grab().width() > 0


def test_layer_slot_follows_the_architecture_view(panel, qtbot):
    from resviz.gui.architecture_view import ArchitectureView

    load(panel, qtbot, tiny_model())
    view = ArchitectureView()
    qtbot.addWidget(view)
    view.module_selected.connect(panel.set_layer)
    view.module_selected.emit("features.0.3")
    assert panel.layer() == "features.0.3"
    panel.set_layer("")
    assert panel.layer() == ""


def test_a_failing_method_reports_why_and_others_still_draw(panel, qtbot):
    load(panel, qtbot, tiny_model())
    panel.set_methods(["saliency", "grad_cam"])
    panel.set_layer("features.9")
    with qtbot.waitSignal(panel.run_finished, timeout=60000):
        panel.run()
    saliency, cam = panel.grid_result.columns
    assert saliency.error is None and len(saliency.panels) == 4
    assert "no layer 'features.9'" in cam.error
    assert "features.9" in panel.status.text()


def test_cancel_stops_a_long_integrated_gradients_run(panel, qtbot):
    load(panel, qtbot, SlowNet(), "slow")
    panel.set_methods(["integrated_gradients"])
    panel.ig_steps.setValue(400)
    SlowNet.calls = 0
    cancelled = []
    panel.run_cancelled.connect(lambda: cancelled.append(True))
    assert panel.run() and panel.is_busy() and panel.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: SlowNet.calls >= 2, timeout=30000)  # a few chunks of the path are done
    panel.cancel()
    assert cancelled == [True] and not panel.is_busy()
    qtbot.waitUntil(lambda: running_tasks() == [], timeout=30000)
    # Ten chunks (and a prediction) would have run; the worker stopped at the next forward pass.
    assert SlowNet.calls <= 5
    assert panel.grid_result is None and panel.status.text() == "Cancelled."
    assert panel.run_button.isEnabled() and not panel.cancel_button.isEnabled()


def test_export_png(panel, qtbot, tmp_path):
    load(panel, qtbot, tiny_model())
    panel.set_methods(["saliency"])
    with pytest.raises(ResvizError, match="nothing to export"):
        panel.export_png(tmp_path / "empty.png")
    panel.select_samples([0, 5])
    with qtbot.waitSignal(panel.run_finished, timeout=60000):
        panel.run()
    assert panel.export_button.isEnabled()
    path = panel.export_png(tmp_path / "grid.png", cell=64)
    image = QImage(str(path))
    assert not image.isNull()
    assert image.width() > 3 * 64 and image.height() > 2 * 64
    assert image.pixelColor(2, 2) == QColor("#FFFFFF")
    with pytest.raises(ResvizError, match=".png"):
        panel.export_png(tmp_path / "grid.jpg")


def test_image_files_and_models_side_by_side(panel, qtbot, tmp_path):
    picture = QImage(40, 30, QImage.Format.Format_RGB32)
    picture.fill(QColor("#3366CC"))
    picture.save(str(tmp_path / "blue.png"))
    with qtbot.waitSignal(panel.samples_ready, timeout=30000):
        panel.set_models({"residual": tiny_model(), "plain": tiny_model()})
    assert panel.source_choices() == ["residual", "plain", "all side by side"]
    panel.add_image_files([tmp_path / "blue.png"])
    assert panel.sample_names()[0] == "blue.png"
    assert panel.selected_samples() == [0, 1, 2, 3, 4]
    assert "resized 30x40 to 16x16" in panel.status.text()
    panel.choose_source("all side by side")
    panel.set_methods(["saliency", "input_x_gradient"])
    with qtbot.waitSignal(panel.run_finished, timeout=60000):
        panel.run()
    grid = panel.grid_result
    assert grid.shape == (5, 4)
    assert [c.label for c in grid.columns] == ["residual · Saliency", "residual · Input x Gradient",
                                               "plain · Saliency", "plain · Input x Gradient"]
    assert grid.row_labels[0] == "blue.png"
    panel.target_box.setCurrentIndex(panel.target_box.findData("label"))
    assert not panel.run()  # an image file has no true class
    assert "unknown" in panel.status.text()


def test_run_checkpoints_across_training(panel, qtbot, tmp_path):
    from resviz.runfile import RunWriter

    model = tiny_model()
    path = tmp_path / "tiny.resviz"
    with RunWriter(path, model_spec=model.resviz_spec, config={"dataset": "shapes", "normalize": False},
                   layer_ids=[], block_ids=[], classes=["circle"]) as writer:
        for step in (10, 20, 30):
            with torch.no_grad():
                for p in model.parameters():
                    p.mul_(1.1)
            writer.add_checkpoint(step, 0, model.state_dict())
    with qtbot.waitSignal(panel.samples_ready, timeout=30000):
        panel.set_run(path)
    assert panel.checkpoint() == 30
    assert panel.source_choices()[:3] == ["checkpoint at step 30", "checkpoint at step 20", "checkpoint at step 10"]
    panel.choose_source("across training (3 checkpoints)")
    panel.set_methods(["saliency"])
    panel.select_samples([0, 1])
    with qtbot.waitSignal(panel.run_finished, timeout=60000):
        panel.run()
    grid = panel.grid_result
    assert [c.source for c in grid.columns] == ["simple_cnn step 10", "simple_cnn step 20", "simple_cnn step 30"]
    maps = [np.stack([p.map for p in c.panels]) for c in grid.columns]
    assert not np.allclose(maps[0], maps[2])  # different weights, different maps
    with pytest.raises(ResvizError, match="no checkpoint at step 99"):
        panel.set_run(path, step=99)


def test_every_method_option_shows_as_a_control_that_writes_the_request(panel):
    from PySide6.QtWidgets import QCheckBox, QComboBox

    from resviz.attribution import METHODS

    panel.show()
    for name, info in METHODS.items():
        panel.method_checks[name].setChecked(True)  # the user ticks the method
        assert name in panel.request.methods
        for option in info.options:
            control = panel.options_editor.control(name, option)
            assert control.isVisible(), (name, option)
    panel.set_methods(["saliency"])
    assert not panel.options_editor.control("smoothgrad", "nt_samples").isVisible()
    # A control writes the request; the request moves the control.
    panel.nt_samples.setValue(37)
    assert panel.request.option("smoothgrad", "nt_samples") == 37
    abs_box = panel.options_editor.control("saliency", "abs")
    assert isinstance(abs_box, QCheckBox) and abs_box.isChecked()
    panel.request.set_option("saliency", "abs", False)
    assert not abs_box.isChecked()
    mode = panel.options_editor.control("grad_cam", "interpolate_mode")
    assert isinstance(mode, QComboBox)
    mode.setCurrentText("nearest")
    assert panel.request.method_options() == {"saliency": {"abs": False}}  # grad_cam is not chosen
    panel.set_methods(["grad_cam"])
    assert panel.request.method_options() == {"grad_cam": {"interpolate_mode": "nearest"}}
    window = panel.options_editor.control("occlusion", "window")
    assert window.text() == "auto" and panel.request.option("occlusion", "window") is None
    window.setValue(4)
    assert panel.request.option("occlusion", "window") == 4


def test_the_panel_shows_the_request_it_is_given_and_follows_it(qtbot):
    from resviz.views import AttributionRequest

    request = AttributionRequest(methods=["smoothgrad"])
    request.set_option("smoothgrad", "nt_samples", 12)
    panel = AttributionPanel(request)
    qtbot.addWidget(panel)
    assert panel.request is request and panel.methods() == ["smoothgrad"]
    assert panel.method_checks["smoothgrad"].isChecked() and not panel.method_checks["saliency"].isChecked()
    assert panel.nt_samples.value() == 12
    layers = []
    panel.layer_changed.connect(layers.append)
    request.layer = "features.1"
    request.target = "label"
    request.use_method("saliency")
    assert panel.layer_box.currentText() == "features.1" and layers == ["features.1"]
    assert panel.target_box.currentData() == "label"
    assert panel.method_checks["saliency"].isChecked() and panel.run_button.isEnabled()
    assert not panel.run() and panel.status.text() == "No model: open one in the window first."
    panel.shutdown()


def write_checkpointed_run(path, model, steps=(10, 20)) -> None:
    from resviz.runfile import RunWriter

    with RunWriter(path, model_spec=model.resviz_spec, config={"dataset": "shapes", "normalize": False},
                   layer_ids=[], block_ids=[], classes=["circle"]) as writer:
        for step in steps:
            writer.add_checkpoint(step, 0, model.state_dict())


def test_trained_twins_side_by_side_on_the_same_samples(panel, qtbot, tmp_path):
    torch.manual_seed(0)
    residual = get_model("resnet20", norm="none", width=4, input_size=16)
    plain = get_model("plain20", norm="none", width=4, input_size=16)
    write_checkpointed_run(tmp_path / "residual.resviz", residual, steps=(10, 20))
    write_checkpointed_run(tmp_path / "plain.resviz", plain, steps=(10, 30))
    panel.show()
    with qtbot.waitSignal(panel.samples_ready, timeout=30000):
        panel.set_runs([tmp_path / "residual.resviz", tmp_path / "plain.resviz"])
    assert panel.request.source == "runs"  # both at once, chosen for the user
    # Only layers Grad-CAM can use, of this model: no norm layers in a model without them.
    layers = panel.explain_box.layer_names()
    assert layers and all("bn" not in name for name in layers) and "fc" not in layers
    assert panel.explain_box.layer_hint.isVisible() and "Architecture" in panel.explain_box.layer_hint.text()
    panel.set_methods(["saliency"])
    assert not panel.layer_box.isEnabled()  # saliency explains no layer
    panel.set_methods(["saliency", "grad_cam"])
    assert panel.layer_box.isEnabled()
    panel.samples_box.pick_one_per_class()
    chosen = panel.selected_samples()
    pool = panel.samples_box.all_samples()
    assert sorted(int(pool.labels[i]) for i in chosen) == list(range(len(pool.classes)))  # every class, once
    with qtbot.waitSignal(panel.run_started, timeout=10000):
        panel.run()
    assert "Computing" in panel.grid_view.placeholder  # the empty grid says what is happening
    qtbot.waitSignal(panel.run_finished, timeout=120000).wait()
    grid = panel.grid_result
    assert [c.source for c in grid.columns] == ["resnet20 step 20", "resnet20 step 20", "plain20 step 30", "plain20 step 30"]
    assert len(grid.columns[0].panels) == len(chosen) == len(grid.columns[2].panels)  # the same samples
    assert "Pick samples" in panel.grid_view.placeholder
    with pytest.raises(ResvizError, match="no run given"):
        panel.set_runs([])


def test_the_grid_grows_to_fill_a_large_panel(panel, qtbot):
    load(panel, qtbot, tiny_model())
    panel.set_methods(["saliency"])
    panel.select_samples([0])
    with qtbot.waitSignal(panel.run_finished, timeout=60000):
        panel.run()
    panel.show()
    panel.resize(1600, 1000)
    qtbot.wait(50)
    assert panel.grid_view.cell_size() > 224  # more than the old fixed cap: one sample fills the space
