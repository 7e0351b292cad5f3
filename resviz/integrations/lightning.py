"""``ResvizCallback``: record a Lightning ``Trainer.fit`` into a run file.

::

    from resviz.integrations.lightning import ResvizCallback

    trainer = L.Trainer(max_epochs=3, callbacks=[ResvizCallback(run="runs/lit.resviz")])
    trainer.fit(module, train_loader, val_loader)

Each optimizer step is recorded in ``on_before_optimizer_step``: after the backward passes of
all accumulated batches (and the gradient all-reduce under DDP), after mixed precision's
scaler has unscaled the gradients, before gradient clipping and the step. Only global rank 0
records and writes the run file. The validation metrics named ``loss_key`` and ``acc_key``
become the run's evaluations, and each checkpoint the trainer saves is stored with the run
(as safetensors). The recording is a ``resviz.watch`` handle, so the run file says what a
hand-written loop's would.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import torch

from ..train.watch import Watcher
from . import require, scalar

_lightning = None
for _name in ("lightning.pytorch", "pytorch_lightning"):
    try:
        _lightning = __import__(_name, fromlist=["Callback"])
        break
    except ImportError:
        continue
if _lightning is None:  # one line naming the missing package
    require("lightning.pytorch", "lightning", "resviz.integrations.lightning")


class ResvizCallback(_lightning.Callback):
    """Record gradients, validation metrics and checkpoints of ``Trainer.fit`` into ``run``.

    ``every`` records one optimizer step in N. ``example_input`` (default: the module's
    ``example_input_array``) is traced once for the model's blocks and their skips.
    ``loss_key`` and ``acc_key`` name the logged validation metrics stored as evaluations.
    The other options are those of ``resviz.watch``.
    """

    def __init__(self, run: str | os.PathLike | None = None, *, every: int = 1, flush_every: int = 50,
                 blocks: Iterable[str] | None = None, classes: Iterable[str] = (), overwrite: bool = False,
                 example_input: Any = None, loss_key: str = "val_loss", acc_key: str = "val_acc",
                 config: Mapping[str, Any] | None = None) -> None:
        self.run = run
        self.options = {"every": every, "flush_every": flush_every, "blocks": blocks, "classes": list(classes),
                        "overwrite": overwrite}
        self.example_input = example_input
        self.loss_key, self.acc_key = loss_key, acc_key
        self.config = dict(config or {})
        self.watcher: Watcher | None = None
        self._loss: torch.Tensor | None = None  # the loss of the batches accumulated for this step

    @property
    def recording(self) -> bool:
        return self.watcher is not None and self.watcher.active and not self.watcher.closed

    # ------------------------------------------------------------------ fit

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        # Here, not in setup(): the module is on its device and wrapped for the strategy by now.
        example = self.example_input if self.example_input is not None else pl_module.example_input_array
        config = {"source": "lightning", "max_epochs": trainer.max_epochs,
                  "accumulate_grad_batches": trainer.accumulate_grad_batches,
                  "precision": str(trainer.precision), "world_size": trainer.world_size, **self.config}
        self.watcher = Watcher(pl_module, self.run, rank=trainer.global_rank, config=config,
                               example_input=example, **self.options)
        self._loss = None

    def on_before_backward(self, trainer: Any, pl_module: Any, loss: torch.Tensor) -> None:
        if not self.recording:
            return
        # Lightning divides each accumulated batch's loss by their number: the sum is their mean.
        # Under AMP the loss arrives scaled; dividing on the device keeps the host from waiting.
        loss = loss.detach()
        scale = self._grad_scale(trainer)
        if scale is not None:
            loss = loss / scale
        self._loss = loss if self._loss is None else self._loss + loss

    def on_before_optimizer_step(self, trainer: Any, pl_module: Any, optimizer: torch.optim.Optimizer) -> None:
        if self.watcher is None or self.watcher.closed:
            return
        self.watcher.step(loss=self._loss, optimizer=optimizer, epoch=trainer.current_epoch,
                          grad_scale=self._grad_scale(trainer))
        self._loss = None

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.sanity_checking or not self.recording:
            return
        metrics = trainer.callback_metrics
        loss, acc = scalar(metrics.get(self.loss_key)), scalar(metrics.get(self.acc_key))
        if loss is not None or acc is not None:
            self.watcher.log_eval(loss=float("nan") if loss is None else loss, acc=acc, split="val",
                                  epoch=trainer.current_epoch)

    def on_save_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict[str, Any]) -> None:
        if self.recording:
            self.watcher.checkpoint(checkpoint.get("state_dict") or pl_module.state_dict())

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        if self.watcher is not None:
            self.watcher.close()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        # As when a ``with resviz.watch(...)`` block raises: failed (or stopped, for an
        # interrupt), with the failing module named when a forward pass broke.
        if self.watcher is not None and not self.watcher.closed:
            self.watcher.__exit__(type(exception), exception, exception.__traceback__)

    # ------------------------------------------------------------------ mixed precision

    @staticmethod
    def _grad_scale(trainer: Any) -> torch.Tensor | float | None:
        """The AMP scaler's current scale (a device tensor, read without a sync); None without one."""
        scaler = getattr(trainer.strategy.precision_plugin, "scaler", None)
        if scaler is None or not scaler.is_enabled():
            return None
        scale = getattr(scaler, "_scale", None)
        return scale if isinstance(scale, torch.Tensor) else scaler.get_scale()
