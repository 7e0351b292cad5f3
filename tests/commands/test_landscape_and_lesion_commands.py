"""``resviz landscape`` and ``resviz lesion``: a run and its twin run, figure and stored results."""

from __future__ import annotations

import json

import pytest
import torch
from matplotlib.image import imread

from resviz.cli import main
from resviz.data import SHAPE_CLASSES
from resviz.lenses.landscape import Landscape
from resviz.lenses.lesion import LesionStudy
from resviz.models import ModelSpec, get_model
from resviz.runfile import open_run

# Its module-scoped fixture is costly: one worker runs the module, once.
pytestmark = pytest.mark.xdist_group("lens_commands")

OPTIONS = {"depth": 8, "width": 4, "input_size": 8, "num_classes": 6}


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    """A plain and a residual run of the tiny twins on shapes, naming each other, one checkpoint each."""
    from resviz.runfile import RunWriter

    folder = tmp_path_factory.mktemp("runs")
    paths = {side: folder / f"tiny-{side}.resviz" for side in ("plain", "residual")}
    config = {"dataset": "shapes", "train_samples": 40, "test_samples": 24, "data_seed": 0, "normalize": True,
              "resolved": {"input_shape": [3, 8, 8]}}
    for side, model in (("plain", "plain20"), ("residual", "resnet20")):
        other = paths["residual" if side == "plain" else "plain"]
        writer = RunWriter(paths[side], model_spec=ModelSpec(model, dict(OPTIONS)), config=config, layer_ids=[],
                           block_ids=[], classes=SHAPE_CLASSES, twin=str(other))
        torch.manual_seed(0)
        writer.add_checkpoint(5, 0, get_model(model, **OPTIONS).state_dict())
        writer.finish()
    return paths


def run_cli(capsys, *argv):
    code = main([*map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_landscape_of_a_run_and_its_twin(tmp_path, capsys, twins):
    out = tmp_path / "landscape.png"
    code, stdout, _ = run_cli(capsys, "landscape", twins["residual"], "--twin", "--grid", 3, "--samples", 8,
                              "--device", "cpu", "--out", out, "--json")
    assert code == 0
    report = json.loads(stdout)
    assert [r["label"] for r in report["runs"]] == ["plain20 step 5", "resnet20 step 5"]   # plain first
    assert imread(out).shape[1] > imread(out).shape[0]
    for side in ("plain", "residual"):
        with open_run(twins[side]) as reader:
            (stored,) = reader.lens_results("landscape")
        landscape = Landscape.from_lens_result(stored)
        assert landscape.loss.shape == (3, 3) and stored.params["step"] == 5 and stored.params["samples"] == 8
        assert stored.summary["roughness"] == pytest.approx(landscape.roughness)


def test_lesion_of_a_run_and_its_twin(tmp_path, capsys, twins):
    out = tmp_path / "lesion.png"
    code, stdout, _ = run_cli(capsys, "lesion", twins["plain"], "--twin", "--samples", 12, "--draws", 2,
                              "--device", "cpu", "--out", out, "--json", "--no-store")
    assert code == 0 and out.is_file()
    report = json.loads(stdout)
    assert [len(r["single"]) for r in report["runs"]] == [3, 3]       # depth 8: three blocks
    with open_run(twins["plain"]) as reader:
        assert reader.lens_results("lesion") == []                      # --no-store
    code, _, _ = run_cli(capsys, "lesion", twins["plain"], "--samples", 12, "--draws", 1, "--device", "cpu",
                         "--out", out)
    with open_run(twins["plain"]) as reader:
        (stored,) = reader.lens_results("lesion")
    study = LesionStudy.from_lens_result(stored)
    assert code == 0 and study.blocks == ["layer1.0", "layer2.0", "layer3.0"] and study.random.shape == (3, 1)


@pytest.mark.parametrize("argv, message", [
    (["landscape", "{plain}", "--grid", "1"], "landscape grid 1 must be between 3 and"),
    (["lesion", "{plain}", "--samples", "0"], "--samples 0: must be at least 1"),
    (["lesion", "nowhere.txt"], "nowhere.txt is not a run file"),
])
def test_bad_input_is_one_line(capsys, twins, argv, message):
    code, _, err = run_cli(capsys, *[a.format(plain=twins["plain"]) for a in argv], "--device", "cpu", "--no-store")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
