"""Whole-parameter norms of a model sharded across ranks (FSDP2's ``fully_shard``, DTensors).

Under ``fully_shard`` each rank holds a shard of every parameter and of its gradient: DTensors
with ``Shard`` placements. The norm of one rank's shard is not the layer's norm, and asking a
DTensor for its norm starts a collective on that rank alone (with the run file written on rank
0 only, the ranks would wait for each other forever). So the recorder reads each parameter
through its local shard (``LocalShard``), takes squared norms with no communication, and sums its
vector of per-layer squares (gradient, weight and update: ``3 * layers`` floats) over the ranks
in one ``all_reduce`` per recorded step, on the device, before the square roots. With NCCL the
host does not wait for it; it is one small collective beside the all-gathers and reduce-scatters
that FSDP itself issues every step.

Per recorded step rather than per flush: what a row derives from the squares (unscaled
gradients, the non-finite flags the trainer acts on, the update ratio) is taken when the step
is recorded, and flushes come at times the ranks do not share (after ``flush_seconds``, or when
rank 0 alone stores an evaluation), so a collective there would leave one rank waiting alone.

A copy that several ranks hold (a plain tensor in a sharded model, a ``Replicate`` placement
as in HSDP) is weighted so that the sum counts it once. Activation-gradient norms and dead-ReLU
fractions are statistics of one rank's batch, not of the parameters: rank 0 records those of its
own batch, as under DistributedDataParallel. A checkpoint gathers the shards into whole tensors
on rank 0 (``whole_state_dict``), so that it loads into the unsharded model.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from ..errors import ResvizError


def _dtensor_type() -> type | None:
    """DTensor, once something has imported it (a model with DTensors has); None before, so that an
    ordinary model never pays for that import."""
    module = sys.modules.get("torch.distributed.tensor")
    return getattr(module, "DTensor", None)


def is_sharded(model: torch.nn.Module) -> bool:
    """Whether the model's parameters are DTensors (``fully_shard``)."""
    dtensor = _dtensor_type()
    return dtensor is not None and any(isinstance(p, dtensor) for p in model.parameters())


def whole_state_dict(model: torch.nn.Module, state_dict: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The weights of a sharded model as whole tensors, gathered on rank 0's CPU (a collective: every
    rank calls it; the others get an empty dict, or their copy of ``state_dict`` gathered)."""
    if state_dict is None:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    dtensor = _dtensor_type()
    return {name: value.full_tensor() if isinstance(value, dtensor) else value for name, value in state_dict.items()}


class LocalShard:
    """A sharded parameter as the recorder reads it: its gradient and weights are this rank's shard."""

    __slots__ = ("parameter",)

    def __init__(self, parameter: Tensor) -> None:
        self.parameter = parameter

    @property
    def grad(self) -> Tensor | None:
        grad = self.parameter.grad
        return None if grad is None else grad.to_local()

    def detach(self) -> Tensor:
        return self.parameter.detach().to_local()

    @property
    def device(self) -> torch.device:
        return self.parameter.device

    @property
    def dtype(self) -> torch.dtype:
        return self.parameter.dtype


class ShardedNorms:
    """Sums a sharded model's per-layer squared norms over the ranks (see the module)."""

    def __init__(self, dtensor: type, world_size: int, layer_weights: Sequence[float], device: torch.device) -> None:
        self._dtensor = dtensor
        self.world_size = world_size
        self.layer_weights = list(layer_weights)
        # On each rank's squares before the sum; None when every element lives on exactly one rank (FSDP).
        weights = self.layer_weights * 3  # gradient, weight and update squares: the same layers
        self._weights = (None if all(w == 1.0 for w in weights)
                         else torch.tensor(weights, dtype=torch.float32, device=device))

    @classmethod
    def for_layers(cls, layers: Sequence[tuple[str, Sequence[tuple[str, Tensor]]]],
                   device: torch.device) -> ShardedNorms | None:
        """The reduction for a model with DTensor parameters (``layer_parameters``' list); None for any other."""
        dtensor = _dtensor_type()
        if dtensor is None or not any(isinstance(p, dtensor) for _, params in layers for _, p in params):
            return None
        import torch.distributed as dist

        if not dist.is_initialized():
            raise ResvizError("the model's parameters are sharded (DTensors) but torch.distributed is not "
                              "initialised; call init_process_group (torchrun does) before resviz.watch")
        world = dist.get_world_size()
        weights = []
        for layer, params in layers:
            found = {_weight(p, dtensor, world) for _, p in params}
            if len(found) > 1:
                raise ResvizError(f"layer {layer!r} holds parameters sharded in different ways; resviz records a "
                                  "sharded layer whose parameters share one device mesh and placement")
            weights.append(found.pop())
        return cls(dtensor, world, weights, device)

    def local_view(self, parameters: Iterable[Any]) -> list[Any]:
        """The recorder's parameters, each DTensor seen through its local shard."""
        return [LocalShard(p) if isinstance(p, self._dtensor) else p for p in parameters]

    def all_reduce(self, squares: Tensor) -> None:
        """Sum the ranks' per-layer squares in place (every rank calls it at the same recorded step)."""
        import torch.distributed as dist

        if self._weights is not None:
            squares.mul_(self._weights)
        dist.all_reduce(squares, op=dist.ReduceOp.SUM)


def _weight(parameter: Tensor, dtensor: type, world: int) -> float:
    """The factor on one rank's squared norm so that the sum over the ranks counts each element once."""
    if not isinstance(parameter, dtensor):
        return 1.0 / world  # the same whole tensor on every rank
    mesh, placements = parameter.device_mesh, parameter.placements
    if mesh.size() != world:
        raise ResvizError(f"a parameter is sharded over a device mesh of {mesh.size()} ranks in a world of {world}; "
                          "resviz sums the norms over the whole world, so the mesh must span it")
    shards = 1
    for dim, placement in enumerate(placements):
        if placement.is_partial():
            raise ResvizError(f"a parameter has a Partial placement ({placement}); resviz reads parameters that "
                              "are sharded (Shard) or replicated (Replicate)")
        if placement.is_shard():
            shards *= mesh.size(dim)
    return shards / world


__all__ = ["LocalShard", "ShardedNorms", "is_sharded", "whole_state_dict"]
