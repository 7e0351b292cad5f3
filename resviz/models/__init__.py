"""The model zoo: residual networks and their plain twins, plus users' own models.

Names load on first use, so ``ModelSpec`` (which run files store) is read without importing
torch; everything that builds a model imports it.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "TwinPair": "pairs", "find_twin_pair": "pairs", "twin_pair": "pairs",
    "is_model_file": "reference", "is_user_reference": "reference", "runs_code": "reference",
    "load_model_file": "model_files",
    "ModelInfo": "registry", "count_parameters": "registry", "get_model": "registry", "list_models": "registry",
    "model_device": "registry", "model_entry": "registry", "model_info": "registry", "resolve_options": "registry",
    "weighted_depth": "registry",
    "LoadedModel": "resolve", "open_model": "resolve", "parse_input_shape": "resolve", "parse_option": "resolve",
    "rebuild_model": "resolve",
    "ModelSpec": "spec",
    "file_sha256": "user", "load_user_model": "user",
    "WeightReport": "weights", "load_weights": "weights", "read_state_dict": "weights", "save_weights": "weights",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
