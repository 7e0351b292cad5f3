"""resviz: see why skip connections matter.

The package's core (models, graph, data, train, attribution) never imports Qt; only
``resviz.gui`` does. ``import resviz`` imports neither torch nor Qt: the API loads on first
use, so reading a run file (``resviz.runfile``) never pays for torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

from .errors import ResvizError  # noqa: E402 - after __version__, which the run file writer reads

# The public API: name -> (module, attribute), loaded on first use.
_LAZY = {
    "ModelSpec": ("resviz.models.spec", "ModelSpec"),
    "get_model": ("resviz.models.registry", "get_model"),
    "build_model": ("resviz.models.registry", "get_model"),
    "list_models": ("resviz.models.registry", "list_models"),
    "open_model": ("resviz.models.resolve", "open_model"),
    "watch": ("resviz.train.watch", "watch"),
    "open_run": ("resviz.runfile", "open_run"),
    "trace_graph": ("resviz.graph", "trace_graph"),
}

__all__ = ["ModelSpec", "ResvizError", "__version__", "build_model", "get_model", "list_models", "open_model"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module_name, attribute = _LAZY[name]
        return getattr(importlib.import_module(module_name), attribute)
    raise AttributeError(f"module 'resviz' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
