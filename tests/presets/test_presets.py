"""Each preset's lesson on its quick budget, checked from the run files it writes (``vanishing`` runs
in tests/test_readme.py, as the README shows it).

The margins were measured over seeds 0-2 on the quick budgets (see each assertion).
"""

import pytest

from resviz.cli import main
from resviz.errors import ResvizError
from resviz.presets import PresetOptions, get_preset, list_presets
from resviz.runfile import open_run

from digit_files import write_digit_files


def test_the_presets_are_listed(capsys):
    assert main(["demo"]) == 0
    listed = capsys.readouterr().out
    for preset in list_presets():
        assert preset.name in listed and preset.title in listed and preset.description
    assert [p.name for p in list_presets()] == ["vanishing", "degradation", "mnist", "overfitting", "metrics"]
    with pytest.raises(ResvizError, match="unknown preset 'vanish'.*did you mean vanishing"):
        get_preset("vanish")


def test_mnist_prints_like_the_seed_and_learns_from_4000_digits(tmp_path, capsys):
    data = write_digit_files(tmp_path / "mnist", n_train=4000, n_test=200)
    result = get_preset("mnist").run(tmp_path, PresetOptions(budget="quick", data_dir=str(data)))
    assert result.lines[0].startswith("Test loss: ") and result.lines[1].startswith("Test accuracy: ")
    accuracy = float(result.lines[1].split(": ")[1])
    assert accuracy >= 0.9 and result.lesson_shown  # measured 0.988-0.996 over seeds 0-2
    with open_run(result.runs["mnist_resnet"]) as reader:
        config = reader.info().config
    assert config["optimizer"] == "adam" and config["epochs"] == 1 and config["train_samples"] == 4000
    assert config["batch_size"] == 16  # the recipe of the seeds' MNIST nets


def test_metrics_prints_per_class_precision_and_recall(tmp_path):
    result = get_preset("metrics").run(tmp_path, PresetOptions(budget="quick"))
    text = "\n".join(result.lines)
    assert "0.9375" in text and "0.9000" in text and "0.9038" in text and "0.9400" in text
    assert result.claims[0].holds
    with open_run(result.runs["resnet20"]) as reader:
        last = reader.evals()[-1]
        classes = reader.info().classes
    for name, p, r in zip(classes, last.precision, last.recall):
        row = next(line for line in result.lines if line.strip().startswith(name))
        assert f"{p:.4f}" in row and f"{r:.4f}" in row
    assert (tmp_path / "metrics.png").exists()


def test_overfitting_keeps_the_seeds_rules():
    from resviz.presets import overfitting

    for budgets in overfitting.BUDGETS.values():
        for settings in budgets.values():
            assert settings["epochs"] <= overfitting.MAX_EPOCHS  # at most 30 epochs, as the seed says


def test_degradation_deeper_plain_trains_worse_and_the_shortcuts_fix_it(tmp_path):
    from resviz.presets.degradation import MODELS, final_mean, training_error

    result = get_preset("degradation").run(tmp_path, PresetOptions(budget="quick"))
    final = {model: final_mean(training_error(result.runs[model])[1]) for model, _, _ in MODELS}
    # Quick budget, training error over the last fifth of 64 steps, seeds 0-2: Plain-56 82-86 % (chance
    # is 83 %), Plain-20 42-58 %, ResNet-56 50-67 %: Plain-56 ends 29-40 points above Plain-20 and 15-35
    # points above ResNet-56. The margins below are well inside those.
    assert final["plain56"] > final["plain20"] + 0.12
    assert final["resnet56"] < final["plain56"] - 0.05
    assert [claim.holds for claim in result.claims] == [True, True] and result.lesson_shown
    assert (tmp_path / "degradation.png").exists()


def test_overfitting_the_simple_cnn_memorises_what_it_cannot_generalise(tmp_path):
    result = get_preset("overfitting").run(tmp_path, PresetOptions(budget="quick"))
    cnn = next(line for line in result.lines if line.startswith("simple CNN"))
    train, validation = (float(cnn.split(f"{word} ")[1].split("%")[0]) / 100 for word in ("accuracy", "validation"))
    # Quick budget on shapes (ten images a class), seeds 0-2: train 75-82 %, validation 33-38 %, a gap of
    # 39-49 points; the margins below are under half of those.
    assert train > 0.6 and train - validation > 0.18
    assert [claim.holds for claim in result.claims] == [True] and result.lesson_shown
    with open_run(result.runs["simple_cnn"]) as reader:
        config = reader.info().config
    assert config["augment"] is False and config["epochs"] <= 30 and config["train_samples"] == 60
    assert (tmp_path / "overfitting.png").exists()
