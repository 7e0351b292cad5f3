"""The attribution maps' colour maps: the tables live in ``resviz.colours`` (one owner for the
command line's figures and the window); this name stays for the modules that import it."""

from __future__ import annotations

from ..colours import COLORMAPS, get_colormap, list_colormaps

__all__ = ["COLORMAPS", "get_colormap", "list_colormaps"]
