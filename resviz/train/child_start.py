"""How training children start: forked from a server that has already imported PyTorch.

A child started with ``spawn`` is a fresh interpreter that imports PyTorch and the trainer
before its first step: 1.5-3 s, twice for the twins, on every run the window starts. On Linux,
children come instead from multiprocessing's *fork server*: a process started once, from a
clean interpreter (never from the window, so no Qt state or threads are copied), that imports the
trainer (``PRELOAD``) and forks a child per run. A child then starts in milliseconds with its
imports done. The server never touches CUDA, so its children may.

What a fork does not carry over from the window is passed along: the working directory and
the environment at the moment the run starts (``ParentState``). Elsewhere children are spawned:
on macOS a fork after the system frameworks PyTorch loads is not safe, and Windows has no fork.

``warm_up()`` starts the server in the background, so that the first run does not wait for its
imports; the window calls it when it opens.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from dataclasses import dataclass, field

PRELOAD = ["resviz.train.trainer"]

_lock = threading.Lock()
_context: multiprocessing.context.BaseContext | None = None


def start_method() -> str:
    """``forkserver`` on Linux, else ``spawn``."""
    forks = sys.platform.startswith("linux") and "forkserver" in multiprocessing.get_all_start_methods()
    return "forkserver" if forks else "spawn"


def training_context() -> multiprocessing.context.BaseContext:
    """The multiprocessing context training children start from (the server preloads the trainer)."""
    global _context
    with _lock:
        if _context is None:
            context = multiprocessing.get_context(start_method())
            if start_method() == "forkserver":
                context.set_forkserver_preload(PRELOAD)
            _context = context
        return _context


def warm_up() -> threading.Thread | None:
    """Start the fork server now, in a background thread, so the first child starts at once.
    Returns the thread (None where children are spawned)."""
    training_context()   # sets the server's preload before it starts
    if start_method() != "forkserver":
        return None
    from multiprocessing import forkserver

    def ensure() -> None:
        try:
            forkserver.ensure_running()
        except (OSError, ValueError):
            pass  # the first child's start tries again and reports what fails
    thread = threading.Thread(target=ensure, name="resviz-fork-server", daemon=True)
    thread.start()
    return thread


@dataclass
class ParentState:
    """What a forked child must take from the process that asked for it, not from the server."""

    cwd: str = field(default_factory=os.getcwd)
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    def apply(self) -> None:
        """In the child: the parent's working directory and environment, as a spawned child has them."""
        os.chdir(self.cwd)
        os.environ.clear()
        os.environ.update(self.environ)
