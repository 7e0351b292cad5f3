"""``resviz gui`` (also ``resviz`` with no command): open the window."""

from __future__ import annotations

import argparse

TABS = ("architecture", "training", "attribution")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "gui", help="open the window (the default)",
        description="Open the resviz window: on ResNet-20 and its Plain-20 twin by default, or on a zoo model, "
                    "your model file (it asks before running the file's code) or a run file (.resviz), which is "
                    "replayed when finished and followed while it is written.")
    parser.add_argument("target", nargs="?", metavar="MODEL_OR_RUN",
                        help="a zoo model name, path/to/model.py[:factory], or a run file (.resviz)")
    parser.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a model option for a zoo model, e.g. -o norm=none (repeatable)")
    parser.add_argument("--no-twin", action="store_true", help="show the model alone, without its twin")
    parser.add_argument("--tab", choices=TABS, help="the tab to show first")
    parser.add_argument("--presentation", action="store_true",
                        help="start in presentation mode (full screen, large fonts, high contrast; F11 toggles)")
    parser.add_argument("--train", action="store_true", help="start training the model (and its twin) at once")
    parser.add_argument("--max-steps", type=int, metavar="N", help="train at most N steps (a short demonstration)")
    parser.add_argument("--step", type=int, metavar="N", help="show step N of the run file")
    parser.add_argument("--play", action="store_true", help="start replaying the run file")
    parser.add_argument("--runs-folder", metavar="DIR", help="the folder listed in the runs panel (and trained into)")
    parser.set_defaults(func=run_gui)


def run_gui(args: argparse.Namespace) -> int:
    from ..models import parse_option
    from ..gui.app import LaunchOptions, run_app

    options = LaunchOptions(
        target=getattr(args, "target", None),
        options=dict(parse_option(text) for text in getattr(args, "option", []) or []),
        twin=not getattr(args, "no_twin", False), tab=getattr(args, "tab", None),
        presentation=getattr(args, "presentation", False), train=getattr(args, "train", False),
        max_steps=getattr(args, "max_steps", None), step=getattr(args, "step", None),
        play=getattr(args, "play", False), runs_folder=getattr(args, "runs_folder", None))
    if options.max_steps is not None and options.max_steps < 1:
        from ..errors import ResvizError

        raise ResvizError(f"--max-steps {options.max_steps} must be at least 1")
    return run_app(options=options)
