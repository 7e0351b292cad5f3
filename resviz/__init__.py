"""resviz: see why skip connections matter.

The package's core (models, graph, data, train, attribution) never imports Qt; only
``resviz.gui`` does.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

from .errors import ResvizError
from .models import ModelSpec, get_model, list_models, open_model

build_model = get_model

__all__ = ["ModelSpec", "ResvizError", "__version__", "build_model", "get_model", "list_models", "open_model"]


def __getattr__(name: str) -> Any:
    # Heavier parts of the API load on first use, so `import resviz` stays quick.
    lazy = {
        "watch": ("resviz.train.watch", "watch"),
        "open_run": ("resviz.train.store", "open_run"),
        "trace_graph": ("resviz.graph", "trace_graph"),
    }
    if name in lazy:
        import importlib

        module_name, attribute = lazy[name]
        return getattr(importlib.import_module(module_name), attribute)
    raise AttributeError(f"module 'resviz' has no attribute {name!r}")
