"""Recording from the frameworks people train with (Lightning, Hugging Face ``Trainer``): small
callbacks over the same ``RecordingSession`` that ``resviz.watch`` uses.

Each framework's callback lives in its own module (``resviz.integrations.lightning``,
``resviz.integrations.huggingface``), which imports the framework; ``import resviz`` never does.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import ResvizError


def require(module: str, package: str, feature: str) -> ModuleType:
    """Import ``module`` or raise one line saying which package ``feature`` needs."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ResvizError(f"{feature} needs the {package} package, which is not installed "
                          f"(pip install {package}): {exc}") from None


def scalar(value: object) -> float | None:
    """A logged metric (a Python number or a one-element tensor) as a float; None when it is neither."""
    item = getattr(value, "item", None)
    if callable(item):
        try:
            value = item()
        except (RuntimeError, ValueError):
            return None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
