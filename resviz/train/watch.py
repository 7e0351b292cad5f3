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
numbers are those of the averaged gradients; the other ranks' handles do nothing. Under
FSDP2 (``fully_shard``) every rank takes the norms of its shards and the ranks sum them once per
recorded step (``resviz.train.sharded``), so call ``step()`` on every rank.

Mixed precision: ``watch(model, scaler=scaler)`` and ``rec.step(...)`` after
``scaler.scale(loss).backward()`` (before or after ``scaler.unscale_``): the gradients are recorded
unscaled (divided by the scale on the device) and a step the scaler skips is marked as skipped.
A model compiled with ``torch.compile`` (before or after ``watch``) records the same numbers
without a graph break, except the dead-ReLU fraction, which it leaves out and says so.
"""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ResvizError, describe_exception
from .amp import grads_unscaled, scale_tensor, scaler_found_inf
from .config import RUNS_FOLDER
from .health import HealthMonitor
from .layers import OUTPUT_ID, unwrap_model
from .recorder import GradientRecorder
from .session import RecordingSession
from .sharded import is_sharded, whole_state_dict


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
                 twin: str | None = None, rank: int | None = None, example_input: Any = None,
                 scaler: torch.amp.GradScaler | None = None) -> None:
        self.scaler = scaler
        self.rank = distributed_rank() if rank is None else rank
        self.active = self.rank == 0
        self.model = unwrap_model(model)
        self.path = Path(run) if run is not None else default_run_path(self.model)
        self.epoch = 0
        self.closed = False
        self.session: RecordingSession | None = None
        self.recorder: GradientRecorder | None = None
        self.writer = None
        self.health: HealthMonitor | None = None
        self._steps = 0  # steps seen by an idle (non-zero rank) handle
        self.sharded = is_sharded(self.model)
        self._shard_peer = None if self.active or not self.sharded else shard_peer(model, every=every)
        if not self.active:
            return
        stored = {"source": "watch", "model_class": type(self.model).__name__, "record_every": every,
                  **({"grad_scaler": True} if scaler is not None and scaler.is_enabled() else {}),
                  **dict(config or {})}
        self.session = RecordingSession(model, self.path, model_spec=getattr(self.model, "resviz_spec", None),
                                        config=stored, classes=classes, twin=twin, every=every,
                                        flush_every=flush_every, flush_seconds=flush_seconds, blocks=blocks,
                                        overwrite=overwrite, example_input=example_input)
        self.recorder, self.writer, self.health = self.session.recorder, self.session.writer, self.session.health
        self.session.attach()
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

        Call after ``loss.backward()`` and before ``optimizer.step()``. ``lr`` is read from
        ``optimizer`` when not given. With the ``scaler`` given to ``watch``, call it after
        ``scaler.scale(loss).backward()``, with or without ``scaler.unscale_(optimizer)``; pass
        the unscaled ``loss``.
        """
        self._check_open()
        if epoch is not None:
            self.epoch = int(epoch)
        if not self.active:
            self._steps += 1
            if self._shard_peer is not None:
                self._shard_peer.step()  # this rank's part of the whole parameters' norms
            return False
        if lr is None and optimizer is not None and optimizer.param_groups:
            lr = float(optimizer.param_groups[0]["lr"])
        if self.scaler is not None and self.scaler.is_enabled():
            return self.recorder.step(loss=loss, acc=acc, epoch=self.epoch, lr=lr, **self._scaler_step(optimizer))
        return self.recorder.step(loss=loss, acc=acc, epoch=self.epoch, lr=lr, grad_scale=grad_scale)

    def _scaler_step(self, optimizer: torch.optim.Optimizer | None) -> dict[str, Any]:
        """How the recorder reads this step under the scaler, all on the device: the scale to take
        out, whether the gradients still carry it, and whether the scaler will skip the update (its
        own flag once ``unscale_`` has run, else its test: a gradient that is not finite)."""
        unscaled = grads_unscaled(self.scaler, optimizer)
        found = scaler_found_inf(self.scaler, optimizer) if unscaled else None
        return {"grad_scale": scale_tensor(self.scaler), "scaled_grads": not unscaled,
                "scaler_skips": found if found is not None else True}

    def log_eval(self, *, loss: float = float("nan"), acc: float | None = None, confusion: Any = None,
                 split: str = "test", epoch: int | None = None) -> None:
        """Store an evaluation; with a confusion matrix (rows true, columns predicted), accuracy,
        precision and recall are computed from it."""
        self._check_open()
        if not self.active:
            return
        self.session.flush()
        self.session.add_eval(max(self.step_count - 1, 0), self.epoch if epoch is None else epoch, loss=loss,
                              confusion=confusion, acc=acc, split=split)

    def event(self, kind: str, message: str, layer: str | None = None) -> None:
        self._check_open()
        if self.active:
            self.session.event(max(self.step_count - 1, 0), kind, message, layer)

    def checkpoint(self, state_dict: Mapping[str, torch.Tensor] | None = None) -> None:
        """Store the model's weights (or ``state_dict``) at the current step (under ``fully_shard``:
        call it on every rank, which gathers the shards into whole tensors)."""
        self._check_open()
        if self.sharded:
            state_dict = whole_state_dict(self.model, state_dict)
        if self.active:
            state = state_dict if state_dict is not None else self.model.state_dict()
            self.session.add_checkpoint(max(self.step_count - 1, 0), self.epoch, state)

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
            if self._shard_peer is not None:
                self._shard_peer.close()
            return
        self._finalizer.detach()
        self.session.finish(status, error)

    def __enter__(self) -> Watcher:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            self.close()
        elif isinstance(exc, KeyboardInterrupt):
            self.close("stopped", "interrupted")
        else:
            from ..graph.doctor import describe_failed_forward

            # A forward pass of the watched model that failed: name the module (and the fix for a
            # shape mismatch) in the run file and under the traceback.
            explained = describe_failed_forward(self.model, exc, f"step {self.step_count}")
            if explained and hasattr(exc, "add_note"):
                exc.add_note(f"resviz: {explained}")
            self.close("failed", explained or describe_exception(exc))

    def __repr__(self) -> str:
        state = "closed" if self.closed else "recording" if self.active else f"idle on rank {self.rank}"
        return f"Watcher({self.path}, {state})"


