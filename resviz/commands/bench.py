"""``resviz bench NAME``: the performance measurements users can run on their own machine.

Each benchmark is a module in ``resviz.benchmarks`` providing ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. Results are ratios against a baseline run
in the same process, so a noisy machine moves both sides alike.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil


def register(subparsers: argparse._SubParsersAction) -> None:
    from .. import benchmarks

    parser = subparsers.add_parser("bench", help="run a performance benchmark",
                                   description="Run a performance benchmark; results are ratios against a "
                                               "baseline measured in the same process.")
    names = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    for info in sorted(pkgutil.iter_modules(benchmarks.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{benchmarks.__name__}.{info.name}")
        sub = names.add_parser(info.name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(func=module.run)
