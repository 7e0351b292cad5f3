"""The ``resviz`` command: the window by default, headless subcommands for scripts.

Every subcommand lives in its own module under ``resviz.commands`` and is found there, so
adding one never touches this file. A module provides ``register(subparsers)``, which adds
its parser and sets ``func`` to a function taking the parsed arguments and returning an
exit code.

``resviz RUN.resviz`` and ``resviz MODEL`` are short for ``resviz gui RUN.resviz`` and
``resviz gui MODEL``; ``--debug`` is accepted anywhere on the line.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import traceback

from . import __version__
from .errors import ResvizError, describe_exception

EXIT_USAGE = 2
DEBUG_HELP = "show full tracebacks for errors"


class UsageError(ResvizError):
    """A command line that does not parse: printed as one line, exit code 2."""


class CommandLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line without the usage block.

    Subparsers inherit the class (``add_subparsers`` uses the parent's type), so every
    subcommand's mistakes read alike: ``resviz: error: argument --epochs: invalid int value:
    'x'; see 'resviz train --help'``.
    """

    subcommand = False  # set on the subcommands' parsers, which then refuse what they do not know

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message}; see '{self.prog} --help'")

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        namespace, extras = super().parse_known_args(args, namespace)
        if extras and self.subcommand:  # here the hint can name the subcommand's own help
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras


def build_parser() -> argparse.ArgumentParser:
    from . import commands

    parser = CommandLineParser(
        prog="resviz",
        description="See why skip connections matter: explore plain and residual networks, watch their "
                    "gradients while they train, and compare attribution maps. With no command, opens the window; "
                    "'resviz RUN.resviz' or 'resviz MODEL' opens it on that run or model.")
    parser.add_argument("--version", action="version", version=f"resviz {__version__}")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{commands.__name__}.{info.name}").register(subparsers)
    _accept_debug_everywhere(parser)
    return parser


def _accept_debug_everywhere(parser: argparse.ArgumentParser) -> None:
    """Give every subcommand (and sub-subcommand) ``--debug`` too, and mark it a subcommand.

    Its default is left unset there, so ``resviz --debug train`` keeps the top-level value.
    """
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in {id(p): p for p in action.choices.values()}.values():  # aliases share a parser
                sub.subcommand = True
                if "--debug" not in sub._option_string_actions:
                    sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
                _accept_debug_everywhere(sub)


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next(a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def is_window_target(word: str) -> bool:
    """A run file, a zoo model name or a model file: what ``resviz WORD`` opens in the window."""
    from .models import is_user_reference, list_models
    from .runfile import RUN_SUFFIX

    return word.endswith(RUN_SUFFIX) or is_user_reference(word) or word in list_models()


def route_window_target(argv: list[str], commands: dict[str, argparse.ArgumentParser]) -> list[str]:
    """``resviz [--debug] runs/x.resviz ...`` -> ``resviz [--debug] gui runs/x.resviz ...``.

    The top-level options take no value, so the first word that is not an option is the
    command; when it names no command but a run, model or model file, ``gui`` goes before it.
    """
    for index, word in enumerate(argv):
        if word == "--":
            break
        if word.startswith("-"):
            continue
        if word not in commands and is_window_target(word):
            return [*argv[:index], "gui", *argv[index:]]
        break
    return argv


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv[:argv.index("--")] if "--" in argv else "--debug" in argv
    try:
        parser = build_parser()
        args = parser.parse_args(route_window_target(argv, _subcommands(parser)))
        debug = args.debug
        func = getattr(args, "func", None)
        if func is None:
            from .commands.gui import run_gui

            return run_gui(args)
        return int(func(args) or 0)
    except ResvizError as exc:
        if debug and not isinstance(exc, UsageError):
            traceback.print_exc()
        print(f"resviz: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("resviz: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one line for users, the traceback with --debug
        if debug:
            traceback.print_exc()
        print(f"resviz: internal error: {describe_exception(exc)} (run with --debug for the traceback)",
              file=sys.stderr)
        return 1
