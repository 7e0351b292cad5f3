"""The files resviz reads at run time, shipped inside the package (see ``package-data`` in
pyproject.toml) and found with ``importlib.resources``, wherever resviz is installed.

Qt-free: the window turns these into icons (``resviz.gui.main_window.app_icon``).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
from importlib import resources
from pathlib import Path

ICON = "icon.svg"  # the application's icon

_extracted = contextlib.ExitStack()  # copies made where the package is not a folder (a zip)
atexit.register(_extracted.close)


def asset_bytes(name: str) -> bytes:
    return (resources.files(__name__) / name).read_bytes()


@functools.cache
def asset_path(name: str) -> Path:
    """A file on disk, for libraries that read it themselves (Qt reads an SVG icon again each time
    it paints it): the package's own file, or a copy kept until the process exits."""
    return _extracted.enter_context(resources.as_file(resources.files(__name__) / name))
