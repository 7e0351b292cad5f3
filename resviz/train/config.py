"""``TrainConfig``: everything that defines a training run, stored as JSON in its run file.

The same config drives ``resviz train``, the window's training host and the twin helper, and
a run can be repeated from the config its file holds (same seed and config give the same
recorded losses).
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ResvizError, did_you_mean
from ..limits import check_input_shape, check_seed

OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("none", "step", "cosine")
NONFINITE_POLICIES = ("stop", "skip")
RUNS_FOLDER = "runs"
MAX_IMAGE_SIZE = 1024
MAX_LR = 1000.0
# The settings a model's training recipe fills when the config leaves them unset (None).
RECIPE_FIELDS = ("optimizer", "lr", "momentum", "weight_decay", "schedule", "warmup", "batch_size")
# Accepted ranges of the whole-number options (None, where allowed, leaves it to the recipe or the data).
_INT_RANGES = {"epochs": (1, 1_000_000), "batch_size": (1, 65_536), "record_every": (1, 1_000_000_000),
               "flush_every": (1, 100_000), "max_steps": (1, 1_000_000_000), "train_samples": (1, 100_000_000),
               "test_samples": (1, 100_000_000), "checkpoint_every": (0, 1_000_000)}
_MAY_BE_NONE = ("epochs", "batch_size", "max_steps", "train_samples", "test_samples")


@dataclass
class TrainConfig:
    """A training run: model, data, optimisation, recording and where the run file goes."""

    # model
    model: str = "resnet20"
    model_options: dict[str, Any] = field(default_factory=dict)
    trust: bool = False                 # allow running a user's model file
    trusted_sha256: str | None = None   # ... and only while it holds the content the user trusted
    weights: str | None = None          # start from these weights
    input_shape: tuple[int, ...] | None = None  # (C, H, W) for user models that do not declare one
    # data
    dataset: str = "shapes"             # shapes | mnist | fashion | cifar10 | cifar100 | a folder
    data_dir: str | None = None
    download: bool = False
    train_samples: int | None = None    # shapes: how many to make; others: use the first N
    test_samples: int | None = None
    data_seed: int = 0                  # the data set itself (shapes), not the training order
    image_size: int | None = None       # resize the images to this square size as they are read
    augment: bool = False               # He et al.: pad 4, random crop, horizontal flip
    normalize: bool = True
    # optimisation; None takes the model's recipe (resviz.models.recipes), see ``with_recipe``
    epochs: int | None = None           # None: 1, or as many as ``max_steps`` needs
    max_steps: int | None = None        # train this many steps in all (may end mid-epoch)
    batch_size: int | None = None
    optimizer: str | None = None        # sgd | adam
    lr: float | None = None
    momentum: float | None = None
    weight_decay: float | None = None
    schedule: str | None = None         # none | step | cosine
    warmup: float | None = None         # fraction of the steps with a linear warm-up
    lr_milestones: tuple[float, ...] = (0.5, 0.75)  # step schedule: fractions of training
    lr_gamma: float = 0.1
    device: str = "auto"
    amp: bool = False                   # mixed precision, CUDA only
    seed: int = 0
    # recording
    record_every: int = 1
    flush_every: int = 50               # recorded steps per host transfer
    flush_seconds: float = 1.0          # ... or this long, when steps are slow
    checkpoint_every: int = 1           # epochs between checkpoints; 0: only the final weights
    nonfinite: str = "stop"             # stop | skip
    # output
    out: str | None = None              # run file; None: runs/MODEL-TIME.resviz
    overwrite: bool = False
    twin: str | None = None             # the twin's run file, when trained as a pair
    name: str | None = None
    recipe: dict[str, Any] | None = None  # the recipe that filled unset settings (set by with_recipe)

    def __post_init__(self) -> None:
        self.model_options = dict(self.model_options or {})
        self.lr_milestones = tuple(float(m) for m in self.lr_milestones)
        if self.input_shape is not None:
            self.input_shape = tuple(int(d) for d in self.input_shape)

    # ------------------------------------------------------------------ checks

    def validate(self) -> TrainConfig:
        """Raise a ``ResvizError`` naming the first setting that cannot work; return self."""
        if self.optimizer is not None:
            _choice("optimizer", self.optimizer, OPTIMIZERS)
        if self.schedule is not None:
            _choice("schedule", self.schedule, SCHEDULES)
        _choice("nonfinite", self.nonfinite, NONFINITE_POLICIES)
        for name, (low, high) in _INT_RANGES.items():
            value = getattr(self, name)
            if value is None and name in _MAY_BE_NONE:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise ResvizError(f"training option {name}={value!r} must be a whole number between {low} and {high}")
        if self.image_size is not None and (not isinstance(self.image_size, int) or isinstance(self.image_size, bool)
                                            or not 1 <= self.image_size <= MAX_IMAGE_SIZE):
            raise ResvizError(f"image size {self.image_size!r} must be a whole number from 1 to {MAX_IMAGE_SIZE}")
        if self.trusted_sha256 is not None and not (isinstance(self.trusted_sha256, str)
                                                    and len(self.trusted_sha256) == 64):
            raise ResvizError(f"trusted_sha256 {self.trusted_sha256!r} is not a SHA-256 digest")
        check_seed(self.seed, "training option seed")
        check_seed(self.data_seed, "training option data_seed")
        if self.input_shape is not None:
            check_input_shape(self.input_shape, "training option input_shape")
        for name in ("lr", "momentum", "weight_decay", "warmup", "lr_gamma", "flush_seconds"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)
                                      or not math.isfinite(value)):
                raise ResvizError(f"training option {name}={value!r} must be a finite number")
        if self.lr is not None and not 0 < self.lr <= MAX_LR:
            raise ResvizError(f"learning rate {self.lr!r} must be a positive number of at most {MAX_LR:g}")
        if self.momentum is not None and not 0 <= self.momentum < 1:
            raise ResvizError(f"momentum {self.momentum!r} must lie in [0, 1)")
        if self.weight_decay is not None and not (self.weight_decay >= 0 and math.isfinite(self.weight_decay)):
            raise ResvizError(f"weight decay {self.weight_decay!r} must be >= 0")
        if self.warmup is not None and not 0 <= self.warmup < 1:
            raise ResvizError(f"warm-up {self.warmup!r} must be a fraction of training in [0, 1)")
        if not 0 < self.lr_gamma <= 1:
            raise ResvizError(f"lr_gamma {self.lr_gamma!r} must lie in (0, 1]")
        if any(not 0 < m < 1 for m in self.lr_milestones) or list(self.lr_milestones) != sorted(self.lr_milestones):
            raise ResvizError(f"lr_milestones {list(self.lr_milestones)} must be increasing fractions of training "
                              "between 0 and 1, e.g. 0.5,0.75")
        if self.flush_seconds <= 0:
            raise ResvizError(f"flush_seconds {self.flush_seconds!r} must be positive")
        return self

    def with_recipe(self) -> TrainConfig:
        """This config with every unset optimisation setting taken from the model's recipe.

        A setting the user gave wins. When the user picks another optimiser than the recipe's,
        the unset settings come from that optimiser's own recipe; an SGD learning rate follows
        a batch size the user chose (linear scaling).
        """
        from ..models.recipes import recipe_for

        if self.recipe is not None:
            return self  # already resolved
        recipe = recipe_for(self.model, self.model_options, optimizer=self.optimizer, batch_size=self.batch_size)
        applied = [name for name in RECIPE_FIELDS if getattr(self, name) is None]
        changes: dict[str, Any] = {name: getattr(recipe, name) for name in applied}
        changes["recipe"] = {**recipe.to_dict(), "applied": applied}
        return dataclasses.replace(self, **changes)

    @property
    def learning_rate(self) -> float:
        if self.lr is None:
            return self.with_recipe().lr
        return self.lr

    def epochs_for(self, steps_per_epoch: int) -> int:
        """Epochs to run with this many steps per epoch: ``--steps N`` alone trains N steps, over as many
        epochs as they take; with ``epochs`` too, whichever ends first."""
        if self.epochs is not None:
            return self.epochs
        if self.max_steps is not None:
            return max(1, math.ceil(self.max_steps / max(1, steps_per_epoch)))
        return 1

    def run_path(self) -> Path:
        """Where the run file goes: ``out``, else ``runs/MODEL-YYYYmmdd-HHMMSS.resviz``; an ``out``
        that is a folder (or ends with a slash) gets ``MODEL-YYYYmmdd-HHMMSS.resviz`` inside it."""
        stem = Path(self.model.split(":")[0]).stem if ":" in self.model else self.model
        name = f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}.resviz"
        if self.out:
            path = Path(self.out)
            if self.out.endswith(("/", os.sep)) or path.is_dir():
                return path / name
            return path if path.suffix else path.with_suffix(".resviz")
        return Path(RUNS_FOLDER) / name

    # ------------------------------------------------------------------ (de)serialisation

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["lr_milestones"] = list(self.lr_milestones)
        data["input_shape"] = list(self.input_shape) if self.input_shape is not None else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ResvizError(f"unknown training option {unknown[0]!r}{did_you_mean(unknown[0], known)}")
        return cls(**data)

    def replace(self, **changes: Any) -> TrainConfig:
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ResvizError(f"unknown training option {unknown[0]!r}")
        return dataclasses.replace(self, **changes)


def _choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ResvizError(f"training option {name}={value!r} is not one of {', '.join(choices)}")
