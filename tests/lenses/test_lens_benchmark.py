"""``resviz bench lenses`` runs end to end and its rows are a list to extend (timings are not asserted)."""

from __future__ import annotations

from resviz.benchmarks import lenses
from resviz.cli import main


def test_bench_lenses_reports_the_signal_row_against_its_plain_loop(capsys):
    assert main(["bench", "lenses", "--only", "signal", "--depths", "8", "--batch", "2", "--line-points", "8",
                 "--repeat", "1", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "signal cifar 8:" in out and "plain loop" in out and "×" in out


def test_a_lens_adds_its_rows_by_appending_a_function(monkeypatch, capsys):
    extra = lenses.LensRow("extra", 2.0, 1.0, None, "note")
    monkeypatch.setattr(lenses, "ROWS", [lambda args: [extra]])
    assert main(["bench", "lenses", "--repeat", "1", "--device", "cpu"]) == 0
    assert "extra: 2.00 s, plain loop 1.00 s, ×2.000 (OVER ×1.10)" in capsys.readouterr().out


def test_bench_lenses_has_the_landscape_and_lesion_rows(capsys):
    assert main(["bench", "lenses", "--only", "landscape,lesion", "--grid", "3", "--samples", "4",
                 "--lesion-samples", "4", "--lesion-depth", "8", "--image-size", "8", "--repeat", "1",
                 "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "landscape 3x3, ResNet-20" in out and "lesion of every block (3), ResNet-8 8x8" in out
    assert "signal" not in out.split("\n", 1)[1]  # --only leaves the signal row out
    assert main(["bench", "lenses", "--only", "sound"]) == 2
    assert "--only: unknown row 'sound'" in capsys.readouterr().err
