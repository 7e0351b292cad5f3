"""``resviz signal FAMILY --depths 8,20,56,110``: signal propagation across depth at initialisation,
plain twin against residual twin (no training): activation and gradient norms per block, the
gradient norm at the input and the shattering of gradients, printed per depth and, with
``--out``, drawn as a figure."""

from __future__ import annotations

import argparse
import sys

from ..errors import ResvizError
from ..limits import check_seed

FAMILY_HELP = ("cifar (the CIFAR ResNets and their plain twins; depth = layers, 6n+2: 8, 14, 20, 32, 44, 56, "
               "110, ..., 1202), mlp (the deep MLP pair; depth = hidden blocks, 1 to 2000), preact (the "
               "pre-activation ResNets, 6n+2), or any zoo model with a twin, e.g. resnet56 or mlp_plain, for "
               "its pair ('resviz models' lists them)")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "signal", help="signal propagation across depth at initialisation: plain vs residual twins",
        description="Build a twin pair at each depth (same seed, at initialisation) and measure on one batch of "
                    "Gaussian inputs: activation and gradient norms per block, the gradient norm at the input "
                    "and the correlation of neighbouring inputs' gradients (shattered gradients, Balduzzi et "
                    "al. 2017). Nothing is trained and nothing is stored.")
    parser.add_argument("family", metavar="FAMILY", help=FAMILY_HELP)
    parser.add_argument("--depths", default="8,20,56,110", metavar="D1,D2,...",
                        help="comma-separated depths, the twins' depth option (default 8,20,56,110)")
    parser.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a model option shared by both twins, e.g. -o width=8 (repeatable)")
    parser.add_argument("--batch", type=int, default=16, help="inputs in the probe batch (default 16)")
    parser.add_argument("--line-points", type=int, default=64,
                        help="inputs along the line for the gradient correlation (default 64)")
    parser.add_argument("--loss", choices=("cross_entropy", "projection"), default="cross_entropy",
                        help="cross-entropy of random labels (default) or a random projection of the outputs")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and the inputs (default 0)")
    parser.add_argument("--device", default="auto", help="auto (a GPU when there is one), cuda, mps or cpu")
    parser.add_argument("--out", metavar="FIG.png", help="write the figure (PNG)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..lenses.signal import check_depths, parse_depths, signal_across_depths
    from ..models import parse_option
    from ..train.device import choose_device, device_label

    depths = parse_depths(args.depths)
    options = dict(parse_option(text) for text in args.option)
    if args.batch < 1:
        raise ResvizError(f"--batch {args.batch} must be at least 1")
    if args.line_points < 4:
        raise ResvizError(f"--line-points {args.line_points} must be at least 4")
    seed = check_seed(args.seed, "--seed")
    check_depths(args.family, depths, options)  # every depth refused or accepted before any work
    device = choose_device(args.device)
    print(f"signal of {args.family} on {device_label(device)}; per depth: input gradient norm and gradient "
          "correlation (lag 1), plain | residual", flush=True)

    def progress(done: int, total: int, result) -> None:
        plain, residual = result.plain, result.residual
        print(f"  depth {result.depth:>5}: {plain.input_gradient_norm:10.3g} {plain.gradient_correlation:6.2f} | "
              f"{residual.input_gradient_norm:10.3g} {residual.gradient_correlation:6.2f}   "
              f"({plain.seconds + residual.seconds:.1f} s, {done}/{total})", flush=True)

    results = signal_across_depths(args.family, depths, batch=args.batch, line_points=args.line_points, seed=seed,
                                   loss=args.loss, device=device, options=options, progress=progress)
    if args.out:
        from ..lenses.lens_figures import draw_signal

        written = draw_signal(results, args.out)
        print(f"wrote {written}", file=sys.stderr)
    return 0
