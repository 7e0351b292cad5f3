"""A recording session: a gradient recorder whose rows go to a run file.

The trainer and ``resviz.watch`` both record through one, so a run file says the same things
in the same words whichever of them wrote it. The session creates the recorder with the run
writer as its sink and writes, as the rows arrive, an event for each non-finite step (recorded
or not) and the health monitor's warnings. It stores evaluations and checkpoints, and at the
end delivers the recorder's last rows before the run file is marked ended.

The run file's code is imported here only (and only once a session starts, so that
``import resviz.train`` stays quick).
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from .health import HealthMonitor, HealthWarning, Remedies
from .metrics import precision_recall
from .recorder import GradientRecorder, NonfiniteSteps, RecordedSteps, describe_nonfinite

if TYPE_CHECKING:  # pragma: no cover
    from ..runfile import EvalRecord

NONFINITE_KIND = "nonfinite"
SKIPPED_BY_SCALER_OUTCOME = "step skipped by the gradient scaler"


def _run_file() -> Any:
    from .. import runfile

    return runfile


def nonfinite_message(steps: RecordedSteps, i: int, layer_ids: list[str],
                      outcome: str | None = None) -> tuple[str, str | None]:
    """The event of recorded row ``i`` that is not finite: (message, the first layer at fault)."""
    step, flags = int(steps.step[i]), int(steps.nonfinite_flags[i])
    bad_grads = np.flatnonzero(~np.isfinite(steps.grad_norm[i]))
    bad_weights = np.flatnonzero(~np.isfinite(steps.weight_norm[i]))
    where = bad_grads if len(bad_grads) else bad_weights
    layer = layer_ids[int(where[0])] if len(where) else None
    parts = [f"non-finite {describe_nonfinite(flags)} at step {step} (loss {steps.loss[i]:g})"]
    if len(bad_grads):
        parts.append(f"gradients non-finite in {len(bad_grads)} of {len(layer_ids)} layers, first {layer}")
    if outcome:
        parts.append(outcome)
    return "; ".join(parts), layer


def skipped_message(steps: RecordedSteps, i: int, layer_ids: list[str]) -> tuple[str, str | None]:
    """The event of recorded row ``i`` whose update the gradient scaler skipped: (message, first layer
    whose scaled gradients overflowed)."""
    overflowed = np.flatnonzero(np.isnan(steps.grad_norm[i]))
    layer = layer_ids[int(overflowed[0])] if len(overflowed) else None
    message = f"step {int(steps.step[i])} skipped by the gradient scaler (scaled gradients not finite"
    if layer is not None:
        message += f" in {len(overflowed)} of {len(layer_ids)} layers, first {layer}; stored as NaN"
    return message + "); the scaler lowers its scale and training goes on", layer


def unrecorded_nonfinite_message(step: int, flags: int, outcome: str | None = None) -> str:
    """The event of a step that was not recorded (``every`` > 1) whose loss was not finite."""
    message = f"non-finite {describe_nonfinite(flags)} at step {step} (not recorded)"
    return f"{message}; {outcome}" if outcome else message


class RecordingSession:
    """A ``GradientRecorder`` writing into a new run file, with its events, evaluations and end.

    ``outcome(flags)`` says what became of a non-finite step (the trainer's policy; None leaves
    it unsaid). ``on_nonfinite(step, flags)`` hears of each non-finite step as the host learns of
    it, before its rows are written; after ``end_at(step)``, rows and steps past ``step`` are no
    part of the run. ``on_steps`` gets the rows once they are written, ``on_warning`` each new
    health warning.
    """

    def __init__(self, model: nn.Module, path: str | os.PathLike, *, model_spec: Any, config: Mapping[str, Any],
                 classes: Iterable[str] = (), device: str | None = None, twin: str | None = None,
                 every: int = 1, flush_every: int = 50, flush_seconds: float = 1.0,
                 blocks: Iterable[str] | None = None, overwrite: bool = False, remedies: Remedies | None = None,
                 outcome: Callable[[int], str | None] | None = None,
                 on_nonfinite: Callable[[int, int], None] | None = None,
                 on_steps: Callable[[RecordedSteps], None] | None = None,
                 on_warning: Callable[[HealthWarning], None] | None = None, example_input: Any = None) -> None:
        classes = list(classes)
        self.outcome = outcome
        self.on_nonfinite = on_nonfinite
        self.on_steps = on_steps
        self.on_warning = on_warning
        self.last_step: int | None = None
        self.recorder = GradientRecorder(model, every=every, flush_every=flush_every, flush_seconds=flush_seconds,
                                         blocks=blocks, sink=self._on_recorded, nonfinite_sink=self._on_nonfinite,
                                         example_input=example_input, on_left_out=self._on_left_out)
        self.writer = _run_file().RunWriter(
            path, model_spec=model_spec, config=dict(config), layer_ids=self.recorder.layer_ids,
            block_ids=self.recorder.block_ids, device=device or str(self.recorder.device), classes=classes,
            twin=twin, commit_every=flush_every, overwrite=overwrite, structure=self.recorder.structure)
        self.recorder.clock = self.writer.elapsed
        self.health = HealthMonitor(self.recorder.layer_ids, self.recorder.block_ids,
                                    num_classes=len(classes) or None,
                                    remedies=remedies if remedies is not None else Remedies.for_model(model))

    # ------------------------------------------------------------------ recording

    def attach(self) -> None:
        """Register the recorder's hooks; a failure marks the run failed before it propagates."""
        try:
            self.recorder.attach()
        except BaseException:
            self.writer.finish("failed", "could not register the recorder's hooks")
            raise

    def end_at(self, step: int) -> None:
        """Nothing computed after ``step`` is part of the run (training stopped there)."""
        self.last_step = step

    def event(self, step: int, kind: str, message: str, layer: str | None = None) -> None:
        self.writer.add_event(step, kind, message, layer)

    def deliver(self) -> None:
        """Wait until every recorded row has reached the run file's writer."""
        self.recorder.finish()

    def flush(self) -> None:
        """Every recorded row into the run file, committed (so readers see it now)."""
        self.recorder.finish()
        self.writer.flush()

    def _on_nonfinite(self, found: NonfiniteSteps) -> None:
        """The non-finite steps of a delivery (before its rows): an event for each unrecorded one
        (recorded ones get theirs with their rows)."""
        for step, flags, recorded in zip(found.step.tolist(), found.flags.tolist(), found.recorded.tolist()):
            if self.last_step is not None and step > self.last_step:
                break  # computed after training stopped: not part of the run
            if self.on_nonfinite is not None:
                self.on_nonfinite(step, flags)
            if not recorded:
                self.writer.add_event(step, NONFINITE_KIND, unrecorded_nonfinite_message(step, flags,
                                                                                         self._outcome(flags)))

    def _on_recorded(self, steps: RecordedSteps) -> None:
        if self.last_step is not None:
            steps = steps[steps.step <= self.last_step]  # rows after the stop are not part of the run
            if not len(steps):
                return
        self.writer.add_steps(steps.to_step_batch())
        for i in np.flatnonzero(steps.nonfinite | steps.skipped):
            if steps.nonfinite[i]:
                outcome = SKIPPED_BY_SCALER_OUTCOME if steps.skipped[i] else self._outcome(int(steps.nonfinite_flags[i]))
                message, layer = nonfinite_message(steps, int(i), self.recorder.layer_ids, outcome)
                self.writer.add_event(int(steps.step[i]), NONFINITE_KIND, message, layer)
            else:
                message, layer = skipped_message(steps, int(i), self.recorder.layer_ids)
                self.writer.add_event(int(steps.step[i]), _run_file().SKIPPED_EVENT, message, layer)
        self.health.report(steps, self.writer, self.on_warning)
        if self.on_steps is not None:
            self.on_steps(steps)

    def _on_left_out(self, step: int, statistic: str, reason: str) -> None:
        """A statistic the recorder cannot take: an event in the run file and one warning."""
        message = f"{statistic} not recorded: {reason}"
        self.writer.add_event(step, _run_file().LEFT_OUT_EVENT, message)
        warnings.warn(f"resviz: {message}", RuntimeWarning, stacklevel=5)

    def _outcome(self, flags: int) -> str | None:
        return self.outcome(flags) if self.outcome is not None else None

    # ------------------------------------------------------------------ evaluations and weights

    def add_eval(self, step: int, epoch: int, *, loss: float = float("nan"), confusion: Any = None,
                 acc: float | None = None, split: str = "test") -> EvalRecord:
        """Store an evaluation. With a confusion matrix (rows true, columns predicted), precision and
        recall, and the accuracy when not given, are computed from it."""
        if confusion is None:
            confusion = np.zeros((0, 0), dtype=np.int64)
        matrix = np.asarray(confusion.cpu() if isinstance(confusion, torch.Tensor) else confusion, dtype=np.int64)
        precision, recall = precision_recall(matrix) if matrix.size else (np.zeros(0), np.zeros(0))
        if acc is None:
            acc = float(np.trace(matrix) / matrix.sum()) if matrix.size and matrix.sum() else float("nan")
        record = _run_file().EvalRecord(step=step, epoch=epoch, split=split, loss=float(loss), acc=float(acc),
                                        confusion=matrix, precision=precision, recall=recall)
        self.writer.add_eval(record)
        return record

    def add_checkpoint(self, step: int, epoch: int, state_dict: Mapping[str, Any]) -> None:
        """Store the tensors of ``state_dict`` (anything else a module keeps there is left out)."""
        self.writer.add_checkpoint(step, epoch, {k: v for k, v in state_dict.items() if isinstance(v, torch.Tensor)})

    # ------------------------------------------------------------------ end

    def finish(self, status: str = "finished", error: str | None = None) -> None:
        """Deliver the last rows and remove the hooks, then mark the run ended; the file says how it
        ended even when the delivery fails."""
        try:
            self.recorder.close()
        finally:
            self.writer.finish(status, error)

    def fail(self, step: int, status: str, message: str) -> None:
        """End the run after an exception: the rows delivered so far are kept, then an event and
        the end status (stopped, for an interrupt) say what happened. Never raises."""
        with contextlib.suppress(Exception):
            self.recorder.close()
        if not self.writer.closed:
            with contextlib.suppress(Exception):
                self.writer.add_event(step, "error" if status == "failed" else "stop", message)
            with contextlib.suppress(Exception):
                self.writer.finish(status, message)
