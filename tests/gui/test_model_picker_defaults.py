"""The model picker's defaults match the demo; the window title follows what is shown."""

from __future__ import annotations

from pathlib import Path

from resviz.benchmarks.synthetic import write_synthetic_run
from resviz.gui.main_window import TABS
from resviz.gui.model_picker import ModelPicker
from resviz.views.model_choice import ModelChoice


def test_the_picker_starts_from_the_demo_and_the_data_set(qtbot):
    picker = ModelPicker(ModelChoice("resnet20", {}, twin=True), dataset="shapes")
    qtbot.addWidget(picker)
    picker.select_zoo_model("resnet56")
    editors = picker.options_form.editors
    assert editors["norm"].currentText() == ModelChoice.embedded_default().options["norm"]
    assert editors["num_classes"].value() == 6  # the shapes data set's classes
    choice = picker.choice()
    # The demo's model, as the demo opens it; the classes are left to training to fit, so another
    # data set still trains.
    assert choice.options == {"norm": "none"}
    editors["num_classes"].setValue(4)
    assert picker.choice().options == {"norm": "none", "num_classes": 4}
    picker.dataset = "cifar100"
    picker.select_zoo_model("resnet20")
    assert picker.options_form.editors["num_classes"].value() == 100


def test_the_title_follows_the_tab_and_the_runs_shown(qtbot, make_window, tmp_path):
    folder: Path = tmp_path / "runs"
    residual, plain = folder / "title-residual.resviz", folder / "title-plain.resviz"
    write_synthetic_run(residual, steps=30, residual=True, twin=plain)
    write_synthetic_run(plain, steps=30, residual=False, twin=residual)
    window = make_window(open_default=True, tab="architecture")
    qtbot.waitUntil(lambda: window.loaded is not None, timeout=30_000)
    assert window.windowTitle().startswith("resnet20 vs plain20 (norm=none)")
    window.open_run_file(residual)
    qtbot.waitUntil(lambda: len(window.comparison) == 2, timeout=10_000)
    assert window.tabs.currentIndex() == TABS.index("training")
    assert "title-residual" in window.windowTitle()
    window.tabs.setCurrentIndex(TABS.index("architecture"))
    assert "title-" not in window.windowTitle()  # the architecture tab shows the model
    window.comparison.clear()
    window.tabs.setCurrentIndex(TABS.index("training"))
    assert "title-" not in window.windowTitle()  # no run shown: no run named
