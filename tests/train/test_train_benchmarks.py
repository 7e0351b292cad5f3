"""``resviz bench recorder`` and ``resviz bench trainer`` run end to end (timings are not asserted)."""

from __future__ import annotations

import re

from resviz.cli import main

TINY = ["--model", "resnet20", "-o", "depth=8", "-o", "width=4", "-o", "input_size=8", "--batch-size", "4"]


def test_bench_recorder_reports_both_sides_and_their_ratio(capsys):
    assert main(["bench", "recorder", *TINY, "--steps", "2"]) == 0
    out = capsys.readouterr().out
    assert "recorder overhead: resnet20, batch 4, cpu" in out and "15 layers, 3 blocks" in out
    assert "with recorder:" in out and "without recorder:" in out
    assert re.search(r"ratio: \d+\.\d{3} \(target <= 1\.03: (met|NOT met)\)", out)


def test_bench_trainer_reports_both_sides_and_their_ratio(capsys):
    assert main(["bench", "trainer", *TINY, "--steps", "1", "--rounds", "2"]) == 0
    out = capsys.readouterr().out
    assert "round 1/2 trainer" in out and "round 2/2 hand-written" in out
    assert re.search(r"ratio: \d+\.\d{3} \(target <= 1\.05: (met|NOT met)\)", out)
