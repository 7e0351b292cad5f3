"""``resviz.watch``: record the gradients of your own training loop into a run file.

::

    rec = resviz.watch(model, run="runs/mine.resviz")
    for x, y in loader:
        loss = criterion(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        rec.step(loss=loss, optimizer=optimizer)   # after backward, before optimizer.step()
        optimizer.step()
    rec.close()

Open the run file in the window (live while it grows) or with ``resviz.open_run``. Under
DistributedDataParallel (torchrun) only rank 0 records, after the gradient all-reduce, so the
numbers are those of the averaged gradients; the other ranks' handles do nothing.
"""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ResvizError
from .config import RUNS_FOLDER
from .health import HealthMonitor, Remedies
from .layers import unwrap_model
from .metrics import precision_recall
from .recorder import GradientRecorder, RecordedSteps


def distributed_rank() -> int:
    """This process's rank under torch.distributed (or torchrun's RANK before it is initialised)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


def default_run_path(model: nn.Module) -> Path:
    spec = getattr(model, "resviz_spec", None)
    stem = spec.name if spec is not None and not spec.is_user_model else type(model).__name__.lower()
    return Path(RUNS_FOLDER) / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}.resviz"


class Watcher:
    """The handle ``watch`` returns: ``step()`` after each backward, ``close()`` at the end."""

    def __init__(self, model: nn.Module, run: str | os.PathLike | None = None, *, every: int = 1,
                 flush_every: int = 50, flush_seconds: float = 1.0, blocks: Iterable[str] | None = None,
                 config: Mapping[str, Any] | None = None, classes: Iterable[str] = (), overwrite: bool = False,
                 twin: str | None = None, rank: int | None = None) -> None:
        self.rank = distributed_rank() if rank is None else rank
        self.active = self.rank == 0
        self.model = unwrap_model(model)
        self.path = Path(run) if run is not None else default_run_path(self.model)
        self.epoch = 0
        self.closed = False
        self.recorder: GradientRecorder | None = None
        self.writer = None
        self.health: HealthMonitor | None = None
        self._steps = 0  # steps seen by an idle (non-zero rank) handle
        if not self.active:
            return
        from ..runfile import RunWriter

        classes = list(classes)
        recorder = GradientRecorder(model, every=every, flush_every=flush_every, flush_seconds=flush_seconds,
                                    blocks=blocks, sink=self._on_recorded)
        stored = {"source": "watch", "model_class": type(self.model).__name__, "record_every": every,
                  **dict(config or {})}
        self.writer = RunWriter(self.path, model_spec=getattr(self.model, "resviz_spec", None), config=stored,
                                layer_ids=recorder.layer_ids, block_ids=recorder.block_ids,
                                device=str(recorder.device), classes=classes, twin=twin,
                                commit_every=flush_every, overwrite=overwrite, structure=recorder.structure)
        recorder.clock = self.writer.elapsed
        self.recorder = recorder
        self.health = HealthMonitor(recorder.layer_ids, recorder.block_ids, num_classes=len(classes) or None,
                                    remedies=Remedies.for_model(self.model))
        try:
            recorder.attach()
        except BaseException:
            self.writer.finish("failed", "could not register the recorder's hooks")
            raise
        # A script that ends without close() still gets its last steps and an end status
        # (finalizers run at interpreter exit).
        self._finalizer = weakref.finalize(self, _close_at_exit, weakref.ref(self))

    # ------------------------------------------------------------------ recording

    @property
    def layer_ids(self) -> list[str]:
        return list(self.recorder.layer_ids) if self.recorder else []

    @property
    def block_ids(self) -> list[str]:
        return list(self.recorder.block_ids) if self.recorder else []

    @property
    def step_count(self) -> int:
        return self.recorder.next_step if self.recorder else self._steps

    def step(self, loss: torch.Tensor | float | None = None, *, acc: torch.Tensor | float | None = None,
             lr: float | None = None, optimizer: torch.optim.Optimizer | None = None,
             epoch: int | None = None, grad_scale: torch.Tensor | float | None = None) -> bool:
        """Record the step just back-propagated; True when this step was recorded.

        Call after ``loss.backward()`` (and ``scaler.unscale_`` with AMP) and before
        ``optimizer.step()``. ``lr`` is read from ``optimizer`` when not given.
        """
        self._check_open()
        if epoch is not None:
            self.epoch = int(epoch)
        if not self.active:
            self._steps += 1
            return False
        if lr is None and optimizer is not None and optimizer.param_groups:
            lr = float(optimizer.param_groups[0]["lr"])
        return self.recorder.step(loss=loss, acc=acc, epoch=self.epoch, lr=lr, grad_scale=grad_scale)

    def log_eval(self, *, loss: float = float("nan"), acc: float | None = None, confusion: Any = None,
                 split: str = "test", epoch: int | None = None) -> None:
        """Store an evaluation; with a confusion matrix (rows true, columns predicted), accuracy,
        precision and recall are computed from it."""
        self._check_open()
        if not self.active:
            return
        from ..runfile import EvalRecord

        if confusion is None:
            confusion = np.zeros((0, 0), dtype=np.int64)
        matrix = np.asarray(confusion.cpu() if isinstance(confusion, torch.Tensor) else confusion, dtype=np.int64)
        precision, recall = precision_recall(matrix) if matrix.size else (np.zeros(0), np.zeros(0))
        if acc is None:
            acc = float(np.trace(matrix) / matrix.sum()) if matrix.size and matrix.sum() else float("nan")
        self._flush()
        self.writer.add_eval(EvalRecord(step=max(self.step_count - 1, 0), epoch=self.epoch if epoch is None else epoch,
                                        split=split, loss=float(loss), acc=float(acc), confusion=matrix,
                                        precision=precision, recall=recall))

    def event(self, kind: str, message: str, layer: str | None = None) -> None:
        self._check_open()
        if self.active:
            self.writer.add_event(max(self.step_count - 1, 0), kind, message, layer)

    def checkpoint(self, state_dict: Mapping[str, torch.Tensor] | None = None) -> None:
        """Store the model's weights (or ``state_dict``) at the current step."""
        self._check_open()
        if self.active:
            state = state_dict if state_dict is not None else self.model.state_dict()
            self.writer.add_checkpoint(max(self.step_count - 1, 0), self.epoch,
                                       {k: v for k, v in state.items() if isinstance(v, torch.Tensor)})

    def _flush(self) -> None:
        self.recorder.finish()
        self.writer.flush()

    def _on_recorded(self, steps: RecordedSteps) -> None:
        self.writer.add_steps(steps.to_step_batch())
        layers = self.recorder.layer_ids
        for i in np.flatnonzero(steps.nonfinite):
            bad = np.flatnonzero(~np.isfinite(steps.grad_norm[i]))
            self.writer.add_event(int(steps.step[i]), "nonfinite",
                                  f"non-finite values at step {int(steps.step[i])} (loss {steps.loss[i]:g}); "
                                  f"gradients non-finite in {len(bad)} layers",
                                  layers[int(bad[0])] if len(bad) else None)
        self.health.report(steps, self.writer)

    # ------------------------------------------------------------------ end

    def _check_open(self) -> None:
        if self.closed:
            raise ResvizError(f"the recording into {self.path} is closed")

    def close(self, status: str = "finished", error: str | None = None) -> None:
        """Write what is left, remove the hooks and mark the run ended. Safe to call twice."""
        if self.closed:
            return
        self.closed = True
        if not self.active:
            return
        self._finalizer.detach()
        try:
            self.recorder.close()
        finally:
            self.writer.finish(status, error)

    def __enter__(self) -> Watcher:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            self.close()
        elif isinstance(exc, KeyboardInterrupt):
            self.close("stopped", "interrupted")
        else:
            from ..graph.doctor import describe_failed_forward
            from ..runfile import describe_exception

            # A forward pass of the watched model that failed: name the module (and the fix for a
            # shape mismatch) in the run file and under the traceback.
            explained = describe_failed_forward(self.model, exc, f"step {self.step_count}")
            if explained and hasattr(exc, "add_note"):
                exc.add_note(f"resviz: {explained}")
            self.close("failed", explained or describe_exception(exc))

    def __repr__(self) -> str:
        state = "closed" if self.closed else "recording" if self.active else f"idle on rank {self.rank}"
        return f"Watcher({self.path}, {state})"


