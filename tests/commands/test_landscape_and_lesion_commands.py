"""``resviz landscape`` and ``resviz lesion``: a run and its twin run, figure and stored results."""

from __future__ import annotations

import json

import pytest
from matplotlib.image import imread

from resviz.cli import main
from resviz.lenses.landscape import Landscape
from resviz.lenses.lesion import LesionStudy
from resviz.runfile import open_run
from tests.views.why_support import write_twins

# Its module-scoped fixture is costly: one worker runs the module, once.
pytestmark = pytest.mark.xdist_group("lens_commands")

@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    return write_twins(tmp_path_factory.mktemp("runs"))


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
