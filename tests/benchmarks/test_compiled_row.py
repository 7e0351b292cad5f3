"""``resviz bench recorder --compile BACKEND``: the compiled loop's row, with and without the recorder."""

from __future__ import annotations

import re

import torch
from torch import nn

from resviz.benchmarks.compiled import compiled_row
from resviz.cli import main


def test_the_compiled_row_reports_frames_breaks_and_the_ratio(capsys):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    x, y = torch.randn(4, 6), torch.randint(0, 3, (4,))
    # The "eager" backend: Dynamo traces the recorder's hooks as with any backend, at little cost.
    ratio = compiled_row(model, x, y, backend="eager", steps=2, every=1, device=torch.device("cpu"))
    out = capsys.readouterr().out
    assert ratio > 0 and "compiled frames: with recorder 1, without 1; graph breaks 0" in out
    assert "compiled (eager) with recorder:" in out and "compiled (eager) without recorder:" in out
    assert re.search(rf"ratio: {ratio:.3f}", out)


def test_the_recorder_benchmark_takes_a_compile_backend_and_refuses_others(capsys):
    assert main(["bench", "recorder", "--compile", "tvm"]) == 2
    assert "argument --compile: invalid choice: 'tvm'" in capsys.readouterr().err
