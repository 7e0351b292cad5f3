"""What the recorder delivers to the host: the recorded steps (the run file's ``step`` columns)
and the non-finite steps among them, with the flag bits that say what was not finite."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from ..runfile import StepBatch

# Bits of the per-step non-finite flag.
NONFINITE_LOSS = 1
NONFINITE_GRAD = 2
NONFINITE_WEIGHT = 4
NONFINITE_BITS = NONFINITE_LOSS | NONFINITE_GRAD | NONFINITE_WEIGHT
# A bit beside them, not a non-finite one: the gradient scaler skipped this step's update (its scaled
# gradients overflowed), so its non-finite gradient norms are NaN, not a fault of the training.
SKIPPED_BY_SCALER = 8


@dataclass
class RecordedSteps:
    """Consecutive recorded steps on the host: the columns of the run file's ``step`` table."""

    step: np.ndarray           # (n,) int64
    epoch: np.ndarray          # (n,) int64
    time: np.ndarray           # (n,) float64, seconds on the recorder's clock
    loss: np.ndarray           # (n,) float64
    acc: np.ndarray            # (n,) float64, NaN where not given
    lr: np.ndarray             # (n,) float64, NaN where not given
    grad_norm: np.ndarray      # (n, L) float32
    weight_norm: np.ndarray    # (n, L) float32
    update_ratio: np.ndarray   # (n, L) float32, NaN where the previous weights are unknown
    act_grad_norm: np.ndarray  # (n, B) float32, NaN where the block got no gradient
    dead_relu: np.ndarray      # (n, B) float32, NaN where the block does not end in a ReLU (first 32 samples)
    nonfinite_flags: np.ndarray  # (n,) int64, bits NONFINITE_LOSS | NONFINITE_GRAD | NONFINITE_WEIGHT | SKIPPED_BY_SCALER

    def __len__(self) -> int:
        return int(self.step.shape[0])

    def __getitem__(self, index: slice | np.ndarray) -> RecordedSteps:
        """Rows by slice or mask/index array, e.g. ``steps[steps.step <= 10]``."""
        return RecordedSteps(**{name: getattr(self, name)[index] for name in self.__dataclass_fields__})

    @property
    def nonfinite(self) -> np.ndarray:
        return (self.nonfinite_flags & NONFINITE_BITS) != 0

    @property
    def skipped(self) -> np.ndarray:
        """Steps whose update the gradient scaler skipped."""
        return (self.nonfinite_flags & SKIPPED_BY_SCALER) != 0

    def to_step_batch(self) -> StepBatch:
        """The same steps as the run file's ``StepBatch``."""
        from ..runfile import StepBatch

        return StepBatch(step=self.step, epoch=self.epoch, time=self.time, loss=self.loss, acc=self.acc,
                         lr=self.lr, grad_norm=self.grad_norm, weight_norm=self.weight_norm,
                         update_ratio=self.update_ratio, act_grad_norm=self.act_grad_norm,
                         dead_relu=self.dead_relu, nonfinite=self.nonfinite)


@dataclass
class NonfiniteSteps:
    """The non-finite steps among those that just reached the host, recorded or not, in order."""

    step: np.ndarray           # (k,) int64
    flags: np.ndarray          # (k,) int64, bits NONFINITE_LOSS | NONFINITE_GRAD | NONFINITE_WEIGHT
    recorded: np.ndarray       # (k,) bool: whether the step has a row in the RecordedSteps delivered with it

    def __len__(self) -> int:
        return int(self.step.shape[0])


def describe_nonfinite(flags: int) -> str:
    parts = [name for bit, name in ((NONFINITE_LOSS, "loss"), (NONFINITE_GRAD, "gradient"),
                                    (NONFINITE_WEIGHT, "weight")) if flags & bit]
    return ", ".join(parts) or "none"


def nonfinite_steps(steps: RecordedSteps | None, log: np.ndarray | None, logged: list[int]) -> NonfiniteSteps:
    """The non-finite steps of one delivery: recorded rows and logged unrecorded steps, by step."""
    parts = []
    if steps is not None:
        bad = steps.nonfinite
        parts.append((steps.step[bad], steps.nonfinite_flags[bad], np.ones(int(bad.sum()), bool)))
    if logged:
        flags = log.astype(np.int64)
        bad = flags != 0
        parts.append((np.asarray(logged, np.int64)[bad], flags[bad], np.zeros(int(bad.sum()), bool)))
    if not parts:
        return NonfiniteSteps(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool))
    step, flags, recorded = (np.concatenate(column) for column in zip(*parts))
    order = np.argsort(step, kind="stable")
    return NonfiniteSteps(step[order], flags[order], recorded[order])


def concat_steps(parts: Sequence[RecordedSteps]) -> RecordedSteps:
    """Several deliveries joined in order."""
    if not parts:
        raise ValueError("nothing to join")
    names = RecordedSteps.__dataclass_fields__
    return RecordedSteps(**{name: np.concatenate([getattr(p, name) for p in parts]) for name in names})
