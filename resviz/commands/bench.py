"""``resviz bench NAME``: the performance measurements users can run on their own machine.

Each benchmark of the core is a module in ``resviz.benchmarks`` providing ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``; a module without ``run`` is a helper (synthetic
runs). The window's benchmarks need Qt: they live in ``resviz.gui.benchmarks``, imported only
to run one, and their help and options are declared here, so that listing them loads no Qt.
Results are ratios against a baseline run in the same process, so a noisy machine moves both
sides alike.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from collections.abc import Callable


def add_window_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--layers", type=int, default=110, help="layers in the heatmap (default 110)")
    parser.add_argument("--steps", type=int, default=20_000, help="recorded steps (default 20000)")
    parser.add_argument("--curves", type=int, default=20, help="curves drawn beside the heatmap (default 20)")
    parser.add_argument("--frames", type=int, default=60, help="frames timed per case (default 60)")
    parser.add_argument("--stall-seconds", type=float, default=10.0,
                        help="seconds measured per phase of the stall measurement (default 10)")
    parser.add_argument("--model", default="resnet20", help="model trained for the stall measurement")
    parser.add_argument("--size", default="800x450,400x450", metavar="WxH,WxH",
                        help="sizes of the heatmap and the curves figure in pixels (default: as in the training "
                             "view of a 1600x1000 window)")
    parser.add_argument("--only", choices=("refresh", "stall"), help="run one of the two measurements")


ARCHITECTURE_MODELS = "resnet152,resnet1202"


def add_architecture_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", default=ARCHITECTURE_MODELS,
                        help=f"comma-separated zoo models (default {ARCHITECTURE_MODELS})")
    parser.add_argument("--level", default="blocks", help="a second level to time besides the default (default blocks)")
    parser.add_argument("--frames", type=int, default=30, help="frames timed per case (default 30)")


def add_lecture_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", default="1280x720", metavar="WxH", help="window size (default 1280x720)")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="cap the training (default: the window's own settings, as a lecturer gets them)")
    parser.add_argument("--timeout", type=float, default=300.0, help="give up on a stage after this many seconds")


# name -> (help, options) of the benchmarks in resviz.gui.benchmarks
WINDOW_BENCHMARKS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {
    "gui": ("the window: heatmap + curves refresh time, and the GUI thread's longest stall while a run trains",
            add_window_arguments),
    "architecture": ("the architecture view: open time after tracing (ResNet-152 < 1 s), repaint and in-place "
                     "recolour", add_architecture_arguments),
    "lecture": ("the lecture page: seconds from a cold window to the twins' picture with the difference visible "
                "(2 clicks; target 60 s)", add_lecture_arguments),
}


def run_window_benchmark(args: argparse.Namespace) -> int:
    from ..gui.benchmarks import run  # Qt: only when a window benchmark runs

    return run(args.benchmark, args)


def register(subparsers: argparse._SubParsersAction) -> None:
    from .. import benchmarks

    parser = subparsers.add_parser("bench", help="run a performance benchmark",
                                   description="Run a performance benchmark; results are ratios against a "
                                               "baseline measured in the same process.")
    names = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    found = {}
    for info in pkgutil.iter_modules(benchmarks.__path__):
        module = importlib.import_module(f"{benchmarks.__name__}.{info.name}")
        if hasattr(module, "run"):
            found[info.name] = (module.HELP, module.add_arguments, module.run)
    for name, (text, add_arguments) in WINDOW_BENCHMARKS.items():
        found[name] = (text, add_arguments, run_window_benchmark)
    for name, (text, add_arguments, run) in sorted(found.items()):
        sub = names.add_parser(name, help=text, description=text)
        add_arguments(sub)
        sub.set_defaults(func=run)
