"""``resviz signal`` and ``resviz paths`` from the command line: figures written, the paths result
stored in a run file, bad input refused in one line with exit code 2."""

from __future__ import annotations

from resviz.cli import main
from resviz.models import ModelSpec, get_model
from resviz.runfile import RunWriter, open_run

TINY_CIFAR = {"depth": 8, "width": 2, "input_size": 8, "num_classes": 6}


def test_signal_writes_its_figure(tmp_path, capsys):
    out = tmp_path / "signal.png"
    code = main(["signal", "mlp", "--depths", "1,3", "-o", "width=8", "-o", "input_size=4", "--batch", "2",
                 "--line-points", "8", "--device", "cpu", "--out", str(out)])
    assert code == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "depth     3" in capsys.readouterr().out


def test_signal_refuses_a_bad_family_or_depth_in_one_line(capsys):
    for argv in (["signal", "cifar", "--depths", "8,21"], ["signal", "cifar", "--depths", "8,x"],
                 ["signal", "nosuch"]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("resviz: error:") and "\n" not in err


def test_paths_of_a_model_at_initialisation_writes_its_figure(tmp_path, capsys):
    out = tmp_path / "paths.png"
    code = main(["paths", "resnet20", "-o", "depth=8", "-o", "width=2", "-o", "input_size=8", "--samples", "2",
                 "--batch", "2", "--device", "cpu", "--out", str(out)])
    assert code == 0 and out.is_file()
    assert "peak at path length" in capsys.readouterr().out


def test_paths_of_a_run_is_stored_in_its_run_file(tmp_path):
    path = tmp_path / "run.resviz"
    writer = RunWriter(path, model_spec=ModelSpec("resnet20", dict(TINY_CIFAR)), config={"dataset": "shapes"},
                       layer_ids=[], block_ids=[], classes=list("abcdef"))
    writer.add_checkpoint(0, 0, get_model("resnet20", **TINY_CIFAR).state_dict())
    writer.finish()
    assert main(["paths", str(path), "--samples", "2", "--batch", "4", "--device", "cpu"]) == 0
    with open_run(path) as reader:
        (result,) = reader.lens_results("paths")
    assert result.summary["blocks"] == 3 and result.params["step"] == 0
    assert result.arrays["share"].shape == (4,) and abs(result.arrays["share"].sum() - 1) < 1e-9


def test_paths_refuses_a_model_without_skips_and_bad_samples(capsys):
    assert main(["paths", "mlp_plain", "-o", "depth=2", "-o", "width=4", "-o", "input_size=4"]) == 2
    assert "no additive skip" in capsys.readouterr().err
    assert main(["paths", "resnet20", "--samples", "0"]) == 2
    assert "--samples" in capsys.readouterr().err
