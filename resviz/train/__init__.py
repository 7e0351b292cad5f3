"""Training: the trainer, the on-device gradient recorder and the training host (the run file
they write is ``resviz.runfile``).

Qt-free. Heavier parts load on first use, so ``import resviz.train`` stays quick and one
part can be used without the others.
"""

from __future__ import annotations

import importlib
from typing import Any

# ``watch`` is imported eagerly: the function shares its name with its module, and a lazy
# lookup would hand out the module once something imported ``resviz.train.watch``.
from .watch import Watcher, watch  # noqa: F401 - exported (__all__ is computed below)

_LAZY = {
    "Trainer": "resviz.train.trainer",
    "TrainResult": "resviz.train.trainer",
    "TrainConfig": "resviz.train.config",
    "TrainingControl": "resviz.train.control",
    "TrainingProcess": "resviz.train.worker",
    "start_twins": "resviz.train.worker",
    "GradientRecorder": "resviz.train.recorder",
}

__all__ = sorted([*_LAZY, "Watcher", "watch"])


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'resviz.train' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
