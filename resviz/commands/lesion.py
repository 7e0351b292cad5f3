"""``resviz lesion``: delete blocks of a run's checkpoint at test time (Veit et al. 2016, Fig. 3), to a PNG.

    resviz lesion runs/twins-residual.resviz --twin --out lesion.png
    resviz lesion runs/resnet56.resviz --samples 1000 --draws 10
"""

from __future__ import annotations

import argparse

from ._lens_runs import add_run_arguments, computed_for_each_run, progress_line, report_figure


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "lesion", help="test accuracy with blocks of a run deleted, saved as a PNG",
        description="Delete each block of a run's checkpoint alone (keeping only its shortcut: the identity, "
                    "its projection, or for a plain downsampling block a zero-padding subsample), then k = 1...n "
                    "blocks at random, and measure the accuracy on the run's test split. With --twin, the run's "
                    "twin beside it. Each result is added to its run file.")
    add_run_arguments(parser, samples=1000, what="the accuracy is measured on")
    parser.add_argument("--draws", type=int, default=5, help="random sets of blocks per k (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random sets (default 0)")
    parser.add_argument("--batch-size", type=int, default=500, help="images per forward pass (default 500)")
    parser.add_argument("--out", metavar="PNG", default="lesion.png", help="figure to write (default lesion.png)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..lenses.lesion import lesion_study
    from ..lenses.lesion_figures import draw_lesions
    from ..limits import check_seed

    check_seed(args.seed, "--seed")

    def describe(study) -> str:
        summary = study.summary()
        return (f"accuracy {study.baseline:.1%}, one block deleted {summary['single_mean']:.1%} on average "
                f"(worst {summary['single_min']:.1%}; chance {study.chance:.1%})")

    results = computed_for_each_run(
        args,
        lambda r: lesion_study(r.model, r.inputs, r.labels, draws=args.draws, seed=args.seed,
                               batch_size=args.batch_size, progress=progress_line(r.label)),
        describe)
    path = draw_lesions([(r.label, study, r.role) for r, study in results], args.out,
                        "Lesion study: blocks deleted at test time (Veit et al. 2016)")
    report_figure(args, path, [{"run": str(r.path), "label": r.label, "blocks": study.blocks,
                                "single": study.single.tolist(), **study.summary()} for r, study in results])
    return 0
