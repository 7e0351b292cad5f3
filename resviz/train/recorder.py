"""Per-layer gradient statistics, computed on the device and moved to the host in batches.

After ``backward()`` the recorder computes, for every layer (a module holding parameters,
id = its qualified name): the gradient L2 norm, the weight norm and the update-to-weight
ratio ``||w_t - w_{t-1}|| / ||w_t||``; for every block output: the activation-gradient norm
``||dL/dh||`` and, where the block ends in a ReLU, the fraction of exact zeros (over the
first ``DEAD_RELU_SAMPLES`` samples of the batch); and a non-finite flag for the loss, the
gradients and the weights.

Everything stays on the device: one ``torch._foreach_norm`` per (device, dtype) group,
parameter norms reduced to layer norms with ``index_add_`` over a precomputed index, and each
step's numbers written as one row of a preallocated device buffer. Every ``flush_every``
steps (or ``flush_seconds``) the rows go to the host in one copy; on CUDA into pinned memory
with ``non_blocking=True`` and an event that is polled later, so training never waits for it
and there is no host synchronisation per step. What is known only on the host (which layers
had no gradient, which blocks were not reached) is kept beside the rows and applied when they
arrive, so no host data has to go to the device per step either.

Steps that are not recorded (``every`` > 1) still get a non-finite flag for their loss, on
the device (``last_flags``, so a caller can act on it without reading it); with a
``nonfinite_sink`` those flags travel to the host in the same copy as the rows, so every
non-finite step is reported, recorded or not.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import ResvizError
from .layers import OUTPUT_ID, block_modules, layer_parameters, resolve_blocks, run_structure, unwrap_model
from .recorded_steps import (
    NONFINITE_BITS,
    NONFINITE_GRAD,
    NONFINITE_LOSS,
    NONFINITE_WEIGHT,
    SKIPPED_BY_SCALER,
    NonfiniteSteps,
    RecordedSteps,
    concat_steps,
    describe_nonfinite,
    nonfinite_steps,
)
from .sharded import ShardedNorms

# The statistic a compiled forward leaves out, and why (the check for a block's final ReLU reads the
# output's autograd node, which torch.compile cannot trace without a graph break).
DEAD_RELU_UNDER_COMPILE = ("dead_relu", "torch.compile cannot trace the check for a block's final ReLU "
                                        "(its autograd node) without a graph break")

# The dead-ReLU fraction is measured on (at most) this many samples of each batch.
DEAD_RELU_SAMPLES = 32

# Columns of a device row before the per-layer and per-block vectors.
_LOSS, _ACC, _FLAGS, _HEAD = 0, 1, 2, 3


@dataclass
class _Group:
    """The parameters of one (device, dtype) group and where their norms go."""

    params: list[Tensor]
    layer_index: list[int]                    # layer of each parameter
    index: Tensor                             # the same, on the recorder's device
    previous: list[Tensor] | None = None      # weights at the last snapshot
    masked_index: dict[tuple[bool, ...], Tensor] = field(default_factory=dict)


@dataclass
class _RowMeta:
    """What the host knows about one recorded row."""

    step: int
    epoch: int
    time: float
    lr: float
    missing_layers: list[int] | None   # layers with no gradient at all
    has_previous: bool                 # update ratio defined
    act_calls: list[int]               # gradient hooks that fired per block
    relu_calls: list[int]              # forward calls per block that ended in a ReLU


class _PendingCopy:
    def __init__(self, host: _HostBuffers, rows: int, meta: list[_RowMeta], logged: list[int], event: Any) -> None:
        self.host, self.rows, self.meta, self.logged, self.event = host, rows, meta, logged, event


@dataclass
class _HostBuffers:
    """Pinned host memory for one copy: the rows, and the unrecorded steps' flags."""

    rows: Tensor
    log: Tensor | None


