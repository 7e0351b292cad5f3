"""``resviz bench lecture``: seconds from a cold window to the lecture page's whole picture.

It drives the window as a lecturer does: the window opens on the embedded default (a ResNet
and its plain twin, no norm layers), one click shows the Lecture tab, one click on its
"Train twins" trains both with the default settings. The clock stops when the picture makes
its point: both runs recorded, every figure drawn, both graphs coloured by gradient, and the
plain twin's first layer getting at least 100 times less of the last layer's gradient than
the residual net's (the caption's numbers). Target: 60 s on a 2-core CPU.

The baseline, measured in the same process before the window opens, is what no window can
avoid: starting one training child process and importing torch in it.

Its options are declared by ``resviz.commands.bench``, so that listing them loads no Qt.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LECTURE_TARGET_S = 60.0
DIFFERENCE = 100.0  # the plain twin's gradient reach is this many times smaller, or the clock runs on


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    baseline = time.perf_counter() - started

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from ...views.lecture import reach
    from ..main_window import MainWindow
    from ..workers_tasks import stop_all_tasks

    app = QApplication.instance() or QApplication(["resviz-bench"])
    marks: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="resviz-bench-") as folder:
        settings = QSettings(str(Path(folder) / "settings.ini"), QSettings.IniFormat)
        t0 = time.perf_counter()
        window = MainWindow(settings, runs_folder=Path(folder) / "runs")  # cold: the embedded default
        window.resize(*(int(v) for v in args.size.split("x")))
        window.show()
        window.host.warm_up()  # as the application does when its window opens
        if args.max_steps:
            window.max_steps = args.max_steps
        page = window.lecture
        comparison = window.comparison

        def picture() -> bool:
            runs = {run.style.residual: run for run in comparison.ordered}
            if set(runs) != {True, False} or not all(len(run) for run in runs.values()):
                return False
            page.refresh()
            step = comparison.step
            plain, residual = reach(runs[False], step), reach(runs[True], step)
            return (all(figure._last_key is not None for figure in page.figures)
                    and all(view.model.node_norms() for view in page.architecture.views)
                    and plain is not None and residual is not None and plain * DIFFERENCE < residual)

        try:
            _wait(app, lambda: window.loaded is not None, args.timeout)
            marks["model open"] = time.perf_counter() - t0
            window.tabs.setCurrentWidget(page)  # click 1: the Lecture tab
            _wait(app, lambda: not page.pending and not page.is_busy(), args.timeout)
            marks["twin graphs drawn"] = time.perf_counter() - t0
            page.train_button.click()  # click 2: Train twins
            _wait(app, lambda: len(comparison) == 2 and all(len(r) for r in comparison.ordered), args.timeout)
            marks["first steps shown"] = time.perf_counter() - t0
            _wait(app, picture, args.timeout)
            marks["the difference in the picture"] = time.perf_counter() - t0
            done = picture()
            steps = [len(run) for run in comparison.ordered]
        finally:
            window.close()
            stop_all_tasks()
    print(f"lecture: a cold window ({args.size}) on the embedded default, 2 clicks (Lecture tab, Train twins)")
    print(f"  baseline: one child process importing torch   {baseline:6.1f} s")
    for name, seconds in marks.items():
        print(f"  {name:<44} {seconds:6.1f} s")
    total = marks.get("the difference in the picture", float("inf"))
    print(f"  steps recorded by then: {steps}; picture / baseline {total / baseline:.1f}x")
    verdict = "meets" if done and total <= LECTURE_TARGET_S else "MISSES"
    print(f"  target <= {LECTURE_TARGET_S:g} s from launch to the picture, with the difference visible -> {verdict}")
    return 0


def _wait(app, condition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
