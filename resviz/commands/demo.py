"""``resviz demo [NAME]``: the seeds' experiments as presets, each a claim checked on your machine.

    resviz demo                      list the presets
    resviz demo vanishing            Plain-20 vs ResNet-20 without norm layers
    resviz demo degradation --quick  the same experiment on a smaller budget
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_LESSON_NOT_SHOWN = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="run one of the seeds' experiments and check its lesson",
        description="Run a preset experiment: it trains ordinary run files (open them with 'resviz gui'), "
                    "checks the lesson it shows as a list of claims, prints the numbers and writes a figure. "
                    "Exit code 1 when a claim did not hold on this run. With no name, lists the presets.")
    parser.add_argument("name", metavar="NAME", nargs="?", help="the preset (see 'resviz demo')")
    parser.add_argument("--quick", action="store_true", help="a smaller budget: a first look in a fraction of the "
                                                             "time (the lessons still hold, with smaller margins)")
    parser.add_argument("--out", metavar="DIR", default="runs", help="folder for the run files and the figure "
                                                                     "(default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and the data order (default 0)")
    parser.add_argument("--device", default="auto", help="auto, cuda, mps or cpu")
    parser.add_argument("--data-dir", metavar="DIR", help="where MNIST / CIFAR-10 are (or are downloaded to)")
    parser.add_argument("--download", action="store_true", help="download a missing data set (checksum verified)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..presets import PresetOptions, get_preset, list_presets

    if args.name is None:
        presets = list_presets()
        width = max(len(p.name) for p in presets)
        for preset in presets:
            print(f"{preset.name:<{width}}  {preset.title}")
        print("\nrun one with 'resviz demo NAME' (add --quick for a smaller budget)")
        return 0
    preset = get_preset(args.name)
    options = PresetOptions(budget="quick" if args.quick else "full", seed=args.seed, device=args.device,
                            data_dir=args.data_dir, download=args.download)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        from ..errors import ResvizError

        raise ResvizError(f"--out {out}: not a folder")
    out.mkdir(parents=True, exist_ok=True)
    print(f"{preset.name}: {preset.title}", file=sys.stderr)
    result = preset.run(out, options, on_progress=None if args.quiet else ProgressLines())
    for line in result.lines:
        print(line)
    print()
    for claim in result.claims:
        print(claim.line())
    for label, path in result.runs.items():
        print(f"run file ({label}): {path}")
    if result.figure is not None:
        print(f"figure: {result.figure}")
    if not result.lesson_shown:
        print(f"resviz: the lesson of '{preset.name}' did not show on this run (see the claims marked NO)",
              file=sys.stderr)
        return EXIT_LESSON_NOT_SHOWN
    return 0


class ProgressLines:
    """One progress line per run, redrawn in place on a terminal (the train command's line)."""

    def __init__(self) -> None:
        self._label: str | None = None
        self._line = None

    def __call__(self, label: str, progress) -> None:
        from .train import TrainingProgressLine

        if label != self._label:
            if self._line is not None:
                self._line.close()
            self._label, self._line = label, TrainingProgressLine(label)
        self._line(progress)
        if progress.phase == "done":
            self._line.close()


__all__ = ["register", "run"]
