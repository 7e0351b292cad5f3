"""``resviz bench lenses``: how long the lenses take, against a plain loop doing the same passes.

Each row is a function in ``ROWS`` taking the parsed arguments and returning ``LensRow``s; a lens
adds its rows by appending its function (and its options to ``add_arguments``). A row times the
lens and, in the same process, a baseline loop doing the same forward and backward passes with
none of the lens's machinery (hooks, bookkeeping, results); the ratio says what the machinery
costs (target: at most 1.10).

- signal: signal propagation of the CIFAR twins at the given depths (both twins per depth: build,
  batch statistics, one probe batch forward and backward, one line of inputs forward and backward);
  target under 10 s on a 2-core CPU for depths 8 to 110.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

HELP = "lenses: signal propagation across depth (CIFAR twins 8..110) against a plain loop of the same passes"
DEFAULT_DEPTHS = "8,20,56,110"
SIGNAL_TARGET_SECONDS = 10.0
OVERHEAD_TARGET = 1.10


@dataclass(frozen=True)
class LensRow:
    name: str
    seconds: float
    baseline_seconds: float
    target_seconds: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.seconds / self.baseline_seconds if self.baseline_seconds > 0 else float("nan")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--depths", default=DEFAULT_DEPTHS,
                        help=f"CIFAR twin depths of the signal row (default {DEFAULT_DEPTHS})")
    parser.add_argument("--batch", type=int, default=16, help="probe batch of the signal row (default 16)")
    parser.add_argument("--line-points", type=int, default=64, help="line of inputs of the signal row (default 64)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each side, alternated; the median is shown (default 3)")
    parser.add_argument("--device", default="auto", help="auto (a GPU when there is one), cuda, mps or cpu")


def _alternate(lens: Callable[[], None], baseline: Callable[[], None], repeat: int,
               sync: Callable[[], None]) -> tuple[float, float]:
    """Median seconds of each, run in turn so that a noisy machine moves both alike."""
    lens_times, base_times = [], []
    for _ in range(repeat):
        for fn, times in ((baseline, base_times), (lens, lens_times)):
            sync()
            start = time.perf_counter()
            fn()
            sync()
            times.append(time.perf_counter() - start)
    return statistics.median(lens_times), statistics.median(base_times)


def signal_rows(args: argparse.Namespace) -> list[LensRow]:
    import torch
    from torch import nn

    from ..lenses.signal import family_pair, freeze_batch_statistics, parse_depths, signal_at_depth
    from ..models import get_model
    from ..train.device import choose_device, synchronize

    device = choose_device(args.device)
    depths = parse_depths(args.depths)
    pair = family_pair("cifar")

    def lens() -> None:
        for depth in depths:
            signal_at_depth("cifar", depth, batch=args.batch, line_points=args.line_points, device=device)

    def plain_loop() -> None:
        for depth in depths:
            for name in (pair.plain, pair.residual):
                torch.manual_seed(0)
                model = get_model(name, depth=depth).to(device)
                inputs = torch.randn(args.batch, *model.input_shape, device=device)
                freeze_batch_statistics(model, inputs)
                probe = inputs.clone().requires_grad_(True)
                labels = torch.randint(0, 10, (args.batch,), device=device)
                torch.autograd.grad(nn.functional.cross_entropy(model(probe), labels, reduction="sum"), [probe])
                line = inputs[:1] + torch.linspace(-1, 1, args.line_points, device=device).view(-1, 1, 1, 1)
                line.requires_grad_(True)
                torch.autograd.grad(model(line).sum(), [line])

    lens_seconds, base_seconds = _alternate(lens, plain_loop, args.repeat, lambda: synchronize(device))
    target = SIGNAL_TARGET_SECONDS if device.type == "cpu" else None
    return [LensRow(f"signal cifar {args.depths}", lens_seconds, base_seconds, target,
                    f"batch {args.batch}, line {args.line_points}, {device}")]


# Rows of the benchmark, in order; each lens appends its own.
ROWS: list[Callable[[argparse.Namespace], list[LensRow]]] = [signal_rows]


def run(args: argparse.Namespace) -> int:
    import torch

    from ..errors import ResvizError
    from ..train.device import choose_device, device_label

    if args.repeat < 1:
        raise ResvizError(f"--repeat {args.repeat} must be at least 1")
    print(f"lenses benchmark on {device_label(choose_device(args.device))}, torch {torch.__version__}; median of "
          f"{args.repeat} runs, alternated with a plain loop of the same passes")
    for row_function in ROWS:
        for row in row_function(args):
            verdict = ""
            if row.target_seconds is not None:
                verdict = (f"; {'within' if row.seconds < row.target_seconds else 'OVER'} the "
                           f"{row.target_seconds:.0f} s target")
            overhead = "within" if row.ratio <= OVERHEAD_TARGET else "OVER"
            print(f"{row.name}: {row.seconds:.2f} s, plain loop {row.baseline_seconds:.2f} s, ×{row.ratio:.3f} "
                  f"({overhead} ×{OVERHEAD_TARGET:.2f}){verdict}  [{row.note}]", flush=True)
    return 0
