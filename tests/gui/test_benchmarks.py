"""The window's benchmarks (``resviz bench gui|architecture|lecture``): listed without Qt, run with it."""

from __future__ import annotations

import subprocess
import sys

from resviz.cli import main


def test_listing_the_window_benchmarks_loads_no_qt():
    code = ("import sys\n"
            "from resviz.cli import build_parser\n"
            "from resviz.commands.bench import run_window_benchmark\n"
            "parser = build_parser()\n"
            "for argv in (['bench', 'gui', '--only', 'refresh'], ['bench', 'architecture', '--models', 'resnet20'],\n"
            "             ['bench', 'lecture', '--size', '1024x768']):\n"
            "    assert parser.parse_args(argv).func is run_window_benchmark, argv\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph')]\n"
            "assert not bad, bad\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_architecture_benchmark_runs_from_the_command_line(qapp, capsys):
    assert main(["bench", "architecture", "--models", "resnet20", "--level", "layers", "--frames", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("resnet20: trace ") and "view opens in" in out
    assert "  layers: " in out and "recolour in place" in out


def test_the_window_benchmark_runs_from_the_command_line(qapp, capsys):
    assert main(["bench", "gui", "--only", "refresh", "--layers", "10", "--steps", "600", "--curves", "5",
                 "--frames", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("refresh: heatmap of 10 layers x 600 steps") and "naive / ours:" in out