def _close_at_exit(ref: weakref.ref) -> None:
    watcher = ref()
    if watcher is not None and not watcher.closed:
        try:
            watcher.close("stopped", "the program ended without closing the recording")
        except Exception:  # noqa: BLE001 - at exit, never turn a finished program into a traceback
            pass


def watch(model: nn.Module, run: str | os.PathLike | None = None, *, every: int = 1, flush_every: int = 50,
          flush_seconds: float = 1.0, blocks: Iterable[str] | None = None,
          config: Mapping[str, Any] | None = None, classes: Iterable[str] = (), overwrite: bool = False,
          twin: str | None = None) -> Watcher:
    """Record ``model``'s per-layer gradients into the run file ``run`` (default ``runs/NAME-TIME.resviz``).

    After each ``loss.backward()`` call ``rec.step(loss=loss)``; ``rec.close()`` (or use it as
    a context manager) at the end. ``every`` records one step in N; ``blocks`` names the
    modules whose output gradients to record (found automatically by default).
    """
    if not isinstance(model, nn.Module):
        raise ResvizError(f"resviz.watch needs a torch.nn.Module, got {type(model).__name__}")
    return Watcher(model, run, every=every, flush_every=flush_every, flush_seconds=flush_seconds, blocks=blocks,
                   config=config, classes=classes, overwrite=overwrite, twin=twin)
