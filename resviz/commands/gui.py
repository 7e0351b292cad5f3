"""``resviz gui`` (also ``resviz`` with no command): open the window."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("gui", help="open the window (the default)",
                                   description="Open the resviz window, optionally on a model or run file.")
    parser.add_argument("target", nargs="?", help="a zoo model name or a run file (.resviz) to open")
    parser.set_defaults(func=run_gui)


def run_gui(args: argparse.Namespace) -> int:
    from ..gui.app import run_app

    return run_app(target=getattr(args, "target", None))
