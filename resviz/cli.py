"""The ``resviz`` command: the window by default, headless subcommands for scripts.

Every subcommand lives in its own module under ``resviz.commands`` and is found there, so
adding one never touches this file. A module provides ``register(subparsers)``, which adds
its parser and sets ``func`` to a function taking the parsed arguments and returning an
exit code.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import traceback

from . import __version__
from .errors import ResvizError

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    from . import commands

    parser = argparse.ArgumentParser(
        prog="resviz",
        description="See why skip connections matter: explore plain and residual networks, watch their "
                    "gradients while they train, and compare attribution maps. With no command, opens the window.")
    parser.add_argument("--version", action="version", version=f"resviz {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks for errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{commands.__name__}.{info.name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    try:
        if func is None:
            from .commands.gui import run_gui

            return run_gui(args)
        return int(func(args) or 0)
    except ResvizError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"resviz: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("resviz: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one line for users, the traceback with --debug
        if args.debug:
            traceback.print_exc()
        print(f"resviz: internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
              file=sys.stderr)
        return 1
