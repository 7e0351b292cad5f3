"""``resviz bench gui``: how fast the window draws, and whether training ever stalls it.

Two measurements, each reported with a baseline measured in the same process:

* **refresh**: one frame of the training view's gradient-flow heatmap (110 layers x 20,000
  steps) and 20 curves of 20,000 points, drawn and painted. The baseline is the naive way
  (the full-width image handed to pyqtgraph with auto levels every frame). Target: < 16 ms.
* **stall**: the longest time the GUI thread is busy (the gap between 1 ms timer ticks) while
  the window follows a run that a child process writes at full speed, against the same window
  idle. Target: < 50 ms.

Its options are declared by ``resviz.commands.bench``, so that listing them loads no Qt.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ...benchmarks.synthetic import synthetic_columns

REFRESH_TARGET_MS = 16.0
STALL_TARGET_MS = 50.0


# --------------------------------------------------------------------------------------------
# The benchmark


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(["resviz-bench"])
    if args.only in (None, "refresh"):
        _bench_refresh(app, args)
    if args.only in (None, "stall"):
        _bench_stall(app, args)
    return 0


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
    return f"median {p50:7.2f} ms   p95 {p95:7.2f} ms   max {ordered[-1]:7.2f} ms"


def _synthetic_info(name: str, layers: int, blocks: int, residual: bool):
    from ...models import ModelSpec
    from ...runfile import RunInfo

    return RunInfo(path=Path(f"{name}.resviz"), name=name, schema_version=1,
                   model_spec=ModelSpec("resnet110" if residual else "plain110", {}), config={}, device="cpu",
                   layer_ids=[f"layer{i}" for i in range(layers)], block_ids=[f"block{i}" for i in range(blocks)],
                   classes=[], status="finished", error=None, created=0.0, updated=0.0, twin=None)


def _bench_refresh(app: Any, args: argparse.Namespace) -> None:
    """Frames of the heatmap figure (one run, L layers x N steps) and the loss/accuracy figure (4 runs,
    5 curves each = 20 curves of N points), each at a new step, updated and painted. The naive way
    is timed in the same loop, frame for frame, so a busy machine slows both alike."""
    import pyqtgraph as pg
    from PySide6.QtCore import QRectF

    from ...runfile import EvalRecord, StepBatch
    from ...views.run_comparison import RunComparison
    from ..figures import GradientFlowFigure, LossAccuracyFigure
    from ..theme import lookup_table

    steps, layers = args.steps, args.layers
    runs_for_curves = max(1, math.ceil(args.curves / 5))
    sizes = [tuple(int(v) for v in part.split("x")) for part in args.size.split(",")]
    print(f"refresh: heatmap of {layers} layers x {steps:,} steps ({sizes[0][0]}x{sizes[0][1]} px); "
          f"{runs_for_curves * 5} curves of {steps:,} points ({sizes[1][0]}x{sizes[1][1]} px: loss, smoothed loss, "
          f"val loss, accuracy, val accuracy of {runs_for_curves} runs); {args.frames} frames")
    heat_model = RunComparison()
    heat_run = heat_model.add(_synthetic_info("heat", layers, 54, False))
    started = time.perf_counter()
    heat_model.append_steps(heat_run.path, StepBatch(**synthetic_columns(steps, layers, 54, residual=False, seed=1)))
    print(f"  reading {steps:,} steps x {layers} layers into the view-model: "
          f"{1000 * (time.perf_counter() - started):.0f} ms (once per run file, in pieces of 2,000 steps)")
    curve_model = RunComparison()
    confusion = np.eye(10, dtype=np.int64)
    for i in range(runs_for_curves):
        run = curve_model.add(_synthetic_info(f"curves{i}", 4, 2, i % 2 == 0))
        curve_model.append_steps(run.path, StepBatch(**synthetic_columns(steps, 4, 2, residual=i % 2 == 0, seed=i)))
        run.evals = [EvalRecord(step=s, epoch=0, split="val", loss=1.0, acc=0.5, confusion=confusion,
                                precision=np.ones(10), recall=np.ones(10)) for s in range(500, steps + 1, 500)]

    heatmap, curves = GradientFlowFigure(), LossAccuracyFigure()
    # The baseline: the same figures drawn the naive way, the full (steps x layers) image with log10
    # and auto levels every frame, and every curve handed over whole with no downsampling.
    naive_heat = pg.PlotWidget()
    naive_image = pg.ImageItem(axisOrder="col-major")
    naive_image.setLookupTable(lookup_table())
    naive_heat.addItem(naive_image)
    naive_curves = pg.GraphicsLayoutWidget()
    naive_loss, naive_acc = naive_curves.addPlot(row=0, col=0), naive_curves.addPlot(row=1, col=0)
    naive_items = []
    for run in curve_model.ordered:
        colour = run.style.colour
        naive_items += [(naive_loss.plot(pen=pg.mkPen(colour, width=1)), run.loss),
                        (naive_loss.plot(pen=pg.mkPen(colour, width=2)), run.loss_smooth),
                        (naive_acc.plot(pen=pg.mkPen(colour, width=2)), run.acc_smooth)]
    for widget, size in ((heatmap, sizes[0]), (naive_heat, sizes[0]), (curves, sizes[1]), (naive_curves, sizes[1])):
        widget.resize(*size)
        widget.show()
    app.processEvents()

    raw = heat_run.grad_norm.values
    ours: dict[str, list[float]] = {"heat update": [], "heat paint": [], "curves update": [], "curves paint": []}
    naive: dict[str, list[float]] = {"heat": [], "curves": []}
    for i in range(args.frames + 3):
        step = steps // 2 + 97 * i  # a new step every frame: everything redraws
        heat_model.timeline.seek(step)
        curve_model.timeline.seek(step)
        t0 = time.perf_counter()
        heatmap.refresh(heat_model.frame())
        t1 = time.perf_counter()
        heatmap.viewport().repaint()
        t2 = time.perf_counter()
        curves.refresh(curve_model.frame())
        t3 = time.perf_counter()
        curves.viewport().repaint()
        t4 = time.perf_counter()
        with np.errstate(divide="ignore"):
            naive_image.setImage(np.log10(raw[:step]), autoLevels=True)
        naive_image.setRect(QRectF(0, 0, step, layers))
        naive_heat.viewport().repaint()
        t5 = time.perf_counter()
        for item, column in naive_items:
            item.setData(column.values[:step])
        naive_curves.viewport().repaint()
        t6 = time.perf_counter()
        if i < 3:
            continue  # warm-up frames
        for key, value in zip(ours, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            ours[key].append(1000 * value)
        naive["heat"].append(1000 * (t5 - t4))
        naive["curves"].append(1000 * (t6 - t5))

    # Live: steps keep arriving (20 per frame, as from a run at 600 steps/s) and the views follow.
    live_model = RunComparison()
    live_run = live_model.add(_synthetic_info("live", layers, 54, False))
    columns = synthetic_columns(steps + 20 * args.frames, layers, 54, residual=False, seed=3)
    live_model.append_steps(live_run.path, StepBatch(**{k: v[:steps] for k, v in columns.items()}))
    live_heatmap = GradientFlowFigure()
    live_heatmap.resize(*sizes[0])
    live_heatmap.show()
    app.processEvents()
    live_ms = []
    for i in range(args.frames):
        part = {k: v[steps + 20 * i: steps + 20 * (i + 1)] for k, v in columns.items()}
        t0 = time.perf_counter()
        live_model.append_steps(live_run.path, StepBatch(**part))
        live_heatmap.refresh(live_model.frame())
        live_heatmap.viewport().repaint()
        live_ms.append(1000 * (time.perf_counter() - t0))
    for widget in (heatmap, curves, naive_heat, naive_curves, live_heatmap):
        widget.close()

    med = {key: statistics.median(values) for key, values in ours.items()}
    frame = [sum(values) for values in zip(*ours.values())]
    naive_frame = [a + b for a, b in zip(naive["heat"], naive["curves"])]
    print(f"  heatmap, update (setImage of the pooled columns)  {_percentiles(ours['heat update'])}")
    print(f"  heatmap, paint                                    {_percentiles(ours['heat paint'])}")
    print(f"  20 curves, update (setData)                       {_percentiles(ours['curves update'])}")
    print(f"  20 curves, paint                                  {_percentiles(ours['curves paint'])}")
    print(f"  one frame (both figures, update + paint)          {_percentiles(frame)}")
    print(f"  naive frame                                       {_percentiles(naive_frame)}")
    print(f"  live heatmap, 20 new steps per frame, all in      {_percentiles(live_ms)}")
    update = med["heat update"] + med["curves update"]
    whole = statistics.median(frame)
    print(f"  naive / ours: heatmap {statistics.median(naive['heat']) / (med['heat update'] + med['heat paint']):.1f}x, "
          f"curves {statistics.median(naive['curves']) / (med['curves update'] + med['curves paint']):.1f}x, "
          f"frame {statistics.median(naive_frame) / whole:.1f}x")
    print(f"  target < {REFRESH_TARGET_MS:g} ms: refresh (update) {update:.1f} ms -> "
          f"{'meets' if update < REFRESH_TARGET_MS else 'MISSES'}; with painting {whole:.1f} ms -> "
          f"{'meets' if whole < REFRESH_TARGET_MS else 'MISSES'}")


def _bench_stall(app: Any, args: argparse.Namespace) -> None:
    """The GUI thread's longest busy stretch: the gap between ticks of a 1 ms timer.

    Three phases in one window: idle; following the twins while they train at full speed in
    child processes; and the same training with the window not following (the baseline: what the
    machine's load alone does to the GUI thread).
    """
    from PySide6.QtCore import QElapsedTimer, QSettings, QTimer

    from ...views.model_choice import ModelChoice
    from ..main_window import MainWindow
    from ..workers_tasks import stop_all_tasks

    seconds = args.stall_seconds
    print(f"stall: GUI thread gaps (1 ms timer) over {seconds:g} s per phase; {args.model} and its twin train "
          f"at full speed in two child processes")
    with tempfile.TemporaryDirectory(prefix="resviz-bench-") as folder:
        settings = QSettings(str(Path(folder) / "settings.ini"), QSettings.IniFormat)
        settings.setValue("window/tab", 1)  # the training figures
        window = MainWindow(settings, runs_folder=Path(folder) / "runs", open_default=False)
        window.resize(1600, 1000)
        window.show()
        try:
            window.open_model_choice(ModelChoice(args.model))
            _wait(app, lambda: window.loaded is not None, 120)
            if window.loaded is None:
                print("  could not load the model:", window.errors[-1:] or "timeout")
                return
            idle = _gaps(app, seconds, QTimer, QElapsedTimer)
            window.controls.batch_box.setValue(32)
            window.max_steps = 100_000
            window.train_twins()
            _wait(app, lambda: len(window.comparison) == 2 and all(len(r) > 5 for r in window.comparison.ordered),
                  300)
            if len(window.comparison) < 2:
                print("  training did not start:", window.errors[-1:] or "timeout")
                return
            before = [len(r) for r in window.comparison.ordered]
            frames_before = window.training_view.frames_drawn
            following = _gaps(app, seconds, QTimer, QElapsedTimer)
            rate = sum(len(r) - b for r, b in zip(window.comparison.ordered, before)) / seconds
            frames = window.training_view.frames_drawn - frames_before
            window.feed.unwatch_all()  # the baseline: the same training, the window not following it
            window.comparison.clear()
            _wait(app, lambda: False, 1.0)
            not_following = _gaps(app, seconds, QTimer, QElapsedTimer)
        finally:
            window.close()
            stop_all_tasks()
    print(f"  idle window, no training          {_percentiles(idle)}")
    print(f"  training, window not following    {_percentiles(not_following)}")
    print(f"  training, window following live   {_percentiles(following)}")
    print(f"  following: {rate:.1f} recorded steps/s arrived (both runs), {frames / seconds:.1f} refreshes/s")
    worst = max(following)
    print(f"  longest stall while following {worst:.1f} ms (baseline, not following: {max(not_following):.1f} ms)   "
          f"target < {STALL_TARGET_MS:g} ms -> {'meets' if worst < STALL_TARGET_MS else 'MISSES'}")


def _wait(app: Any, condition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)


def _gaps(app: Any, seconds: float, QTimer: Any, QElapsedTimer: Any) -> list[float]:
    """Milliseconds between consecutive ticks of a 1 ms timer for ``seconds``: the GUI thread's stalls."""
    gaps: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    last = [clock.nsecsElapsed()]

    def tick() -> None:
        now = clock.nsecsElapsed()
        gaps.append((now - last[0]) / 1e6)
        last[0] = now

    timer = QTimer()
    timer.setInterval(1)
    timer.timeout.connect(tick)
    timer.start()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.0005)
    timer.stop()
    return gaps or [0.0]
