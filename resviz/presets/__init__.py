"""The seeds' experiments as presets: ``resviz demo NAME`` and the window's training menu.

Each preset trains ordinary run files, checks its lesson as claims computed from them, and
draws one figure. ``list_presets()`` names them; ``get_preset(name)`` returns one.
"""

from __future__ import annotations

import importlib

from ..errors import ResvizError, did_you_mean
from .base import BUDGETS, Claim, Preset, PresetOptions, PresetResult

# In the order `resviz demo` lists them.
_MODULES = ("vanishing", "degradation", "mnist", "overfitting", "metrics")


def get_preset(name: str) -> Preset:
    if name not in _MODULES:
        raise ResvizError(f"unknown preset {name!r}{did_you_mean(name, _MODULES)}; 'resviz demo' lists them")
    return importlib.import_module(f"{__name__}.{name}").PRESET


def list_presets() -> list[Preset]:
    return [get_preset(name) for name in _MODULES]


__all__ = ["BUDGETS", "Claim", "Preset", "PresetOptions", "PresetResult", "get_preset", "list_presets"]
