"""What every preset shares: its result, its claims, and training a config on a budget.

A preset is one of the seeds' experiments, run by ``resviz demo NAME`` or from the window's
training menu. It trains one or more runs (ordinary run files), checks the lesson it is
meant to show as a list of ``Claim``s computed from those files, and draws one figure.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..train.config import TrainConfig

# The budgets a preset runs at: "full" is the documented experiment (minutes on a CPU),
# "quick" the same experiment scaled down for tests and a first look.
BUDGETS = ("full", "quick")


@dataclass(frozen=True)
class PresetOptions:
    """What the user may choose for any preset."""

    budget: str = "full"              # full | quick
    seed: int = 0
    device: str = "auto"
    data_dir: str | None = None       # where MNIST / CIFAR-10 files are (or go, with download)
    download: bool = False

    def __post_init__(self) -> None:
        if self.budget not in BUDGETS:
            from ..errors import ResvizError

            raise ResvizError(f"preset budget {self.budget!r} is not one of {', '.join(BUDGETS)}")


@dataclass
class Claim:
    """One statement of the lesson and whether this run shows it, with the numbers behind it."""

    text: str
    holds: bool
    detail: str

    def line(self) -> str:
        return f"[{'yes' if self.holds else 'NO '}] {self.text}: {self.detail}"


@dataclass
class PresetResult:
    name: str
    runs: dict[str, Path]                       # label -> run file
    claims: list[Claim] = field(default_factory=list)
    figure: Path | None = None
    lines: list[str] = field(default_factory=list)   # what the seed's script printed, and more

    @property
    def lesson_shown(self) -> bool:
        return all(claim.holds for claim in self.claims)


@dataclass(frozen=True)
class Preset:
    name: str
    title: str                   # one line for `resviz demo` and the window's menu
    description: str             # what it shows and how, a few sentences
    run: Callable[..., PresetResult]


ProgressCallback = Callable[[str, object], None]


def train_one(config: TrainConfig, label: str, on_progress: ProgressCallback | None = None):
    """Train one run of a preset in this process; returns the ``TrainResult``."""
    from ..train.trainer import Trainer

    callback = (lambda progress: on_progress(label, progress)) if on_progress else None
    result = Trainer(config, on_progress=callback).run()
    if result.status != "finished":
        from ..errors import ResvizError

        raise ResvizError(f"preset run {label} ({result.path}) ended {result.status}: {result.error or 'stopped'}")
    return result


def run_path(folder: Path, stem: str) -> str:
    return str(folder / f"{stem}.resviz")


def epoch_means(values: np.ndarray, epochs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-epoch means of a recorded per-step series (NaN steps left out): (epoch numbers, means)."""
    numbers = np.unique(epochs)
    means = np.array([np.nanmean(values[epochs == e]) if np.isfinite(values[epochs == e]).any() else math.nan
                      for e in numbers])
    return numbers, means


def smoothed(values: np.ndarray, window: int) -> np.ndarray:
    """A trailing moving average (NaN-aware), for noisy per-step training curves."""
    values = np.asarray(values, dtype=np.float64)
    window = max(1, min(window, len(values)))
    finite = np.isfinite(values)
    sums = np.cumsum(np.where(finite, values, 0.0))
    counts = np.cumsum(finite)
    sums = np.concatenate([[0.0], sums])
    counts = np.concatenate([[0], counts])
    index = np.arange(1, len(values) + 1)
    start = np.maximum(index - window, 0)
    n = counts[index] - counts[start]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (sums[index] - sums[start]) / np.maximum(n, 1), np.nan)


def final_mean(values: np.ndarray, fraction: float = 0.2) -> float:
    """The mean of the last ``fraction`` of a series: a training curve's end, robust to one batch."""
    values = np.asarray(values, dtype=np.float64)
    tail = values[-max(1, int(len(values) * fraction)):]
    tail = tail[np.isfinite(tail)]
    return float(tail.mean()) if len(tail) else math.nan