def shard_peer(model: nn.Module, *, every: int) -> GradientRecorder:
    """On a rank that does not write the run file, the recorder that takes this rank's part of
    the norms of a sharded (``fully_shard``) model. It records no activation statistics: rank 0
    records those of its own batch (see ``resviz.train.sharded``)."""
    return GradientRecorder(model, every=every, blocks=[OUTPUT_ID], activation_gradients=False, dead_relu=False)


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
          twin: str | None = None, example_input: Any = None, scaler: torch.amp.GradScaler | None = None) -> Watcher:
    """Record ``model``'s per-layer gradients into the run file ``run`` (default ``runs/NAME-TIME.resviz``).

    After each ``loss.backward()`` call ``rec.step(loss=loss)``; ``rec.close()`` (or use it as
    a context manager) at the end. ``every`` records one step in N; ``blocks`` names the
    modules whose output gradients to record (found automatically by default: the graph's
    blocks, traced on ``example_input`` -- a batch, or a shape with its batch -- or on the model's
    ``input_shape``; without either, the untraceable fallback, whose skip kinds are unknown).
    ``scaler``: the loop's ``torch.amp.GradScaler``, so that gradients are recorded unscaled and
    the steps it skips are marked as skipped. ``model`` may be compiled (``torch.compile``).
    """
    if not isinstance(model, nn.Module):
        raise ResvizError(f"resviz.watch needs a torch.nn.Module, got {type(model).__name__}")
    return Watcher(model, run, every=every, flush_every=flush_every, flush_seconds=flush_seconds, blocks=blocks,
                   config=config, classes=classes, overwrite=overwrite, twin=twin, example_input=example_input,
                   scaler=scaler)
