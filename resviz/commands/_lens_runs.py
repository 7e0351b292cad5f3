"""What the lens commands share: the options naming a run (and its twin run), loaded with its data,
each lens computed, described and stored back (by ``resviz.views.lens_runs``), and the report."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ResvizError
from ..views.lens_runs import (
    LensRun,
    load_lens_run_source,
    sort_plain_first,
    store_lens_run_result,
)


def add_run_arguments(parser: argparse.ArgumentParser, *, samples: int, what: str) -> None:
    parser.add_argument("run", metavar="RUN", help="a run file (.resviz)")
    parser.add_argument("--twin", action="store_true", help="also the run's twin run, side by side")
    parser.add_argument("--checkpoint", type=int, metavar="STEP", help="the run's checkpoint (default: the latest; "
                                                                       "the twin's latest)")
    parser.add_argument("--samples", type=int, default=samples, metavar="N",
                        help=f"images of the split {what} (default {samples}, cycling through the classes)")
    parser.add_argument("--split", default="test", choices=("train", "test"), help="data split (default test)")
    parser.add_argument("--data-dir", help="folder holding downloaded data sets")
    parser.add_argument("--device", default="auto", help="torch device (default: a GPU when there is one)")
    parser.add_argument("--trust", action="store_true", help="allow running the code of a user's model file")
    parser.add_argument("--no-store", action="store_true", help="do not add the result to the run file(s)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def load_lens_runs(args: argparse.Namespace) -> list[LensRun]:
    """The run named on the command line and, with ``--twin``, its twin run (plain first)."""
    from ..attribution.sources import is_run_file, source_from_run
    from ..train.device import choose_device

    if not is_run_file(args.run):
        raise ResvizError(f"{args.run} is not a run file (.resviz); train one with 'resviz train'")
    if args.samples < 1:
        raise ResvizError(f"--samples {args.samples}: must be at least 1")
    device = choose_device(args.device)
    source = source_from_run(args.run, args.checkpoint, trust=args.trust)
    sources = [source]
    if args.twin:
        if source.twin_path is None or not source.twin_path.exists():
            raise ResvizError(f"run {args.run} has no twin run file; train the pair with 'resviz train --twin'")
        sources.append(source_from_run(source.twin_path, None, trust=args.trust))
    return sort_plain_first([load_lens_run_source(each, samples=args.samples, split=args.split,
                                                  data_dir=args.data_dir, device=device) for each in sources])


def computed_for_each_run(args: argparse.Namespace, compute: Callable[[LensRun], Any],
                          describe: Callable[[Any], str]) -> list[tuple[LensRun, Any]]:
    """``compute(lens_run)`` for the run (and twin) the arguments name, each timed and described on
    stderr (``describe(result)``), and added to its run file unless ``--no-store``."""
    import sys
    import time

    results = []
    for lens_run in load_lens_runs(args):
        started = time.perf_counter()
        result = compute(lens_run)
        print(f"{lens_run.label}: {describe(result)} ({time.perf_counter() - started:.1f} s)", file=sys.stderr)
        result.params.update(run=lens_run.path.name)
        if not args.no_store:
            store_lens_run_result(lens_run, result.to_lens_result())
        results.append((lens_run, result))
    return results


def progress_line(label: str):
    """A progress callback that redraws ``label: 42.0%`` on stderr when it is a terminal."""
    import sys

    def report(fraction: float) -> None:
        if sys.stderr.isatty():
            print(f"\r{label}: {fraction:6.1%}", end="", file=sys.stderr, flush=True)

    return report


def report_figure(args: argparse.Namespace, path: Path, runs: list[dict]) -> None:
    """Where the figure went, or with ``--json`` the figure and each run's numbers."""
    import json

    if args.json:
        print(json.dumps({"figure": str(path), "runs": runs}, indent=2))
    else:
        print(f"wrote {path}")
