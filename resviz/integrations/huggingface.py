"""``ResvizTrainerCallback``: record a Hugging Face ``transformers.Trainer`` run into a run file.

::

    from resviz.integrations.huggingface import ResvizTrainerCallback

    trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=val,
                      callbacks=[ResvizTrainerCallback(run="runs/hf.resviz")])
    trainer.train()

Each optimizer step is recorded in ``on_pre_optimizer_step``: after the backward passes of
all accumulated batches (and the all-reduce under DDP), right before ``optimizer.step()``.
The Trainer clips gradients (``max_grad_norm``, 1.0 by default) before that event, so the
norms recorded are those the optimizer applies; ``max_grad_norm=0`` records the raw ones.
Under fp16 the Trainer's gradient scaler has unscaled the gradients when it clipped them;
when it did not, the callback unscales them itself (the scaler's own ``unscale_``, which the
step then does not repeat). The step's loss is the mean of the ``loss`` its model forwards
returned (labels given), combined as the Trainer combines them. Only the world's process zero records. Evaluations (``eval_loss``
and the metric named ``acc_key``) and each checkpoint the Trainer saves (as safetensors)
are stored with the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from ..train.watch import Watcher
from . import require, scalar

_transformers = require("transformers", "transformers", "resviz.integrations.huggingface")


class ResvizTrainerCallback(_transformers.TrainerCallback):
    """Record gradients, evaluations and checkpoints of ``Trainer.train()`` into ``run``.

    ``every`` records one optimizer step in N; ``example_input`` (a batch, or a shape with its
    batch) is traced once for the model's blocks and their skips. ``acc_key`` names the metric
    stored as an evaluation's accuracy. The other options are those of ``resviz.watch``.
    """

    def __init__(self, run: str | os.PathLike | None = None, *, every: int = 1, flush_every: int = 50,
                 blocks: Iterable[str] | None = None, classes: Iterable[str] = (), overwrite: bool = False,
                 example_input: Any = None, acc_key: str = "eval_accuracy",
                 config: Mapping[str, Any] | None = None) -> None:
        self.run = run
        self.options = {"every": every, "flush_every": flush_every, "blocks": blocks, "classes": list(classes),
                        "overwrite": overwrite, "example_input": example_input}
        self.acc_key = acc_key
        self.config = dict(config or {})
        self.watcher: Watcher | None = None
        self.epoch = 0
        self._loss_sum: torch.Tensor | None = None  # the training forwards' losses since the last step
        self._loss_count = 0
        self._loss_shares = False
        self._hook: Any = None

    @property
    def recording(self) -> bool:
        return self.watcher is not None and self.watcher.active and not self.watcher.closed

    # ------------------------------------------------------------------ training

    def on_train_begin(self, args: Any, state: Any, control: Any, model: nn.Module | None = None,
                       **kwargs: Any) -> None:
        config = {"source": "transformers", "num_train_epochs": args.num_train_epochs,
                  "gradient_accumulation_steps": args.gradient_accumulation_steps,
                  "max_grad_norm": args.max_grad_norm, "fp16": args.fp16, "bf16": args.bf16,
                  "world_size": args.world_size, **self.config}
        rank = 0 if state.is_world_process_zero else max(int(args.process_index), 1)
        self.watcher = Watcher(model, self.run, rank=rank, config=config, **self.options)
        if self.watcher.active:
            self._hook = model.register_forward_hook(self._keep_loss, with_kwargs=True)
        self._loss_sum, self._loss_count = None, 0

    def _keep_loss(self, module: nn.Module, inputs: Any, kwargs: dict[str, Any], output: Any) -> None:
        if not (module.training and torch.is_grad_enabled()):
            return  # an evaluation's forward
        loss = output.get("loss") if isinstance(output, Mapping) else getattr(output, "loss", None)
        if isinstance(loss, torch.Tensor) and loss.numel() == 1:
            loss = loss.detach().float().reshape(())
            self._loss_sum = loss if self._loss_sum is None else self._loss_sum + loss
            self._loss_count += 1
            # Given the step's number of target items, the model divides by it: each accumulated
            # batch's loss is its share of the step's (else each is its own batch's mean).
            self._loss_shares = "num_items_in_batch" in kwargs

    def _step_loss(self, args: Any) -> torch.Tensor | None:
        """The step's loss as the Trainer reports it."""
        if not self._loss_count:
            return None
        if not self._loss_shares:
            return self._loss_sum / self._loss_count
        # The items counted across processes: rescaled to this process's share, as the Trainer does.
        averaged = getattr(args, "average_tokens_across_devices", False)
        return self._loss_sum * args.world_size if averaged else self._loss_sum

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.epoch = int(state.epoch or 0)

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, optimizer: Any = None,
                              **kwargs: Any) -> None:
        if self.watcher is None or self.watcher.closed:
            return
        grad_scale = self._unscale(optimizer) if self.watcher.active else None
        self.watcher.step(loss=self._step_loss(args), optimizer=optimizer, epoch=self.epoch, grad_scale=grad_scale)
        self._loss_sum, self._loss_count = None, 0

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: Mapping[str, Any] | None = None,
                    **kwargs: Any) -> None:
        if not self.recording or not metrics:
            return
        loss, acc = scalar(metrics.get("eval_loss")), scalar(metrics.get(self.acc_key))
        if loss is not None or acc is not None:
            self.watcher.log_eval(loss=float("nan") if loss is None else loss, acc=acc, split="eval",
                                  epoch=self.epoch)

    def on_save(self, args: Any, state: Any, control: Any, model: nn.Module | None = None, **kwargs: Any) -> None:
        if self.recording and model is not None:
            self.watcher.checkpoint(model.state_dict())

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        if self.watcher is not None:
            self.watcher.close()

    # ------------------------------------------------------------------ mixed precision

    @staticmethod
    def _unscale(optimizer: Any) -> torch.Tensor | float | None:
        """Under fp16, unscale the gradients if the Trainer has not (it does when it clips) and
        return the scale the backward pass used, for the activation gradients; else None."""
        scaler = getattr(optimizer, "scaler", None)  # accelerate's AcceleratedOptimizer
        if scaler is None or not scaler.is_enabled():
            return None
        try:
            scaler.unscale_(optimizer.optimizer)
        except RuntimeError:
            pass  # already unscaled this step (by the Trainer's gradient clipping)
        scale = getattr(scaler, "_scale", None)
        return scale if isinstance(scale, torch.Tensor) else scaler.get_scale()
