"""``resviz models``: the zoo as a table, or JSON for scripts."""

from __future__ import annotations

import argparse
import json

from ..errors import ResvizError
from ..formatting import format_count
from ..models import list_models, model_info


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="list the model zoo",
                                   description="List the model zoo: name, family, depth, parameters, skips.")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--family", help="only this family (cifar-resnet, imagenet-resnet, preact-resnet, mlp, "
                                         "densenet, seed)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    names = list_models(args.family)
    if not names:
        families = sorted({model_info(n).family for n in list_models()})
        raise ResvizError(f"no model family {args.family!r}; families are {', '.join(families)}")
    infos = [model_info(name) for name in names]
    if args.json:
        print(json.dumps([info.to_dict() for info in infos], indent=2))
        return 0
    header = ("name", "family", "depth", "parameters", "skips", "twin")
    rows = [(i.name, i.family, str(i.depth), format_count(i.parameters), i.skips, i.twin or "-")
            for i in infos]
    widths = [max(len(row[c]) for row in [header, *rows]) for c in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) if c in (0, 1, 4, 5) else cell.rjust(w)
                        for c, (cell, w) in enumerate(zip(row, widths))).rstrip())
    return 0
