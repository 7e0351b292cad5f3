"""The window's benchmarks: ``resviz bench gui`` (window.py), ``resviz bench architecture``
and ``resviz bench lecture``.

They need Qt, so they live here; their help and options are declared by
``resviz.commands.bench``, which imports this package only to run one.
"""

from __future__ import annotations

import argparse

from . import architecture, lecture, window

BENCHMARKS = {"gui": window, "architecture": architecture, "lecture": lecture}


def run(name: str, args: argparse.Namespace) -> int:
    return BENCHMARKS[name].run(args)
