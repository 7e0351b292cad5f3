"""The model picker starts from the demo's choices and the data set's classes (Qt-free part)."""

from __future__ import annotations

from resviz.data import class_count
from resviz.models import model_entry
from resviz.views.model_choice import ModelChoice, picker_options


def test_picker_options_follow_the_demo_and_the_data_set():
    demo = ModelChoice.embedded_default()
    options = picker_options(demo.reference, "shapes")
    assert all(options[key] == value for key, value in demo.options.items())  # norm as the demo opens it
    assert options["num_classes"] == 6 != model_entry(demo.reference).defaults["num_classes"]
    assert picker_options("resnet56", "cifar100")["num_classes"] == 100
    assert picker_options("resnet56", "CIFAR10")["num_classes"] == 10
    assert picker_options("resnet56")["num_classes"] == model_entry("resnet56").defaults["num_classes"]


def test_class_counts_of_the_built_in_data_sets():
    assert [class_count(name) for name in ("shapes", "mnist", "fashion-mnist", "cifar10", "cifar100")] == \
        [6, 10, 10, 10, 100]
    assert class_count("my-folder") is None
