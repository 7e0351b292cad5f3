"""Training recipes: how each model is trained when the user does not say.

A recipe is the optimiser, learning rate, schedule, warm-up, weight decay and batch size that
make a model learn on each built-in data set. ``resviz train``, the window and the presets
all take it from ``recipe_for``, the run file records it, and any setting the user gives
overrides the recipe's.

The rules follow the literature and were checked by training on shapes, MNIST and CIFAR-10:

- Nets with normalisation layers: SGD with momentum 0.9 and weight decay 5e-4, as He et al.
  (2016) train the CIFAR ResNets, at their learning rate 0.1 per 128 samples scaled to the
  batch (linear scaling), with a short linear warm-up (He et al. warm ResNet-110 up) and a
  cosine decay to zero. The decay matters beyond accuracy: while the weights still move fast
  at a constant high rate, BatchNorm's running statistics (an average over the last few
  dozen steps) describe weights that no longer exist, and the eval-mode accuracy collapses.
- Nets without normalisation layers (the vanishing-gradient demonstrations, the deep MLP,
  the seeds' Keras models, users' own models): Adam at 1e-3 — the seeds' own choice — with
  the same cosine decay. SGD at the rates above diverges on them within a step.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# He et al. 2016: learning rate 0.1 for a batch of 128.
SGD_LR_PER_SAMPLE = 0.1 / 128
DEFAULT_BATCH_SIZE = 64
ADAM_LR = 1e-3


@dataclass(frozen=True)
class Recipe:
    """How to train a model: every field has the name of the ``TrainConfig`` setting it fills."""

    optimizer: str
    lr: float
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "cosine"
    warmup: float = 0.0          # fraction of the training steps with a linear warm-up
    batch_size: int = DEFAULT_BATCH_SIZE
    why: str = ""                # one line: where the recipe comes from

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        parts = [f"{self.optimizer} lr {self.lr:g}"]
        if self.optimizer == "sgd":
            parts.append(f"momentum {self.momentum:g}")
        if self.weight_decay:
            parts.append(f"weight decay {self.weight_decay:g}")
        parts.append(f"{self.schedule} schedule" if self.schedule != "none" else "constant rate")
        if self.warmup:
            parts.append(f"{self.warmup:.0%} warm-up")
        parts.append(f"batch {self.batch_size}")
        return ", ".join(parts)


def sgd_recipe(batch_size: int = DEFAULT_BATCH_SIZE, *, weight_decay: float = 5e-4,
               lr_per_sample: float = SGD_LR_PER_SAMPLE, why: str = "") -> Recipe:
    return Recipe("sgd", lr=round(lr_per_sample * batch_size, 6), momentum=0.9, weight_decay=weight_decay,
                  schedule="cosine", warmup=0.05, batch_size=batch_size,
                  why=why or "He et al. 2016: SGD, momentum 0.9, lr 0.1 per 128 samples, cosine decay")


def adam_recipe(batch_size: int = DEFAULT_BATCH_SIZE, *, why: str = "") -> Recipe:
    return Recipe("adam", lr=ADAM_LR, momentum=0.9, weight_decay=0.0, schedule="cosine", warmup=0.0,
                  batch_size=batch_size,
                  why=why or "Adam at 1e-3 with cosine decay: trains nets without normalisation layers reliably")


def recipe_for(model: str, options: dict[str, Any] | None = None, *, optimizer: str | None = None,
               batch_size: int | None = None) -> Recipe:
    """The recipe of a zoo model with these options (its defaults filled in), or of a user's model.

    ``optimizer`` and ``batch_size``, when the user chose them, adapt it: another optimiser gets
    that optimiser's recipe; SGD's learning rate scales with the batch.
    """
    recipe = _model_recipe(model, options)
    size = batch_size or recipe.batch_size
    if optimizer is not None and optimizer != recipe.optimizer:
        return sgd_recipe(size) if optimizer == "sgd" else adam_recipe(size)
    if size != recipe.batch_size:
        if recipe.optimizer == "sgd":
            per_sample = recipe.lr / recipe.batch_size
            return sgd_recipe(size, weight_decay=recipe.weight_decay, lr_per_sample=per_sample, why=recipe.why)
        return adam_recipe(size, why=recipe.why)
    return recipe


def _model_recipe(model: str, options: dict[str, Any] | None) -> Recipe:
    from .reference import is_user_reference
    from .registry import list_models, model_entry, resolve_options

    if is_user_reference(model) or model not in list_models():
        # A user's model file, or a module handed to the trainer under a name of its own.
        return adam_recipe(why="a user's model: Adam at 1e-3 with cosine decay, the safest default")
    merged = resolve_options(model, dict(options or {}))
    family = model_entry(model).family
    if model in ("mnist_resnet", "mnist_plain"):
        # Measured on a 4,000-digit subset of real MNIST, one epoch: 92.4-92.6 % at batch 16 (250
        # updates), 90.8-91.6 % at 32, 89.2 % at 64 (the seed's batch, meant for all 60,000 digits).
        return adam_recipe(16, why="the seeds' Keras code: Adam at 1e-3 (here with cosine decay), batch 16 so "
                                   "that one epoch of a small subset still gives enough updates")
    if family == "seed":
        return adam_recipe(why="the seeds' Keras code: Adam at 1e-3 (here with cosine decay)")
    if merged.get("norm", "none") == "none":
        return adam_recipe(why="no normalisation layers: Adam at 1e-3 with cosine decay (SGD at the usual "
                               "rates diverges on them)")
    if family == "imagenet-resnet":
        return sgd_recipe(weight_decay=1e-4, lr_per_sample=0.1 / 256,
                          why="torchvision's ImageNet recipe: SGD, momentum 0.9, lr 0.1 per 256 samples scaled to "
                              "the batch, weight decay 1e-4, cosine decay")
    return sgd_recipe()


__all__ = ["Recipe", "adam_recipe", "recipe_for", "sgd_recipe"]
