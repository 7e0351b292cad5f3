"""A run whose writer was killed: the window, its runs panel and ``resviz runs`` agree it is not live."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

from resviz.cli import main
from resviz.errors import ResvizError
from resviz.runfile import open_run

from gui_support import WRITER


def steps_in(path) -> int:
    try:
        with open_run(path) as reader:
            return reader.step_count()
    except ResvizError:
        return 0


def test_a_killed_writer_is_interrupted_in_the_window_the_runs_panel_and_the_listing(qtbot, make_window, tmp_path,
                                                                                      capsys):
    path, gate = tmp_path / "runs" / "killed.resviz", tmp_path / "never"
    path.parent.mkdir()
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(gate)])  # 30 steps, then waits
    try:
        qtbot.waitUntil(lambda: steps_in(path) == 30, timeout=60_000)
        window = make_window()
        window.open_run_file(path)
        qtbot.waitUntil(lambda: len(window.comparison) == 1 and len(window.comparison.ordered[0]) == 30,
                        timeout=30_000)
        run = window.comparison.ordered[0]
        qtbot.waitUntil(lambda: "live" in window.run_label.text(), timeout=20_000)
        panel = window.runs_panel
        panel.refresh()
        qtbot.waitUntil(lambda: panel.tree.topLevelItemCount() == 1 and panel.tree.topLevelItem(0).text(0) == "● live",
                        timeout=20_000)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    qtbot.waitUntil(lambda: run.status == "interrupted", timeout=20_000)
    qtbot.waitUntil(lambda: "live" not in window.run_label.text(), timeout=20_000)
    panel.refresh()
    qtbot.waitUntil(lambda: panel.tree.topLevelItem(0).text(0) == "interrupted", timeout=20_000)  # no live mark
    assert len(run) == 30  # what was committed stays on show
    capsys.readouterr()
    assert main(["runs", str(path.parent), "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert (listed["status"], listed["live"], listed["steps"]) == ("interrupted", False, 30)
    # Once the window stops reading it, the killed writer's WAL is folded in and nothing is left beside it.
    window.feed.unwatch_all()
    qtbot.waitUntil(lambda: sorted(p.name for p in path.parent.iterdir()) == ["killed.resviz"], timeout=20_000)
    assert steps_in(path) == 30
