"""``resviz gui`` (also ``resviz`` with no command): open the window."""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Mapping

from ..errors import ResvizError

# Set to 1, the window closes itself (exit code 0) once its model, and the run file it was
# given, are loaded, or with exit code 1 at the first error dialog: a check of the whole
# start-up that needs no one to close the window (the README's test runs ``resviz`` so).
QUIT_AFTER_LOAD_ENV = "RESVIZ_QUIT_AFTER_LOAD"

TABS = ("architecture", "training", "attribution", "lecture", "why")


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


def check_display(environ: Mapping[str, str] = os.environ, platform: str = sys.platform) -> None:
    """Refuse in one line where Qt would find no display and abort the process.

    Only X11 and Wayland systems need a display server; ``QT_QPA_PLATFORM`` (offscreen, vnc,
    ...) chooses another backend, and is trusted unless it names xcb or wayland.
    """
    if platform in ("darwin", "win32", "cygwin"):
        return
    backend = environ.get("QT_QPA_PLATFORM", "").split(":")[0]
    x11, wayland = bool(environ.get("DISPLAY")), bool(environ.get("WAYLAND_DISPLAY"))
    if backend == "" and not (x11 or wayland):
        reason = "DISPLAY and WAYLAND_DISPLAY are not set"
    elif backend == "xcb" and not x11:
        reason = "QT_QPA_PLATFORM=xcb but DISPLAY is not set"
    elif backend.startswith("wayland") and not wayland:
        reason = f"QT_QPA_PLATFORM={backend} but WAYLAND_DISPLAY is not set"
    else:
        return
    raise ResvizError(f"no display to open the window on ({reason}); run it with QT_QPA_PLATFORM=offscreen to "
                      f"open it without a screen, or use the headless commands ('resviz --help')")


def run_gui(args: argparse.Namespace) -> int:
    check_display()  # before Qt is imported: Qt aborts the process without a display
    from ..gui.app import LaunchOptions, is_run_file, quit_when_loaded, run_app
    from ..models import parse_option

    options = LaunchOptions(
        target=getattr(args, "target", None),
        options=dict(parse_option(text) for text in getattr(args, "option", []) or []),
        twin=not getattr(args, "no_twin", False), tab=getattr(args, "tab", None),
        presentation=getattr(args, "presentation", False), train=getattr(args, "train", False),
        max_steps=getattr(args, "max_steps", None), step=getattr(args, "step", None),
        play=getattr(args, "play", False), runs_folder=getattr(args, "runs_folder", None))
    if options.max_steps is not None and options.max_steps < 1:
        raise ResvizError(f"--max-steps {options.max_steps} must be at least 1")
    on_open = None
    if os.environ.get(QUIT_AFTER_LOAD_ENV, "") not in ("", "0"):
        on_open = functools.partial(quit_when_loaded, with_run=bool(options.target and is_run_file(options.target)))
    return run_app(options=options, on_open=on_open)