class GradientRecorder:
    """Records per-layer and per-block statistics of a model's training steps.

    Use::

        recorder = GradientRecorder(model, sink=writer_callback)
        with recorder:                      # registers the hooks, removes them on exit
            for x, y in batches:
                loss = criterion(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                recorder.step(loss=loss)    # after backward, before optimizer.step()
                optimizer.step()

    ``sink`` receives ``RecordedSteps`` in step order whenever a batch of rows reaches the
    host. ``every`` records one step in N. ``blocks`` overrides the automatic block choice.
    ``nonfinite_sink``, when given, receives the ``NonfiniteSteps`` of each delivery (before
    ``sink`` gets its rows), including the unrecorded steps whose loss was not finite.
    """

    def __init__(self, model: nn.Module, *, every: int = 1, flush_every: int = 50, flush_seconds: float = 1.0,
                 blocks: Iterable[str] | None = None, sink: Callable[[RecordedSteps], None] | None = None,
                 update_ratio: bool = True, activation_gradients: bool = True, dead_relu: bool = True,
                 start_step: int = 0, clock: Callable[[], float] | None = None,
                 nonfinite_sink: Callable[[NonfiniteSteps], None] | None = None,
                 example_input: Any = None, on_left_out: Callable[[int, str, str], None] | None = None) -> None:
        if every < 1:
            raise ResvizError(f"record every {every} steps: must be at least 1")
        if flush_every < 1:
            raise ResvizError(f"flush every {flush_every} steps: must be at least 1")
        self.model = unwrap_model(model)
        layers = layer_parameters(self.model)
        if not layers:
            raise ResvizError(f"{type(self.model).__name__} has no trainable parameters to record")
        self.layer_ids = [name for name, _ in layers]
        # ``example_input`` (a tensor, or a shape with its batch) lets a model without ``input_shape`` be
        # traced for its blocks and their skips; without either, the blocks come from the fallback.
        self.block_ids = resolve_blocks(self.model, blocks, example_input)
        # Each layer's kind, each block's layers and skip kind, for the run file (``RunWriter(structure=...)``).
        self.structure = run_structure(self.model, self.layer_ids, self.block_ids, example_input)
        self.every = every
        self.flush_every = flush_every
        self.flush_seconds = flush_seconds
        self.sink = sink
        self.nonfinite_sink = nonfinite_sink
        self.track_updates = update_ratio
        self.track_activations = activation_gradients
        self.track_dead_relu = dead_relu
        self._blocks = block_modules(self.model, self.block_ids)

        first = layers[0][1][0][1]
        self.device = first.device
        self._groups = self._make_groups(layers)
        # Under fully_shard each rank reads its own shards; their squares are summed over the ranks (.sharded).
        self._sharding = ShardedNorms.for_layers(layers, self.device)
        if self._sharding is not None:
            for group in self._groups:
                group.params = self._sharding.local_view(group.params)
        n_layers, n_blocks = len(self.layer_ids), len(self.block_ids)
        self._slices = {
            "grad": slice(_HEAD, _HEAD + n_layers),
            "weight": slice(_HEAD + n_layers, _HEAD + 2 * n_layers),
            "update": slice(_HEAD + 2 * n_layers, _HEAD + 3 * n_layers),
            "act": slice(_HEAD + 3 * n_layers, _HEAD + 3 * n_layers + n_blocks),
            "dead": slice(_HEAD + 3 * n_layers + n_blocks, _HEAD + 3 * n_layers + 2 * n_blocks),
        }
        self._width = _HEAD + 3 * n_layers + 2 * n_blocks
        self._cuda = self.device.type == "cuda"
        self._rows = torch.zeros(flush_every, self._width, dtype=torch.float32, device=self.device)
        self._n = 0
        self._meta: list[_RowMeta] = []
        # The flags of unrecorded steps between two flushes (at most every - 1 per recorded row),
        # kept only when someone listens for them.
        self._log_capacity = (every - 1) * flush_every if nonfinite_sink is not None else 0
        self._log = (torch.zeros(self._log_capacity, dtype=torch.float32, device=self.device)
                     if self._log_capacity else None)
        self._logged: list[int] = []   # the step of each used log entry
        self._host_pool: list[_HostBuffers] = []
        self._pending: list[_PendingCopy] = []
        self._oldest_row = time.perf_counter()
        start = time.perf_counter()
        # The time stored with each step: the caller's clock (the run file's), else since now.
        self.clock = clock or (lambda: time.perf_counter() - start)

        # Per-step accumulators, written by the hooks on the device.
        self._act_sq = torch.zeros(n_blocks, dtype=torch.float32, device=self.device)
        self._dead = torch.zeros(n_blocks, dtype=torch.float32, device=self.device)
        self._act_calls = [0] * n_blocks
        self._relu_calls = [0] * n_blocks
        self._act_reached = torch.zeros(n_blocks, dtype=torch.float32, device=self.device)  # compiled backward
        self._sq = torch.zeros(3 * n_layers, dtype=torch.float32, device=self.device)

        self._next_step = start_step
        self._snapshot_step: int | None = None
        self._armed = self._is_recorded(start_step)
        self._forward_handles: list[Any] = []
        self._tensor_handles: list[Any] = []
        self._use_foreach = True
        # Device scalar (float32): the non-finite bits of the last step; for an unrecorded step only
        # its loss is checked. None before the first step, or when the last step gave no loss.
        self.last_flags: Tensor | None = None
        self.closed = False
        # Set by a forward traced by torch.compile; the statistics left out because of it go to
        # ``on_left_out(step, statistic, reason)`` once each, from step().
        self.compiled_forward = False
        self.on_left_out = on_left_out
        self.left_out: dict[str, str] = {}

    # ----------------------------------------------------------------- set-up

    def _make_groups(self, layers: list[tuple[str, list[tuple[str, nn.Parameter]]]]) -> list[_Group]:
        by_key: dict[tuple[torch.device, torch.dtype], _Group] = {}
        for layer_index, (_, params) in enumerate(layers):
            for _, parameter in params:
                key = (parameter.device, parameter.dtype)
                group = by_key.get(key)
                if group is None:
                    group = by_key[key] = _Group([], [], torch.empty(0))
                group.params.append(parameter)
                group.layer_index.append(layer_index)
        for group in by_key.values():
            group.index = torch.tensor(group.layer_index, dtype=torch.long, device=self.device)
        return list(by_key.values())

    def _is_recorded(self, step: int) -> bool:
        return step % self.every == 0

    # ----------------------------------------------------------------- hooks

    def attach(self) -> GradientRecorder:
        """Register the forward hooks on the blocks (idempotent). Pair with ``detach()``."""
        if self.closed:
            raise ResvizError("this recorder is closed; make a new one")
        if self._forward_handles or not (self.track_activations or self.track_dead_relu):
            return self
        try:
            for index, module in enumerate(self._blocks):
                self._forward_handles.append(module.register_forward_hook(self._make_forward_hook(index)))
        except BaseException:
            self.detach()
            raise
        return self

    def detach(self) -> None:
        """Remove every hook this recorder registered."""
        for handle in self._forward_handles:
            handle.remove()
        self._forward_handles.clear()
        self._remove_tensor_hooks()

    def _remove_tensor_hooks(self) -> None:
        for handle in self._tensor_handles:
            handle.remove()
        self._tensor_handles.clear()

    @property
    def hook_count(self) -> int:
        """Hooks currently registered by this recorder (forward and tensor)."""
        return len(self._forward_handles) + len(self._tensor_handles)

    def _make_forward_hook(self, index: int) -> Callable[..., None]:
        def forward_hook(module: nn.Module, inputs: Any, output: Any) -> None:
            # Under torch.compile the hook is traced into the graph: it reads nothing that would
            # guard the graph on the step (a compiled forward accumulates every step; step() drops
            # the unrecorded ones), and leaves out what it cannot trace.
            compiling = torch.compiler.is_compiling()
            if not (compiling or self._armed) or not torch.is_grad_enabled():
                return
            if compiling:
                self.compiled_forward = True
            for tensor in _tensors(output):
                if (self.track_dead_relu and not compiling and tensor.grad_fn is not None
                        and tensor.grad_fn.name() == "ReluBackward0"):
                    if tensor.numel():
                        # A ReLU's output is >= 0, so its sign is 1 where it is non-zero: the mean
                        # of the signs is the live fraction (far cheaper than count_nonzero on CPUs).
                        # The first DEAD_RELU_SAMPLES samples of a batch are plenty for a fraction
                        # and keep this pass a small part of the step.
                        sample = tensor.detach()
                        if sample.dim() > 1 and sample.shape[0] > DEAD_RELU_SAMPLES:
                            sample = sample[:DEAD_RELU_SAMPLES]
                        live = torch.sign(sample).mean(dtype=torch.float32)
                        self._dead[index].add_(1.0 - live)
                        self._relu_calls[index] += 1
                if self.track_activations and tensor.requires_grad:
                    if compiling:  # a traced handle cannot be kept; the hook goes with the step's graph
                        tensor.register_hook(self._make_gradient_hook(index))
                    else:
                        self._tensor_handles.append(tensor.register_hook(self._make_gradient_hook(index)))

        return forward_hook

    def _make_gradient_hook(self, index: int) -> Callable[[Tensor], None]:
        def gradient_hook(grad: Tensor) -> None:
            norm = torch.linalg.vector_norm(grad.detach(), dtype=torch.float32)
            self._act_sq[index].add_(norm * norm)
            if torch.compiler.is_compiling():
                # A compiled backward may change tensors only: the block's "got a gradient" mark
                # is kept on the device (a Python counter would break the graph).
                self._act_reached[index].fill_(1.0)
            else:
                self._act_calls[index] += 1

        return gradient_hook

    def __enter__(self) -> GradientRecorder:
        return self.attach()

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # ----------------------------------------------------------------- recording

    def will_record(self, step: int | None = None) -> bool:
        return self._is_recorded(self._next_step if step is None else step)

    @property
    def next_step(self) -> int:
        return self._next_step

    def step(self, loss: Tensor | float | None = None, *, acc: Tensor | float | None = None, epoch: int = 0,
             lr: float | None = None, step: int | None = None, grad_scale: Tensor | float | None = None,
             scaled_grads: bool = False, scaler_skips: Tensor | bool = False) -> bool:
        """Record the step just back-propagated (call after ``backward()``, before ``optimizer.step()``).

        Returns whether this step was recorded. ``loss`` and ``acc`` may be device tensors:
        they are read on the device, never with ``.item()``. With mixed precision pass the
        scaler's scale (its device tensor) as ``grad_scale``: the activation gradients seen by
        the hooks are those of the scaled loss, and so are the parameters' gradients unless
        they were unscaled (``scaled_grads=True`` when not). ``scaler_skips`` marks the step as
        skipped by the scaler rather than non-finite: the scaler's found-inf flag (a device
        tensor), or True for "skipped exactly when a gradient is not finite", the scaler's test.
        """
        if self.closed:
            raise ResvizError("this recorder is closed; make a new one")
        current = self._next_step if step is None else int(step)
        recorded = self._is_recorded(current)
        if self.compiled_forward and self.track_dead_relu:
            self._leave_out(current, *DEAD_RELU_UNDER_COMPILE)
        if recorded:
            self._record_row(current, loss, acc, epoch, lr, grad_scale, scaled_grads, scaler_skips)
        else:
            self._flag_unrecorded(current, loss)
        if self.track_updates and self._is_recorded(current + 1):
            self._snapshot(current)
        self._remove_tensor_hooks()
        self._next_step = current + 1
        self._armed = self._is_recorded(self._next_step)
        self._reset_accumulators()
        self.collect()
        # Flush when the buffer is full, or when its oldest row has waited long enough (slow steps).
        if recorded and (self._n >= self.flush_every
                         or time.perf_counter() - self._oldest_row >= self.flush_seconds):
            self.flush()
        return recorded

    def _leave_out(self, step: int, statistic: str, reason: str) -> None:
        """``statistic`` is not taken (its column stays NaN): say so once."""
        if statistic in self.left_out:
            return
        self.left_out[statistic] = reason
        if self.on_left_out is not None:
            self.on_left_out(step, statistic, reason)

    def _flag_unrecorded(self, step: int, loss: Any) -> None:
        """An unrecorded step's non-finite loss bit, on the device (and in the log, when kept)."""
        if loss is None:
            self.last_flags = None
            return
        flags = (~torch.isfinite(_as_device_scalar(loss, self.device))).to(torch.float32) * NONFINITE_LOSS
        self.last_flags = flags
        if self._log is not None:
            if len(self._logged) == self._log_capacity:
                self.flush()  # full: only when the step numbers passed in skip the recorded ones
            self._log[len(self._logged)].copy_(flags)
            self._logged.append(step)

    def _reset_accumulators(self) -> None:
        if self.compiled_forward:
            self._act_reached.zero_()
        if self.compiled_forward or any(self._act_calls):
            self._act_sq.zero_()
            self._act_calls = [0] * len(self.block_ids)
        if any(self._relu_calls):
            self._dead.zero_()
            self._relu_calls = [0] * len(self.block_ids)

    def _norms(self, tensors: list[Tensor]) -> Tensor:
        """The L2 norms of ``tensors`` as one float32 vector on the recorder's device."""
        if self._use_foreach:
            try:
                norms = torch._foreach_norm(tensors, 2, dtype=torch.float32)
            except (RuntimeError, TypeError, NotImplementedError):
                self._use_foreach = False  # e.g. sparse gradients; the slow path stays exact
            else:
                return torch.stack(norms).to(self.device, non_blocking=True)
        return torch.stack([torch.linalg.vector_norm(_dense(t), dtype=torch.float32) for t in tensors]).to(
            self.device, non_blocking=True)

    def _record_row(self, step: int, loss: Any, acc: Any, epoch: int, lr: float | None, grad_scale: Any,
                    scaled_grads: bool = False, scaler_skips: Tensor | bool = False) -> None:
        n_layers = len(self.layer_ids)
        sq = self._sq
        sq.zero_()
        missing: set[int] = set()
        has_previous = self.track_updates and self._snapshot_step == step - 1
        for group in self._groups:
            grads = [p.grad for p in group.params]
            present = tuple(g is not None for g in grads)
            if all(present):
                group_grads, index = grads, group.index
            else:
                group_grads, index = self._present(group, grads, present)
                missing.update(i for i, ok in zip(group.layer_index, present) if not ok)
            if group_grads:
                norms = self._norms(group_grads)
                sq.index_add_(0, index, norms * norms)
            detached = [p.detach() for p in group.params]
            norms = self._norms(detached)
            sq.index_add_(0, group.index + n_layers, norms * norms)
            if has_previous and group.previous is not None:
                torch._foreach_sub_(group.previous, detached)   # previous := w_{t-1} - w_t
                norms = self._norms(group.previous)
                sq.index_add_(0, group.index + 2 * n_layers, norms * norms)
        if self._sharding is not None:
            self._sharding.all_reduce(sq)  # the shards' squares summed: the whole parameters'
        # A layer is missing only when none of its parameters has a gradient.
        missing_layers = sorted(missing - self._layers_with_any_grad(missing)) if missing else None

        if self._n == 0:
            self._oldest_row = time.perf_counter()
        row = self._rows[self._n]
        norms = sq.sqrt()
        grad, weight, delta = norms[:n_layers], norms[n_layers:2 * n_layers], norms[2 * n_layers:]
        act = self._act_sq.sqrt()
        if grad_scale is not None:  # AMP: the hooks saw gradients of the scaled loss
            scale = _as_device_scalar(grad_scale, self.device)
            act = act / scale
            if scaled_grads:  # not unscaled yet: divided here, on the device (no read of the scale)
                grad = grad / scale
        if self.compiled_forward:  # blocks that got no gradient in a compiled backward: NaN, as on the host
            act = torch.where(self._act_reached > 0, act, math.nan)
        row[self._slices["grad"]].copy_(grad)
        row[self._slices["weight"]].copy_(weight)
        row[self._slices["update"]].copy_(delta / weight)
        row[self._slices["act"]].copy_(act)
        row[self._slices["dead"]].copy_(self._dead)
        loss_value = _as_device_scalar(loss, self.device)
        row[_LOSS].copy_(loss_value)
        row[_ACC].copy_(_as_device_scalar(acc, self.device))
        bad_grad = (~torch.isfinite(grad).all()).to(torch.float32)
        flags = ((~torch.isfinite(loss_value)).to(torch.float32) * NONFINITE_LOSS
                 + bad_grad * NONFINITE_GRAD
                 + (~torch.isfinite(weight).all()).to(torch.float32) * NONFINITE_WEIGHT)
        if scaler_skips is not False:
            # The scaler skips the update: its overflow is marked as a skip, not as a non-finite gradient.
            skipped = bad_grad if scaler_skips is True else _as_device_scalar(scaler_skips, self.device).clamp(0, 1)
            flags = flags - bad_grad * skipped * NONFINITE_GRAD + skipped * SKIPPED_BY_SCALER
        row[_FLAGS].copy_(flags)
        self.last_flags = flags
        self._meta.append(_RowMeta(step, int(epoch), self.clock(),
                                   float("nan") if lr is None else float(lr), missing_layers, has_previous,
                                   [1] * len(self.block_ids) if self.compiled_forward else list(self._act_calls),
                                   list(self._relu_calls)))
        self._n += 1

    def _layers_with_any_grad(self, candidates: set[int]) -> set[int]:
        have = set()
        for group in self._groups:
            for parameter, layer in zip(group.params, group.layer_index):
                if layer in candidates and parameter.grad is not None:
                    have.add(layer)
        return have

    def _present(self, group: _Group, grads: list[Tensor | None],
                 present: tuple[bool, ...]) -> tuple[list[Tensor], Tensor]:
        """The gradients that exist and their layer index (cached per pattern of missing ones)."""
        index = group.masked_index.get(present)
        if index is None:
            index = group.masked_index[present] = torch.tensor(
                [i for i, ok in zip(group.layer_index, present) if ok], dtype=torch.long, device=self.device)
        return [g for g in grads if g is not None], index

    def _snapshot(self, step: int) -> None:
        """Keep a device copy of the weights, for the next recorded step's update ratio."""
        for group in self._groups:
            detached = [p.detach() for p in group.params]
            if group.previous is None:
                group.previous = [t.clone() for t in detached]
            else:
                torch._foreach_copy_(group.previous, detached)
        self._snapshot_step = step

    # ----------------------------------------------------------------- host transfer

    def flush(self) -> None:
        """Start moving the recorded rows to the host (delivered now on the CPU, later on CUDA)."""
        if self._n == 0 and not self._logged:
            return
        rows, meta, logged = self._n, self._meta, self._logged
        if self._cuda:
            self._n, self._meta, self._logged = 0, [], []
            host = self._host_buffer()
            if rows:
                host.rows[:rows].copy_(self._rows[:rows], non_blocking=True)
            if logged:
                host.log[:len(logged)].copy_(self._log[:len(logged)], non_blocking=True)
            event = torch.cuda.Event()
            event.record()
            self._pending.append(_PendingCopy(host, rows, meta, logged, event))
            # A device row is rewritten only after the copy, in stream order; the host
            # buffer is reused only once its event says the copy is done.
        else:
            log = self._log[:len(logged)].numpy().copy() if logged else None
            self._deliver(self._rows[:rows].numpy().copy(), meta, log, logged)
            # Forgotten only once delivered: a delivery interrupted (Ctrl+C inside the run file's
            # transaction, which then rolls back) is delivered again by close().
            self._n, self._meta, self._logged = 0, [], []

    def _host_buffer(self) -> _HostBuffers:
        if self._host_pool:
            return self._host_pool.pop()
        if len(self._pending) >= 4:  # far behind: wait for the oldest copy rather than grow forever
            self.collect(wait_for_oldest=True)
            if self._host_pool:
                return self._host_pool.pop()
        return _HostBuffers(
            torch.empty(self.flush_every, self._width, dtype=torch.float32, pin_memory=True),
            torch.empty(self._log_capacity, dtype=torch.float32, pin_memory=True) if self._log_capacity else None)

    def collect(self, *, wait: bool = False, wait_for_oldest: bool = False) -> None:
        """Deliver the copies that have reached the host (``wait=True``: all of them, blocking)."""
        while self._pending:
            pending = self._pending[0]
            if not (wait or wait_for_oldest) and not pending.event.query():
                return
            pending.event.synchronize()
            self._pending.pop(0)
            data = pending.host.rows[:pending.rows].numpy().copy()
            log = pending.host.log[:len(pending.logged)].numpy().copy() if pending.logged else None
            self._host_pool.append(pending.host)
            self._deliver(data, pending.meta, log, pending.logged)
            wait_for_oldest = False

    def finish(self) -> None:
        """Flush what is recorded and wait until all of it has been delivered."""
        self.flush()
        self.collect(wait=True)

    def close(self) -> None:
        """Deliver everything and remove the hooks. Safe to call twice."""
        if self.closed:
            return
        try:
            self.finish()
        finally:
            self.detach()
            self.closed = True

    def _deliver(self, data: np.ndarray, meta: list[_RowMeta], log: np.ndarray | None, logged: list[int]) -> None:
        steps = self._to_steps(data, meta) if meta else None
        if self.nonfinite_sink is not None:
            self.nonfinite_sink(nonfinite_steps(steps, log, logged))
        if self.sink is not None and steps is not None:
            self.sink(steps)

    def _to_steps(self, data: np.ndarray, meta: list[_RowMeta]) -> RecordedSteps:
        s = self._slices
        update = data[:, s["update"]].copy()
        act = data[:, s["act"]].copy()
        dead = data[:, s["dead"]].copy()
        grad = data[:, s["grad"]].copy()
        skipped = (data[:, _FLAGS].astype(np.int64) & SKIPPED_BY_SCALER) != 0
        for i, row in enumerate(meta):
            if skipped[i]:  # the overflow of a skipped step is no gradient of the training: NaN
                grad[i, ~np.isfinite(grad[i])] = np.nan
                act[i, ~np.isfinite(act[i])] = np.nan
            if row.missing_layers:
                grad[i, row.missing_layers] = np.nan
            if not row.has_previous:
                update[i] = np.nan
            for b, (calls, relus) in enumerate(zip(row.act_calls, row.relu_calls)):
                if calls == 0:
                    act[i, b] = np.nan
                dead[i, b] = dead[i, b] / relus if relus else np.nan
        return RecordedSteps(
            step=np.array([m.step for m in meta], dtype=np.int64),
            epoch=np.array([m.epoch for m in meta], dtype=np.int64),
            time=np.array([m.time for m in meta], dtype=np.float64),
            loss=data[:, _LOSS].astype(np.float64),
            acc=data[:, _ACC].astype(np.float64),
            lr=np.array([m.lr for m in meta], dtype=np.float64),
            grad_norm=grad, weight_norm=data[:, s["weight"]].copy(), update_ratio=update,
            act_grad_norm=act, dead_relu=dead,
            nonfinite_flags=data[:, _FLAGS].astype(np.int64))

    def __repr__(self) -> str:
        return (f"GradientRecorder({type(self.model).__name__}, {len(self.layer_ids)} layers, "
                f"{len(self.block_ids)} blocks, every={self.every})")


def _tensors(output: Any) -> list[Tensor]:
    if isinstance(output, Tensor):
        return [output]
    if isinstance(output, (list, tuple)):
        return [t for t in output if isinstance(t, Tensor)]
    if isinstance(output, dict):
        return [t for t in output.values() if isinstance(t, Tensor)]
    return []


def _dense(tensor: Tensor) -> Tensor:
    return tensor.coalesce().values() if tensor.is_sparse else tensor


def _as_device_scalar(value: Any, device: torch.device) -> Tensor:
    """A float32 0-d tensor on ``device`` without reading a device value on the host."""
    if value is None:
        return torch.full((), math.nan, dtype=torch.float32, device=device)
    if isinstance(value, Tensor):
        return value.detach().reshape(()).to(device=device, dtype=torch.float32, non_blocking=True)
    return torch.full((), float(value), dtype=torch.float32, device=device)


__all__ = ["GradientRecorder", "NONFINITE_BITS", "NONFINITE_GRAD", "NONFINITE_LOSS", "NONFINITE_WEIGHT", "NonfiniteSteps",
           "OUTPUT_ID", "RecordedSteps", "SKIPPED_BY_SCALER", "concat_steps", "describe_nonfinite"]
