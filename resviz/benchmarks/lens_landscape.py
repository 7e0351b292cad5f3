"""Rows of ``resviz bench lenses`` for the loss landscape and the lesion study: each lens timed
against a plain loop doing the same forward passes, in the same process, alternating which
runs first (target: the lens machinery adds at most 10 %).

- landscape: a ``grid x grid`` landscape of ResNet-20 (32x32) on 256 samples (target at 21x21:
  under 2 minutes on a CPU); the plain loop writes ``theta + a d1 + b d2`` into the weights and
  sums the loss over the same batches. A second row times several grid points per call
  (``torch.func.vmap`` over stacked weights) against one at a time, on a few rows of the grid.
- lesion: every block of ResNet-56 (32x32) deleted alone on 1,000 test images (target: under
  2 minutes on a CPU); the plain loop swaps each block for ``nn.Identity`` or its own shortcut
  module by hand and counts the correct predictions.

This module only measures (it has no ``run``): ``landscape_rows`` and ``lesion_rows`` return
one dict per row, with ``seconds``, ``baseline_seconds``, ``ratio`` and the targets.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

RATIO_TARGET = 1.10
LANDSCAPE_TARGET_S = 120.0
LESION_TARGET_S = 120.0


def _paired(lens: Callable[[], Any], baseline: Callable[[], Any], repeats: int) -> dict[str, float]:
    """Both run back to back ``repeats`` times, alternating which goes first; medians of the
    times and of the per-pair ratios (a burst of load hits both runs of a pair alike)."""
    lens_times, baseline_times, ratios = [], [], []
    for i in range(repeats):
        times = {}
        for name, function in ((("lens", lens), ("baseline", baseline)) if i % 2 == 0 else
                               (("baseline", baseline), ("lens", lens))):
            started = time.perf_counter()
            function()
            times[name] = time.perf_counter() - started
        lens_times.append(times["lens"])
        baseline_times.append(times["baseline"])
        ratios.append(times["lens"] / times["baseline"])
    return {"seconds": statistics.median(lens_times), "baseline_seconds": statistics.median(baseline_times),
            "ratio": statistics.median(ratios), "repeats": repeats}


def _row(name: str, measured: dict[str, float], target_s: float | None, **extra: Any) -> dict[str, Any]:
    met = measured["ratio"] <= RATIO_TARGET and (target_s is None or measured["seconds"] <= target_s)
    return {"name": name, **measured, "ratio_target": RATIO_TARGET, "target_s": target_s, "met": met, **extra}


def landscape_rows(*, grid: int = 21, samples: int = 256, size: int = 32, repeats: int = 1,
                   batched_rows: int = 2, points_per_batch: int = 4, device: str = "cpu",
                   threads: int | None = None) -> list[dict[str, Any]]:
    import torch
    from torch import nn

    from ..lenses.landscape import directions, loss_landscape
    from ..models import get_model

    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = get_model("resnet20", input_size=size).to(device).eval()
    inputs = torch.randn(samples, *model.input_shape, device=device)
    labels = torch.randint(0, 10, (samples,), device=device)
    dirs = directions(model, 0)
    params = list(model.parameters())
    origin = [p.detach().clone() for p in params]
    steps = [[d.to(device) for d in direction] for direction in dirs]
    coordinates = torch.linspace(-1.0, 1.0, grid).tolist()

    @torch.no_grad()
    def plain_loop(rows: int = grid) -> list[float]:
        losses = []
        for b in coordinates[:rows]:
            for a in coordinates:
                for p, o, d1, d2 in zip(params, origin, *steps):
                    p.copy_(o + a * d1 + b * d2)
                total = 0.0
                for start in range(0, samples, 256):
                    outputs = model(inputs[start:start + 256])
                    total += float(nn.functional.cross_entropy(outputs, labels[start:start + 256], reduction="sum"))
                losses.append(total / samples)
        for p, o in zip(params, origin):
            p.copy_(o)
        return losses

    def lens() -> None:
        loss_landscape(model, inputs, labels, grid=grid, seed=0, batch_size=256, points_per_batch=1)

    rows = [_row(f"landscape {grid}x{grid}, ResNet-20 {size}x{size}, {samples} samples",
                 _paired(lens, plain_loop, repeats), LANDSCAPE_TARGET_S if grid >= 21 else None,
                 points=grid * grid, device=device)]
    if batched_rows > 0 and points_per_batch > 1:
        # One landscape of batched_rows x grid points, batched against one at a time.
        def batched() -> None:
            loss_landscape(model, inputs[:samples], labels, grid=grid, seed=0, dims=1, points_per_batch=points_per_batch)

        def single() -> None:
            loss_landscape(model, inputs[:samples], labels, grid=grid, seed=0, dims=1, points_per_batch=1)

        measured = _paired(batched, single, max(1, batched_rows))
        rows.append(_row(f"landscape 1-D {grid} points, {points_per_batch} grid points per call (vmap) vs one",
                         measured, None, device=device))
    return rows


def lesion_rows(*, depth: int = 56, samples: int = 1000, size: int = 32, repeats: int = 1, device: str = "cpu",
                threads: int | None = None) -> list[dict[str, Any]]:
    import torch
    from torch import nn

    from ..lenses.lesion import lesion_study
    from ..models import get_model

    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = get_model("resnet20", depth=depth, input_size=size).to(device).eval()
    inputs = torch.randn(samples, *model.input_shape, device=device)
    labels = torch.randint(0, 10, (samples,), device=device)
    stages = [getattr(model, name) for name in ("layer1", "layer2", "layer3")]

    def accuracy() -> float:
        correct = 0
        with torch.inference_mode():
            for start in range(0, samples, 500):
                correct += int((model(inputs[start:start + 500]).argmax(1) == labels[start:start + 500]).sum())
        return correct / samples

    def plain_loop() -> list[float]:
        scores = [accuracy()]
        for stage in stages:
            for index in range(len(stage)):
                block = stage[index]
                stage[index] = block.downsample if block.downsample is not None else nn.Identity()
                scores.append(accuracy())
                stage[index] = block
        return scores

    def lens() -> None:
        lesion_study(model, inputs, labels, draws=0, batch_size=500)

    lesion_study(model, inputs[:2], labels[:2], draws=0)   # warm-up: the trace behind the blocks
    blocks = sum(len(stage) for stage in stages)
    return [_row(f"lesion of every block ({blocks}), ResNet-{depth} {size}x{size}, {samples} images",
                 _paired(lens, plain_loop, repeats), LESION_TARGET_S if depth >= 56 and samples >= 1000 else None,
                 blocks=blocks, device=device)]
