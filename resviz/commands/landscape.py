"""``resviz landscape``: the loss landscape around a run's checkpoint (Li et al. 2018), to a PNG.

    resviz landscape runs/twins-residual.resviz --twin --grid 25 --out landscape.png
    resviz landscape runs/resnet20.resviz --dims 1 --samples 512 --seed 3
"""

from __future__ import annotations

import argparse

from ._lens_runs import add_run_arguments, computed_for_each_run, progress_line, report_figure


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "landscape", help="the loss landscape around a run's checkpoint, saved as a PNG",
        description="The loss around a run's checkpoint along one or two random filter-normalised directions "
                    "(biases and BatchNorm parameters fixed, BatchNorm's running statistics used), as a contour "
                    "map, a surface and 1-D slices, with a roughness number (bumps per line; 0 for a bowl). With --twin, the "
                    "run's twin beside it on one colour scale. Each result is added to its run file.")
    add_run_arguments(parser, samples=256, what="the loss is measured on")
    parser.add_argument("--grid", type=int, default=25, help="points per direction (default 25)")
    parser.add_argument("--span", type=float, default=1.0, help="the slice covers [-SPAN, SPAN] along each "
                                                                "direction (default 1)")
    parser.add_argument("--dims", type=int, default=2, choices=(1, 2), help="1-D or 2-D slice (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random directions (default 0)")
    parser.add_argument("--batch-size", type=int, default=256, help="images per forward pass (default 256)")
    parser.add_argument("--out", metavar="PNG", default="landscape.png", help="figure to write (default landscape.png)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..lenses.landscape import loss_landscape
    from ..lenses.landscape_figures import draw_landscapes
    from ..limits import check_seed

    check_seed(args.seed, "--seed")
    results = computed_for_each_run(
        args,
        lambda r: loss_landscape(r.model, r.inputs, r.labels, grid=args.grid, span=args.span, seed=args.seed,
                                 dims=args.dims, batch_size=args.batch_size, progress=progress_line(r.label)),
        lambda landscape: (f"roughness {landscape.roughness:.2f} bumps per line, loss at the checkpoint "
                           f"{landscape.centre_loss:.4f}"))
    path = draw_landscapes([(r.label, landscape, r.role) for r, landscape in results], args.out,
                           "Loss landscape along filter-normalised directions (Li et al. 2018)")
    report_figure(args, path, [{"run": str(r.path), "label": r.label, **landscape.summary()}
                               for r, landscape in results])
    return 0
