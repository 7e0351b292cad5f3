"""``resviz train`` on the command line."""

from __future__ import annotations

import io

import torch

from resviz.cli import main
from resviz.commands.train import TrainingProgressLine
from resviz.runfile import open_run
from resviz.train.trainer import TrainProgress

TINY = ["-o", "depth=8", "-o", "width=4", "-o", "input_size=8", "--samples", "32", "--test-samples", "12",
        "--batch-size", "16"]


def test_train_writes_a_finished_run_and_shows_progress(tmp_path, capsys):
    out = tmp_path / "cli.resviz"
    code = main(["train", "resnet20", *TINY, "--epochs", "2", "--lr", "0.02", "--optimizer", "adam",
                 "--schedule", "cosine", "--nonfinite", "skip", "--record-every", "2", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert f"{out}: finished, 4 steps" in captured.out and "test accuracy" in captured.out
    assert "resnet20  epoch 1/2" in captured.err and "loss" in captured.err and "test acc" in captured.err
    with open_run(out) as reader:
        info = reader.info()
        assert info.status == "finished" and reader.read_steps().step.tolist() == [0, 2]
        assert (info.config["optimizer"], info.config["lr"], info.config["schedule"]) == ("adam", 0.02, "cosine")
        assert info.config["nonfinite"] == "skip" and len(reader.evals()) == 2


def test_the_model_defaults_to_resnet20(tmp_path, capsys):
    out = tmp_path / "default.resviz"
    assert main(["train", "--samples", "16", "--test-samples", "6", "--batch-size", "8", "--steps", "1", "--quiet",
                 "--out", str(out)]) == 0
    with open_run(out) as reader:
        assert reader.info().model_spec.name == "resnet20" and reader.step_count() == 1


def test_twin_trains_both_into_their_own_files(tmp_path, capsys):
    out = tmp_path / "pair.resviz"
    assert main(["train", "plain20", *TINY, "--steps", "2", "--twin", "--quiet", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for which, model in (("plain", "plain20"), ("residual", "resnet20")):
        path = tmp_path / f"pair-{which}.resviz"
        assert str(path) in printed
        with open_run(path) as reader:
            assert reader.info().model_spec.name == model and reader.step_count() == 2


def test_bad_settings_are_one_line_errors(tmp_path, capsys):
    assert main(["train", "resnet20", "--batch-size", "0", "--out", str(tmp_path / "a.resviz")]) == 2
    assert "batch_size=0" in capsys.readouterr().err
    assert main(["train", "resnet20", "--dataset", str(tmp_path / "nowhere"), "--out",
                 str(tmp_path / "b.resviz")]) == 2
    assert "nowhere" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["train", "resnet20", "--device", "cuda", "--out", str(tmp_path / "c.resviz")]) == 2
        assert "no CUDA" in capsys.readouterr().err
    assert main(["train", "simple_cnn", "--twin", "--out", str(tmp_path / "d.resviz")]) == 2
    assert "no plain/residual twin" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.resviz"))


def test_progress_line_redraws_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    line = TrainingProgressLine("resnet20", stream=stream, width=10)
    line(TrainProgress(phase="train", step=5, total_steps=10, epoch=0, epochs=2, loss=1.5, acc=0.25, lr=0.1,
                       steps_per_second=12.5, elapsed=0.4))
    line.close()
    text = stream.getvalue()
    assert text.startswith("\rresnet20  epoch 1/2  [#####.....]  step 5/10  loss 1.5  acc 25.0%  12.5 steps/s")
    assert text.endswith("\n")


def test_steps_trains_that_many_steps_over_as_many_epochs_as_needed(tmp_path, capsys):
    out = tmp_path / "steps.resviz"  # 32 samples in batches of 16: 2 steps an epoch
    assert main(["train", "plain20", *TINY, "--steps", "5", "--quiet", "--out", str(out)]) == 0
    with open_run(out) as reader:
        assert reader.read_steps().step.tolist() == [0, 1, 2, 3, 4]
        assert [e.step for e in reader.evals()] == [2, 4, 5]  # each epoch, the last one partial
    capped = tmp_path / "capped.resviz"  # with --epochs too, whichever ends first
    assert main(["train", "plain20", *TINY, "--steps", "5", "--epochs", "1", "--quiet", "--out", str(capped)]) == 0
    with open_run(capped) as reader:
        assert reader.step_count() == 2


def test_no_flags_train_with_the_models_recipe_and_the_run_records_it(tmp_path, capsys):
    out = tmp_path / "recipe.resviz"
    assert main(["train", "mnist_resnet", "-o", "input_size=8", "--samples", "16",
                 "--test-samples", "6", "--steps", "1", "--quiet", "--out", str(out)]) == 0
    with open_run(out) as reader:
        config = reader.info().config
    assert (config["optimizer"], config["lr"], config["schedule"]) == ("adam", 1e-3, "cosine")
    assert config["recipe"]["applied"] == ["optimizer", "lr", "momentum", "weight_decay", "schedule", "warmup",
                                           "batch_size"]
    assert "Adam" in config["recipe"]["why"]
