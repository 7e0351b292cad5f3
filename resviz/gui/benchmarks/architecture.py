"""``resviz bench architecture``: how fast the window's architecture view opens, repaints and recolours.

For each model: trace it (the baseline: the work the view needs before it can draw), then open
the view on the traced graph — default level, grouping, layout, scene and the Qt items, up to a
painted frame — which should take well under a second for ResNet-152 (the target). At the
model's default level and at ``--level``, it also times a repaint while zooming and panning, and
a gradient recolour in place (what replaying a run does 30 times a second) against rebuilding
the scene (what a naive view would do).

Its options are declared by ``resviz.commands.bench``, so that listing them loads no Qt.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

OPEN_TARGET_MS = 1000.0


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000.0


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import torch
    from PySide6.QtWidgets import QApplication

    from ...graph import trace_graph
    from ...models import get_model
    from ..architecture_view import ArchitectureView

    app = QApplication.instance() or QApplication(["resviz-bench"])
    ok = True
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        model = get_model(name)
        example = torch.zeros(1, *model.input_shape)
        started = time.perf_counter()
        opgraph = trace_graph(model, example)
        trace_s = time.perf_counter() - started

        view = ArchitectureView()
        view.resize(1400, 900)
        view.show()
        app.processEvents()
        started = time.perf_counter()
        view.set_graph(opgraph, name)
        app.processEvents()
        view.canvas.viewport().grab()
        open_s = time.perf_counter() - started
        verdict = "ok" if open_s * 1000 < OPEN_TARGET_MS else "SLOW"
        ok &= open_s * 1000 < OPEN_TARGET_MS or name != "resnet152"
        print(f"{name}: trace {trace_s * 1000:.0f} ms (baseline); view opens in {open_s * 1000:.0f} ms after it "
              f"= {open_s / trace_s:.2f}x the trace, at level {view.level()} with {len(view.node_ids())} boxes "
              f"[target < {OPEN_TARGET_MS:.0f} ms: {verdict}]")
        levels = [view.level()] + ([args.level] if args.level != view.level() else [])
        for level in levels:
            _time_level(app, view, opgraph, level, args.frames)
        view.shutdown()
        view.close()
        view.deleteLater()
        app.processEvents()
    return 0 if ok else 1


def _layer_norms(opgraph: Any, step: int) -> dict[str, float]:
    layers = [n for n, p in opgraph.module_params.items() if p and n in opgraph.leaf_modules]
    return {n: 10.0 ** (-6 + 5 * ((i + step) % len(layers)) / len(layers)) for i, n in enumerate(layers)}


def _time_level(app: Any, view: Any, opgraph: Any, level: str, frames: int) -> None:
    started = time.perf_counter()
    view.set_level(level)
    app.processEvents()
    view.canvas.viewport().grab()
    regroup_ms = (time.perf_counter() - started) * 1000
    paint = []
    for i in range(frames):
        started = time.perf_counter()
        view.canvas.zoom_by(1.1 if i % 2 else 1 / 1.1)
        bar = view.canvas.verticalScrollBar()
        bar.setValue(bar.value() + 40)
        view.canvas.viewport().repaint()
        paint.append(time.perf_counter() - started)
    recolour = []
    for i in range(frames):
        norms = _layer_norms(opgraph, i)
        started = time.perf_counter()
        view.set_gradient_colours(norms, (-6.0, -1.0))
        view.canvas.viewport().repaint()
        recolour.append(time.perf_counter() - started)
    rebuild = []
    for _ in range(max(3, frames // 10)):
        started = time.perf_counter()
        view.graph_scene.load(view.export_scene(legend=False))
        view.canvas.viewport().repaint()
        rebuild.append(time.perf_counter() - started)
    view.set_level(level)  # back to the view's own scene
    view.set_gradient_colours(None)
    print(f"  {level}: {len(view.node_ids())} boxes, {len(view.graph_scene.items())} items; re-group and draw "
          f"{regroup_ms:.0f} ms; zoom+pan frame {_median_ms(paint):.1f} ms (max {max(paint) * 1000:.1f}); "
          f"recolour in place {_median_ms(recolour):.1f} ms vs rebuilding the scene {_median_ms(rebuild):.1f} ms "
          f"= {statistics.median(recolour) / statistics.median(rebuild):.2f}x")
