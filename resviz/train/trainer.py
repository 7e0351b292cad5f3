"""The training loop: one model, one data set, one run file.

Per step: forward, backward, the recorder's on-device statistics, the non-finite policy, the
optimizer step. Per epoch: an evaluation on the held-out split and, every K epochs, a
checkpoint. Pause, resume and stop take effect at a step boundary. Whatever happens, every
step recorded so far reaches the run file and the file says how the run ended.

The step loop never reads a device value on the host. The non-finite policy is applied on
the device: the optimizer is fused (SGD, Adam), and a fused step skips its whole update
(momentum, Adam's moments and step count included) where ``optimizer.found_inf`` is 1, so
the step's non-finite flag goes there. With the stop policy the flag is latched, so every
update after the first non-finite step is skipped too, and the host learns of it when the
recorder's rows arrive (every ``flush_every`` steps, with the copy that happens anyway): the
run then ends as failed at that step, and the rows computed after it are dropped. The
weights are exactly those before the non-finite step; buffers such as BatchNorm's running
statistics keep the forward passes up to the flush. Where no fused kernel serves (devices
other than CUDA and the CPU, sparse gradients, a GradScaler without the state this relies
on), the flag is read on the host each step instead, and the run file says so.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ResvizError, describe_exception
from .amp import scale_tensor as _scale_tensor
from .amp import scaler_found_inf as _scaler_found_inf
from .config import TrainConfig
from .control import TrainingControl
from .device import choose_device
from .health import HealthMonitor, HealthWarning, Remedies
from .metrics import confusion_counts
from .recorder import NONFINITE_GRAD, NONFINITE_LOSS, GradientRecorder, RecordedSteps, describe_nonfinite
from .session import RecordingSession

# Devices whose fused SGD and Adam kernels take ``found_inf`` and skip the update where it is 1.
FUSED_DEVICE_TYPES = ("cuda", "cpu")


@dataclass
class TrainProgress:
    """What a progress bar or the window shows; sent whenever recorded steps reach the host."""

    phase: str                 # "train", "eval", "paused", "done"
    step: int                  # steps done
    total_steps: int
    epoch: int                 # current epoch, from 0
    epochs: int
    loss: float                # of the last recorded step
    acc: float                 # batch accuracy of the last recorded step
    lr: float
    steps_per_second: float
    elapsed: float             # seconds of training, pauses excluded
    eval_loss: float | None = None
    eval_acc: float | None = None


@dataclass
class TrainResult:
    path: Path
    status: str                # finished, stopped, failed
    steps: int
    epochs: int                # epochs completed
    error: str | None = None
    evals: list = field(default_factory=list)  # EvalRecord per evaluation

    @property
    def final_accuracy(self) -> float | None:
        return self.evals[-1].acc if self.evals else None


class Diverged(Exception):
    """Raised inside the loop when a non-finite value stops training (policy "stop")."""


@dataclass
class _Divergence:
    step: int     # the first non-finite step
    flags: int    # its non-finite bits (those the policy acts on)


class _FusedUnavailable(Exception):
    """The fused optimizer step cannot serve this step; nothing was changed yet."""


def out_of_memory_message(device: torch.device, step: int, batch_size: int) -> str:
    smaller = max(1, batch_size // 2)
    return (f"out of memory on {device} at step {step} with batch size {batch_size}; "
            f"try a smaller batch (--batch-size {smaller})" + (" or mixed precision (--amp)" if device.type == "cuda"
                                                                else ""))


def lr_at(config: TrainConfig, step: int, total_steps: int) -> float:
    """The learning rate of ``step``: a linear warm-up over the config's warm-up fraction, then the
    schedule over the remaining steps (per step, so it is smooth)."""
    base = config.learning_rate
    if total_steps <= 0:
        return base
    warmup_steps = round((config.warmup or 0.0) * total_steps)
    factor = (step + 1) / warmup_steps if step < warmup_steps else 1.0
    if config.schedule in (None, "none"):
        return base * factor
    progress = min(max(step - warmup_steps, 0) / max(total_steps - warmup_steps, 1), 1.0)
    if config.schedule == "step":
        passed = sum(1 for milestone in config.lr_milestones if progress >= milestone)
        return base * factor * config.lr_gamma ** passed
    return base * factor * 0.5 * (1.0 + math.cos(math.pi * progress))  # cosine, to 0 at the end


def fused_supported(parameters) -> bool:
    """Whether fused SGD/Adam kernels serve these parameters (floating point, on CUDA or the CPU)."""
    params = list(parameters)
    return bool(params) and all(p.device.type in FUSED_DEVICE_TYPES and p.is_floating_point() for p in params)


def optimizer_is_fused(optimizer: torch.optim.Optimizer) -> bool:
    return all(group.get("fused") for group in optimizer.param_groups)


def make_optimizer(config: TrainConfig, parameters) -> torch.optim.Optimizer:
    """SGD with momentum or Adam; fused where the kernels serve the parameters, so that a step can
    be skipped on the device (``optimizer.found_inf``) and is cheaper besides.

    Fused SGD's momentum buffers start at zero: a skipped first step would otherwise leave the
    kernel's uninitialised buffers behind. With no dampening, the first update from a zero
    buffer (``momentum * 0 + grad``) is exactly the plain first step's ``grad``.
    """
    params = [p for p in parameters if p.requires_grad]
    fused = fused_supported(params)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.learning_rate, weight_decay=config.weight_decay,
                                fused=True if fused else None)
    optimizer = torch.optim.SGD(params, lr=config.learning_rate, momentum=config.momentum,
                                weight_decay=config.weight_decay, fused=True if fused else None)
    if fused and config.momentum:
        for p in params:
            optimizer.state[p]["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
    return optimizer


class Trainer:
    """Trains ``config`` into its run file. ``model``/``train_data``/``test_data`` override the config's.

    ``on_progress`` gets a ``TrainProgress`` whenever recorded steps reach the host and after
    each evaluation; ``on_start`` gets the ``RunInfo``-like facts once the run file exists;
    ``on_warning`` gets each ``HealthWarning`` (a collapsing or diverging run) once, as the run
    file gets its event.
    """

    def __init__(self, config: TrainConfig, *, model: nn.Module | None = None, train_data=None, test_data=None,
                 control: TrainingControl | None = None,
                 on_progress: Callable[[TrainProgress], None] | None = None,
                 on_start: Callable[[dict[str, Any]], None] | None = None,
                 on_warning: Callable[[HealthWarning], None] | None = None) -> None:
        # Settings the user left unset come from the model's training recipe (recorded in the run).
        self.config = config.validate().with_recipe().validate()
        self.control = control or TrainingControl()
        self.on_progress = on_progress
        self.on_start = on_start
        self.on_warning = on_warning
        self._model_override, self._train_override, self._test_override = model, train_data, test_data
        self.path = config.run_path()
        self.session: RecordingSession | None = None
        self.writer = None
        self.recorder: GradientRecorder | None = None
        self.health: HealthMonitor | None = None
        self.step = 0
        self.epoch = 0
        self.evals: list = []
        self._epochs_done = 0
        self._saved_steps: set[int] = set()
        self._last_steps: RecordedSteps | None = None
        self._divergence: _Divergence | None = None   # the first non-finite step, once the host knows it
        self._paused_seconds = 0.0
        self._rate = 0.0
        self._prepared = False
        self._evaluating = False
        self._in_backward = False  # a failure then is explained as the backward pass's

    # ------------------------------------------------------------------ set-up

    def prepare(self) -> Trainer:
        """Load the data, build the model and the optimizer (``run()`` does it when not done yet)."""
        from .setup import prepare

        if self._prepared:
            return self
        config = self.config
        self.device = choose_device(config.device)
        prepared = prepare(config, model=self._model_override, train_data=self._train_override,
                           test_data=self._test_override)
        self.model = prepared.model.to(self.device)
        self.spec = prepared.spec
        self.train_data, self.test_data = prepared.train, prepared.test
        self.classes = list(self.train_data.classes)
        self._make_loaders()
        self.steps_per_epoch = len(self.train_loader)
        if self.steps_per_epoch == 0:
            raise ResvizError(f"data set {self.train_data.name} has no training samples")
        planned = config.epochs_for(self.steps_per_epoch) * self.steps_per_epoch
        self.total_steps = min(planned, config.max_steps) if config.max_steps else planned
        self.epochs = math.ceil(self.total_steps / self.steps_per_epoch)
        self.optimizer = make_optimizer(config, self.model.parameters())
        self.skip_on_device = optimizer_is_fused(self.optimizer)
        # Policy "stop": 1 from the first non-finite step on, so no later update is applied.
        self._stopped_flag = torch.zeros((), dtype=torch.float32, device=self.device)
        self.amp = config.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda") if self.amp else None
        self._prepared = True
        return self

    def _make_loaders(self) -> None:
        from ..data import BatchLoader, dataset_stats

        config = self.config
        mean, std = dataset_stats(self.train_data) if config.normalize else (None, None)
        self.normalisation = (mean, std)  # stored in the run, so attribution feeds images exactly as training did
        self.train_loader = BatchLoader(self.train_data, batch_size=config.batch_size, shuffle=True,
                                        seed=config.seed, device=self.device, normalize=config.normalize,
                                        augment=config.augment, mean=mean, std=std)
        self.test_loader = BatchLoader(self.test_data, batch_size=max(config.batch_size, 256), shuffle=False,
                                       seed=config.seed, device=self.device, normalize=config.normalize,
                                       augment=False, mean=mean, std=std)

    def _open_run(self) -> None:
        config = self.config
        stored = config.to_dict()
        stored["resolved"] = {"device": str(self.device), "lr": config.learning_rate, "amp": self.amp,
                              "total_steps": self.total_steps, "steps_per_epoch": self.steps_per_epoch,
                              "input_shape": list(self.train_data.images.shape[1:]),
                              "train_samples": len(self.train_data), "test_samples": len(self.test_data)}
        mean, std = self.normalisation
        if mean is not None:
            stored["resolved"].update(mean=[float(m) for m in mean], std=[float(s) for s in std])
        zoo_model = self._model_override is None and not self.spec.is_user_model
        remedies = Remedies.for_model(self.model, flags=True, optimizer=config.optimizer, norm_option=zoo_model,
                                      base_lr=config.learning_rate)
        self.session = RecordingSession(
            self.model, self.path, model_spec=self.spec, config=stored, classes=self.classes, device=str(self.device),
            twin=config.twin, every=config.record_every, flush_every=config.flush_every,
            flush_seconds=config.flush_seconds, overwrite=config.overwrite, remedies=remedies,
            outcome=self._outcome, on_nonfinite=self._on_nonfinite, on_steps=self._on_recorded,
            on_warning=self.on_warning, example_input=(1, *self.train_data.images.shape[1:]))
        self.recorder, self.writer, self.health = self.session.recorder, self.session.writer, self.session.health
        parameters = sum(p.numel() for p in self.model.parameters())
        self.writer.add_event(0, "info", f"training {self.spec.label()} ({parameters:,} parameters) on "
                                         f"{self.train_data.name} ({len(self.train_data)} train / "
                                         f"{len(self.test_data)} test) on {self.device}")
        if config.amp and not self.amp:
            self.writer.add_event(0, "info", f"mixed precision needs CUDA; training in float32 on {self.device}")
        if not self.skip_on_device:
            self._note_host_checks(f"no fused {config.optimizer} for these parameters on {self.device}")
        if self.on_start is not None:
            self.on_start({"path": str(self.path), "layer_ids": list(self.recorder.layer_ids),
                           "block_ids": list(self.recorder.block_ids), "classes": list(self.classes),
                           "device": str(self.device), "total_steps": self.total_steps, "epochs": self.epochs})

    # ------------------------------------------------------------------ the run

    def run(self) -> TrainResult:
        """Train to the end (or a stop). An exception marks the run failed, keeps its steps, and
        propagates; out of memory becomes a ``ResvizError`` with a hint. A trainer runs once."""
        if self.writer is not None:
            raise ResvizError(f"this trainer already ran into {self.path}; make a new one")
        try:
            self.prepare()
        except torch.OutOfMemoryError as exc:
            raise ResvizError(out_of_memory_message(choose_device(self.config.device), 0,
                                                    self.config.batch_size)) from exc
        self._open_run()
        self._clock_start = time.perf_counter()
        self._rate_mark = (self._clock_start, 0)
        status, error = "finished", None
        self.session.attach()
        try:
            try:
                self._train()
                self.recorder.close()  # the last rows may show a non-finite step
                self._raise_if_diverged()
            except Diverged as exc:
                status, error = "failed", str(exc)
            self.recorder.close()
            if status == "finished" and self.control.stop_requested and self.step < self.total_steps:
                status = "stopped"
                self.writer.add_event(self.step, "stop", f"stopped at step {self.step}")
            self._save_checkpoint(final=True)
            if error:
                self.writer.add_event(self.step, "error", error)
            self.session.finish(status, error)
        except BaseException as exc:
            message, explained = self._fail(exc)
            if explained:
                raise ResvizError(message) from exc
            raise
        finally:
            self.recorder.detach()
        self._report("done")
        return TrainResult(self.path, status, self.step, self._epochs_done, error, list(self.evals))

    def _fail(self, exc: BaseException) -> tuple[str, bool]:
        """Keep every recorded step and mark the run failed (stopped, for an interrupt). Returns the
        message and whether it explains the failure in one line (out of memory, the model's forward)."""
        explained = True
        if isinstance(exc, torch.OutOfMemoryError):
            message, status = out_of_memory_message(self.device, self.step, self.config.batch_size), "failed"
        elif isinstance(exc, KeyboardInterrupt):
            message, status, explained = "interrupted", "stopped", False
        elif isinstance(exc, Exception) and self._in_backward:
            from ..graph.doctor import describe_failed_backward

            message, status = describe_failed_backward(exc, f"step {self.step}"), "failed"
        elif isinstance(exc, Exception) and (failure := self._failed_forward(exc)) is not None:
            message, status = failure, "failed"
        else:
            message, status, explained = describe_exception(exc), "failed", False
        self.session.fail(self.step, status, message)
        return message, explained

    def _failed_forward(self, exc: Exception) -> str | None:
        """The step and the module whose forward raised (with the shape doctor's fix for a shape
        mismatch), read from the traceback once it failed: nothing is watched per step."""
        from ..graph.doctor import describe_failed_forward

        when = f"the evaluation after step {self.step}" if self._evaluating else f"step {self.step}"
        return describe_failed_forward(self.model, exc, when)

    def _train(self) -> None:
        config, model, control = self.config, self.model, self.control
        model.train()
        current_lr = None
        for epoch in range(self.epochs):
            self.epoch = epoch
            first_step = self.step
            for x, y in self.train_loader:
                if self.step >= self.total_steps:
                    break
                if control.paused:
                    self._pause()
                if control.stop_requested:
                    return
                lr = lr_at(config, self.step, self.total_steps)
                if lr != current_lr:
                    for group in self.optimizer.param_groups:
                        group["lr"] = lr
                    current_lr = lr
                self._train_step(x, y, epoch, lr)
                self.step += 1
            self._evaluate(epoch)
            if self.step - first_step == self.steps_per_epoch:
                self._epochs_done = epoch + 1
            if config.checkpoint_every and self._epochs_done and self._epochs_done % config.checkpoint_every == 0:
                self._save_checkpoint()
            if control.stop_requested or self.step >= self.total_steps:
                return

    def _train_step(self, x: torch.Tensor, y: torch.Tensor, epoch: int, lr: float) -> None:
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
            out = self.model(x)
            loss = F.cross_entropy(out, y)
        self.optimizer.zero_grad(set_to_none=True)
        scaler = self.scaler
        self._in_backward = True
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(self.optimizer)  # record the true gradients
        else:
            loss.backward()
        self._in_backward = False
        acc = (out.detach().argmax(1) == y).to(torch.float32).mean()
        self.recorder.step(loss=loss, acc=acc, epoch=epoch, lr=lr, step=self.step,
                           grad_scale=_scale_tensor(scaler) if scaler is not None else None)
        flags = self.recorder.last_flags  # this step's non-finite bits, on the device
        if scaler is not None:
            flags = torch.fmod(flags, 2) * NONFINITE_LOSS  # overflowing gradients are the scaler's to skip
        if self.skip_on_device:
            try:
                self._update_skipping_on_device(flags)
            except _FusedUnavailable as exc:
                self._use_host_checks(str(exc))
                self._update_checked_on_host(flags)
        else:
            self._update_checked_on_host(flags)
        self._raise_if_diverged()

    def _update_skipping_on_device(self, flags: torch.Tensor) -> None:
        """The optimizer step, skipped by the fused kernel where the policy says so: no host read."""
        optimizer, scaler = self.optimizer, self.scaler
        found = None
        if scaler is not None:
            found = _scaler_found_inf(scaler, optimizer)
            if found is None:
                raise _FusedUnavailable("this GradScaler does not expose its overflow flag")
        skip = (flags > 0).to(torch.float32)
        if self.config.nonfinite == "stop":
            skip = torch.maximum(self._stopped_flag, skip, out=self._stopped_flag)
        if found is not None:
            skip = torch.maximum(skip, found)
        # Gradients are already unscaled (or never scaled): no grad_scale for the kernel.
        optimizer.found_inf = skip
        try:
            optimizer.step()
        except RuntimeError as exc:
            if "sparse" in str(exc):  # raised before any update
                raise _FusedUnavailable("sparse gradients need the unfused optimizer") from exc
            raise
        finally:
            del optimizer.found_inf
        if scaler is not None:
            scaler.update()

    def _update_checked_on_host(self, flags: torch.Tensor) -> None:
        """The optimizer step after reading the step's flag on the host (one sync per step)."""
        scaler = self.scaler
        bits = int(flags.item())
        if bits:
            if self.config.nonfinite == "stop":
                if self._divergence is None:
                    self._diverge(self.step, bits)
            elif scaler is not None:
                scaler.update()
            return  # skip: no optimizer step
        if scaler is not None:
            scaler.step(self.optimizer)
            scaler.update()
        else:
            self.optimizer.step()

    def _use_host_checks(self, reason: str) -> None:
        """From now on, unfused updates and a host read of the flag per step."""
        for group in self.optimizer.param_groups:
            group["fused"] = False
        # GradScaler.step hands a fused optimizer its overflow flag; the unfused one checks it itself.
        self.optimizer._step_supports_amp_scaling = False
        self.skip_on_device = False
        self._note_host_checks(reason)

    def _note_host_checks(self, reason: str) -> None:
        self.writer.add_event(self.step, "info", f"non-finite checks read on the host every step: {reason}")

    def _raise_if_diverged(self) -> None:
        """End training at the first non-finite step (policy stop), once the host knows it."""
        divergence = self._divergence
        if divergence is None:
            return
        # Every update from that step on was skipped: the weights are those of that step.
        self.step = divergence.step
        self.epoch = divergence.step // self.steps_per_epoch
        self._epochs_done = min(self._epochs_done, self.epoch)
        raise Diverged(f"non-finite {describe_nonfinite(divergence.flags)} at step {divergence.step} "
                       f"(--nonfinite stop ended the run)")

    # ------------------------------------------------------------------ pause, eval, checkpoints

    def _pause(self) -> None:
        self.session.deliver()
        self._raise_if_diverged()
        self.writer.add_event(self.step, "pause", f"paused at step {self.step}")
        self.writer.flush()
        self._report("paused")
        started = time.perf_counter()
        while not self.control.wait_while_paused(0.25):
            pass
        self._paused_seconds += time.perf_counter() - started
        if not self.control.stop_requested:
            self.writer.add_event(self.step, "resume", f"resumed at step {self.step}")
        else:
            self.writer.add_event(self.step, "stop", f"stopped at step {self.step}")

    @torch.no_grad()
    def _evaluate(self, epoch: int) -> None:
        self.session.deliver()  # the steps before the evaluation reach the file first
        self._raise_if_diverged()
        model = self.model
        model.eval()
        k = len(self.classes)
        confusion = torch.zeros(k, k, dtype=torch.int64, device=self.device)
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        self._evaluating = True
        try:
            for x, y in self.test_loader:
                with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
                    out = model(x)
                loss_sum += F.cross_entropy(out.float(), y, reduction="sum").double()
                confusion += confusion_counts(y, out[:, :k].argmax(1), k)
        finally:
            model.train()
        self._evaluating = False
        matrix = confusion.cpu().numpy()
        total = int(matrix.sum())
        loss = float(loss_sum.item()) / total if total else float("nan")
        record = self.session.add_eval(self.step, epoch, loss=loss, confusion=matrix)
        self.evals.append(record)
        self._report("eval")

    def _save_checkpoint(self, final: bool = False) -> None:
        if final and self.step in self._saved_steps:
            return
        self.session.add_checkpoint(self.step, self.epoch, self.recorder.model.state_dict())
        self._saved_steps.add(self.step)
        self.writer.add_event(self.step, "checkpoint", f"{'final weights' if final else 'checkpoint'} at step "
                                                       f"{self.step} (epoch {self.epoch + 1})")

    # ------------------------------------------------------------------ recorded steps and progress

    def _on_nonfinite(self, step: int, flags: int) -> None:
        """A non-finite step, as the host learns of it: the first one the stop policy acts on ends
        the run there (the session writes the events)."""
        acted_on = flags & NONFINITE_LOSS if self.scaler is not None else flags
        if acted_on and self.config.nonfinite == "stop" and self._divergence is None:
            self._diverge(step, acted_on)

    def _diverge(self, step: int, flags: int) -> None:
        self._divergence = _Divergence(step, flags)
        self.session.end_at(step)

    def _on_recorded(self, steps: RecordedSteps) -> None:
        """Rows the session has written into the run file."""
        self._last_steps = steps
        self._report("train")

    def _outcome(self, flags: int) -> str:
        if self.scaler is not None and not flags & NONFINITE_LOSS and flags & NONFINITE_GRAD:
            return "step skipped by the gradient scaler"
        return "step skipped" if self.config.nonfinite == "skip" else "training stopped"

    def _report(self, phase: str) -> None:
        if self.on_progress is None:
            return
        steps = self._last_steps
        now = time.perf_counter()
        elapsed = max(now - self._clock_start - self._paused_seconds, 1e-9)
        done = int(steps.step[-1]) + 1 if phase == "train" and steps is not None else self.step
        mark_time, mark_step = self._rate_mark
        if phase == "train" and now - mark_time >= 0.5 and done > mark_step:
            self._rate = (done - mark_step) / (now - mark_time)
            self._rate_mark = (now, done)
        elif phase in ("eval", "paused"):
            self._rate_mark = (now, done)  # evaluation and pauses are not training speed
        if not self._rate and done:
            self._rate = done / elapsed
        last_eval = self.evals[-1] if self.evals else None
        finite_acc = steps is not None and bool(np.isfinite(steps.acc).any())
        self.on_progress(TrainProgress(
            phase=phase, step=done, total_steps=self.total_steps, epoch=self.epoch, epochs=self.epochs,
            loss=float(steps.loss[-1]) if steps is not None else float("nan"),
            acc=float(np.nanmean(steps.acc)) if finite_acc else float("nan"),
            lr=float(steps.lr[-1]) if steps is not None else self.config.learning_rate,
            steps_per_second=self._rate, elapsed=elapsed,
            eval_loss=last_eval.loss if last_eval else None, eval_acc=last_eval.acc if last_eval else None))
