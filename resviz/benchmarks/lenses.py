"""``resviz bench lenses``: how long the lenses take, against a plain loop doing the same passes.

Each row is a function in ``ROWS`` taking the parsed arguments and returning ``LensRow``s; a lens
adds its rows by appending its function (and its options to ``add_arguments``). A row times the
lens and, in the same process, a baseline loop doing the same forward and backward passes with
none of the lens's machinery (hooks, bookkeeping, results); the ratio says what the machinery
costs (target: at most 1.10).

- signal: signal propagation of the CIFAR twins at the given depths (both twins per depth: build,
  batch statistics, one probe batch forward and backward, one line of inputs forward and backward);
  target under 10 s on a 2-core CPU for depths 8 to 110.
- landscape: a ``--grid`` x ``--grid`` landscape of ResNet-20 on ``--samples`` inputs (target at
  21x21 on 256: under 2 minutes on a CPU); ``lens_landscape.landscape_rows``.
- lesion: every block of ResNet-56 deleted alone on ``--lesion-samples`` images (target at 1,000:
  under 2 minutes on a CPU); ``lens_landscape.lesion_rows``.

``--only signal,lesion`` runs some of them.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

HELP = ("lenses: signal propagation (CIFAR twins 8..110), a 21x21 loss landscape of ResNet-20 and a lesion study "
        "of ResNet-56, each against a plain loop of the same passes")
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
    parser.add_argument("--grid", type=int, default=21, help="landscape grid points per side (default 21)")
    parser.add_argument("--samples", type=int, default=256, help="inputs of the landscape row (default 256)")
    parser.add_argument("--lesion-samples", type=int, default=1000,
                        help="test images of the lesion row (default 1000)")
    parser.add_argument("--lesion-depth", type=int, default=56, help="ResNet depth of the lesion row (default 56)")
    parser.add_argument("--image-size", type=int, default=32,
                        help="image side of the landscape and lesion rows (default 32)")
    parser.add_argument("--only", default="", help="comma-separated rows to run: signal, landscape, lesion "
                                                   "(default all)")


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

    from ..lenses.signal import FAMILY_OPTIONS, family_pair, freeze_batch_statistics, parse_depths, signal_at_depth
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
                model = get_model(name, **FAMILY_OPTIONS["cifar"], depth=depth).to(device)  # the lens's twins
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


def _from_dicts(rows: list[dict]) -> list[LensRow]:
    return [LensRow(row["name"], row["seconds"], row["baseline_seconds"], row.get("target_s"),
                    f"{row.get('device', 'cpu')}, median of {row.get('repeats', 1)}") for row in rows]


def landscape_rows(args: argparse.Namespace) -> list[LensRow]:
    from ..train.device import choose_device
    from .lens_landscape import landscape_rows as measure

    # Once: a landscape at full size is minutes of forward passes, twice over with its plain loop.
    return _from_dicts(measure(grid=args.grid, samples=args.samples, size=args.image_size, repeats=1, batched_rows=0,
                               device=str(choose_device(args.device))))


def lesion_rows(args: argparse.Namespace) -> list[LensRow]:
    from ..train.device import choose_device
    from .lens_landscape import lesion_rows as measure

    return _from_dicts(measure(depth=args.lesion_depth, samples=args.lesion_samples, size=args.image_size, repeats=1,
                               device=str(choose_device(args.device))))


# Rows of the benchmark, in order; each lens appends its own.
ROWS: list[Callable[[argparse.Namespace], list[LensRow]]] = [signal_rows, landscape_rows, lesion_rows]


def run(args: argparse.Namespace) -> int:
    import torch

    from ..errors import ResvizError
    from ..train.device import choose_device, device_label

    if args.repeat < 1:
        raise ResvizError(f"--repeat {args.repeat} must be at least 1")
    print(f"lenses benchmark on {device_label(choose_device(args.device))}, torch {torch.__version__}; median of "
          f"{args.repeat} runs, alternated with a plain loop of the same passes")
    names = {"signal_rows": "signal", "landscape_rows": "landscape", "lesion_rows": "lesion"}
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    unknown = only - set(names.values())
    if unknown:
        raise ResvizError(f"--only: unknown row {sorted(unknown)[0]!r}; rows are {', '.join(names.values())}")
    for row_function in ROWS:
        if only and names.get(getattr(row_function, "__name__", ""), "") not in only:
            continue
        for row in row_function(args):
            verdict = ""
            if row.target_seconds is not None:
                verdict = (f"; {'within' if row.seconds < row.target_seconds else 'OVER'} the "
                           f"{row.target_seconds:.0f} s target")
            overhead = "within" if row.ratio <= OVERHEAD_TARGET else "OVER"
            print(f"{row.name}: {row.seconds:.2f} s, plain loop {row.baseline_seconds:.2f} s, ×{row.ratio:.3f} "
                  f"({overhead} ×{OVERHEAD_TARGET:.2f}){verdict}  [{row.note}]", flush=True)
    return 0
