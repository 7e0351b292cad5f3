"""Warnings for runs that collapse or diverge, read from the rows the recorder already delivered.

A ``HealthMonitor`` looks at each batch of ``RecordedSteps`` as it reaches the host (every
``flush_every`` steps, with the copy that happens anyway), so it adds no host synchronisation.
It knows four symptoms, each raised at most once per run:

- ``loss_spike``: a loss an order of magnitude above the recent median and above chance: the
  learning rate is too high;
- ``loss_plateau``: after ``PLATEAU_AFTER_STEPS`` steps the loss still sits at ln K, the loss of
  a uniform guess over K classes: the net is not learning;
- ``dead_relu``: a block's ReLU outputs are almost all exactly zero, for several recorded steps;
- ``zero_gradient``: layers whose gradient is exactly zero for several recorded steps (dead
  units pass no gradient back, so these layers have stopped learning).

Each warning is one line: what happened, at which step, with numbers, then ``"; "`` and the
remedy that fits the symptom. The thresholds below say what they were measured on.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from .recorder import RecordedSteps

# The run file's event kind of these warnings.
WARNING_KIND = "warning"

# A loss above SPIKE_FACTOR times max(median of the last SPIKE_WINDOW losses, ln K) is a spike: an
# order of magnitude above both. Measured on shapes: healthy runs stay below 1.7x; the seed's MNIST
# ResNet overshoots to 3.2-3.6x at step 1 under Adam and then learns, and to 3.9-6.7x under SGD
# (lr 0.05) and then collapses, which the dead-ReLU and zero-gradient checks report.
SPIKE_FACTOR = 10.0
SPIKE_WINDOW = 20
# The loss is "stuck at ln K" when the mean of the last PLATEAU_ROWS recorded losses lies within
# PLATEAU_TOLERANCE (relative) of ln K at step PLATEAU_AFTER_STEPS or later. Measured on shapes:
# healthy runs (ResNet-20 without norm layers under Adam) sit at ln K for up to ~50 steps, and at
# step 150 that mean is 40 % or more below it (14 % at step 100); stuck runs stay within 0.7 %.
PLATEAU_AFTER_STEPS = 150
PLATEAU_ROWS = 50
PLATEAU_TOLERANCE = 0.02
# A block is dead when more than DEAD_FRACTION of its ReLU outputs are zero for DEAD_ROWS recorded
# steps in a row. Collapsed runs sit at 0.99-1.0 for 10 to 150 steps; healthy ones peak at 0.89
# (ResNet-20) and, for the seed's MNIST ResNet under Adam, at 0.954 for a few steps.
DEAD_FRACTION = 0.98
DEAD_ROWS = 5
# A layer has stopped learning when its gradient is exactly zero for ZERO_ROWS recorded steps in a
# row (a zero-initialised residual branch passes none in its first step only).
ZERO_ROWS = 5

SYMPTOMS = ("loss_spike", "loss_plateau", "dead_relu", "zero_gradient")


@dataclass(frozen=True)
class HealthWarning:
    """One warning: the step it refers to, the symptom, the one-line message (with its hint)."""

    step: int
    symptom: str              # one of SYMPTOMS
    message: str
    layer: str | None = None  # the first layer or block concerned, where there is one


@dataclass(frozen=True)
class Remedies:
    """What the hints may suggest, and in which words.

    ``flags``: name ``resviz train``'s options (``--lr``, ``--optimizer adam``, ``-o norm=batch``)
    rather than plain words. ``optimizer``: the optimizer in use, when known. ``has_norm``: the
    model has norm layers already. ``norm_option``: the model takes ``-o norm=...`` (a zoo model).
    ``base_lr``: the configured rate, suggested a tenth of (a schedule's rate at the step is not
    what the user sets); without it, the rate recorded at the step.
    """

    flags: bool = False
    optimizer: str | None = None
    has_norm: bool = False
    norm_option: bool = False
    base_lr: float | None = None

    def lower_lr(self, lr: float) -> str:
        if self.base_lr is not None:
            lr = self.base_lr
        if not (math.isfinite(lr) and lr > 0):
            return "lower the learning rate (e.g. to a tenth)"
        tenth = f"{lr / 10:.3g}"
        return f"lower the learning rate, e.g. --lr {tenth}" if self.flags else \
            f"lower the learning rate, e.g. to {tenth} (a tenth)"

    def try_adam(self) -> str | None:
        if self.optimizer == "adam":
            return None
        return "try --optimizer adam" if self.flags else "try Adam"

    def add_norm(self) -> str | None:
        if self.has_norm:
            return None
        if self.flags and self.norm_option:
            return "add norm layers (-o norm=batch)"
        return "add norm layers (e.g. BatchNorm)"

    @classmethod
    def for_model(cls, model: nn.Module, *, flags: bool = False, optimizer: str | None = None,
                  norm_option: bool = False, base_lr: float | None = None) -> Remedies:
        return cls(flags=flags, optimizer=optimizer, has_norm=model_has_norm(model), norm_option=norm_option,
                   base_lr=base_lr)

    def join(self, *hints: str | None) -> str:
        chosen = [hint for hint in hints if hint]
        return ", or ".join(chosen)


def model_has_norm(model: nn.Module) -> bool:
    """Whether ``model`` holds a batch, group, layer or instance norm layer."""
    from torch import nn

    norms = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)
    return any(isinstance(module, norms) for module in model.modules())


class HealthMonitor:
    """Consumes recorded rows in step order; ``check`` returns the warnings they newly raise.

    ``num_classes`` (K) enables the plateau check and floors the spike check at ln K, so the
    noise of a loss near zero late in training is no spike; without it the floor is the first
    recorded loss.
    """

    def __init__(self, layer_ids: Sequence[str], block_ids: Sequence[str], *, num_classes: int | None = None,
                 remedies: Remedies | None = None) -> None:
        self.layer_ids = list(layer_ids)
        self.block_ids = list(block_ids)
        self.chance_loss = math.log(num_classes) if num_classes and num_classes > 1 else None
        self.remedies = remedies or Remedies()
        self.raised: set[str] = set()
        self.warnings: list[HealthWarning] = []
        self._floor = self.chance_loss
        self._recent: deque[float] = deque(maxlen=SPIKE_WINDOW)
        self._plateau: deque[float] = deque(maxlen=PLATEAU_ROWS)
        self._plateau_start: deque[int] = deque(maxlen=PLATEAU_ROWS)
        self._dead_run = np.zeros(len(self.block_ids), np.int64)      # consecutive dead rows per block
        self._dead_since = np.zeros(len(self.block_ids), np.int64)    # step where that streak began
        self._zero_run = np.zeros(len(self.layer_ids), np.int64)
        self._zero_since = np.zeros(len(self.layer_ids), np.int64)

    # ------------------------------------------------------------------ consuming rows

    def check(self, steps: RecordedSteps) -> list[HealthWarning]:
        """The warnings these rows raise (each symptom once per run), in step order."""
        found: list[HealthWarning] = []
        for i in range(len(steps)):
            step = int(steps.step[i])
            lr = float(steps.lr[i])
            loss = float(steps.loss[i])
            if not math.isfinite(loss):
                continue  # non-finite steps have their own events
            self._add(found, self._spike(step, loss, lr))
            self._add(found, self._plateau_check(step, loss, lr))
            self._add(found, self._dead(step, steps.dead_relu[i], lr))
            self._add(found, self._zero(step, steps.grad_norm[i], lr))
        return found

    def report(self, steps: RecordedSteps, writer: Any,
               on_warning: Callable[[HealthWarning], None] | None = None) -> list[HealthWarning]:
        """``check`` the rows, store each new warning as a run-file event and pass it on."""
        found = self.check(steps)
        for warning in found:
            writer.add_event(warning.step, WARNING_KIND, warning.message, warning.layer)
            if on_warning is not None:
                on_warning(warning)
        return found

    def _add(self, found: list[HealthWarning], warning: HealthWarning | None) -> None:
        if warning is not None and warning.symptom not in self.raised:
            self.raised.add(warning.symptom)
            self.warnings.append(warning)
            found.append(warning)

    # ------------------------------------------------------------------ symptoms

    def _spike(self, step: int, loss: float, lr: float) -> HealthWarning | None:
        if "loss_spike" in self.raised:
            return None
        if self._floor is None:
            self._floor = loss  # no K: the first loss sets the scale
        recent = self._recent
        warning = None
        if recent:
            median = float(np.median(recent))
            if loss > SPIKE_FACTOR * max(median, self._floor):
                jump = f" ({loss / median:.1f}x)" if median > 0 else ""
                warning = HealthWarning(step, "loss_spike", f"loss jumped from {median:.3g} to {loss:.3g}{jump} "
                                                            f"at step {step}; " + self.remedies.lower_lr(lr))
        recent.append(loss)
        return warning

    def _plateau_check(self, step: int, loss: float, lr: float) -> HealthWarning | None:
        if self.chance_loss is None or "loss_plateau" in self.raised:
            return None
        self._plateau.append(loss)
        self._plateau_start.append(step)
        if step < PLATEAU_AFTER_STEPS or len(self._plateau) < PLATEAU_ROWS:
            return None
        mean = float(np.mean(self._plateau))
        chance = self.chance_loss
        if abs(mean / chance - 1) > PLATEAU_TOLERANCE:
            return None
        k = round(math.exp(chance))
        r = self.remedies
        hint = r.join(r.try_adam(), r.add_norm() or r.lower_lr(lr))
        return HealthWarning(
            step, "loss_plateau",
            f"loss stuck at {mean:.3g}, near ln {k} = {chance:.3g} (a uniform guess over {k} classes), over steps "
            f"{self._plateau_start[0]}-{step}; {hint}")

    def _dead(self, step: int, dead: np.ndarray, lr: float) -> HealthWarning | None:
        if not len(self.block_ids) or "dead_relu" in self.raised:
            return None
        is_dead = np.nan_to_num(dead, nan=0.0) > DEAD_FRACTION
        self._dead_since = np.where(is_dead & (self._dead_run == 0), step, self._dead_since)
        self._dead_run = np.where(is_dead, self._dead_run + 1, 0)
        confirmed = np.flatnonzero(self._dead_run >= DEAD_ROWS)
        if not len(confirmed):
            return None
        first = int(confirmed[np.argmin(self._dead_since[confirmed])])
        block, since = self.block_ids[first], int(self._dead_since[first])
        r = self.remedies
        return HealthWarning(
            since, "dead_relu",
            f"dead ReLUs: {dead[first]:.1%} of {block}'s outputs are zero from step {since} "
            f"({len(confirmed)} of {len(self.block_ids)} blocks above {DEAD_FRACTION:.0%}); "
            + r.join(r.lower_lr(lr), r.add_norm()), block)

    def _zero(self, step: int, grad: np.ndarray, lr: float) -> HealthWarning | None:
        if "zero_gradient" in self.raised:
            return None
        is_zero = grad == 0  # NaN (no gradient at all: an unused layer) is not zero
        self._zero_since = np.where(is_zero & (self._zero_run == 0), step, self._zero_since)
        self._zero_run = np.where(is_zero, self._zero_run + 1, 0)
        confirmed = np.flatnonzero(self._zero_run >= ZERO_ROWS)
        if not len(confirmed):
            return None
        since = int(self._zero_since[confirmed].min())
        names = [self.layer_ids[i] for i in confirmed]
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        r = self.remedies
        return HealthWarning(
            since, "zero_gradient",
            f"gradient exactly zero in {len(names)} of {len(self.layer_ids)} layers ({shown}) from step {since}; "
            + r.join(r.lower_lr(lr), r.try_adam()), names[0])


__all__ = ["HealthMonitor", "HealthWarning", "Remedies", "SYMPTOMS", "WARNING_KIND", "model_has_norm"]
