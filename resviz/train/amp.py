"""What a ``torch.amp.GradScaler`` knows about the step in flight, read without a host sync.

The scale and the overflow flag are device tensors inside the scaler (``_scale``, and after
``unscale_`` each optimizer's ``found_inf_per_device``); its public getters (``get_scale()``)
read them on the host, which would stall the GPU every step.
"""

from __future__ import annotations

from typing import Any

import torch


def scale_tensor(scaler: torch.amp.GradScaler) -> torch.Tensor | float:
    """The scaler's current scale, as the device tensor when there is one (``get_scale()`` syncs)."""
    scale = getattr(scaler, "_scale", None)
    return scale if isinstance(scale, torch.Tensor) else scaler.get_scale()


def _optimizer_states(scaler: torch.amp.GradScaler, optimizer: torch.optim.Optimizer | None) -> list[dict[str, Any]]:
    """The scaler's per-optimizer states of this step: ``optimizer``'s, or every one it keeps."""
    states = getattr(scaler, "_per_optimizer_states", None)
    if not isinstance(states, dict):
        return []
    if optimizer is not None:
        state = states.get(id(optimizer))  # .get: the scaler's defaultdict must not grow here
        return [state] if isinstance(state, dict) else []
    return [state for state in states.values() if isinstance(state, dict)]


def grads_unscaled(scaler: torch.amp.GradScaler, optimizer: torch.optim.Optimizer | None = None) -> bool:
    """Whether ``scaler.unscale_`` has run this step (for ``optimizer``, or for any optimizer)."""
    return any(getattr(state.get("stage"), "name", None) == "UNSCALED"
               for state in _optimizer_states(scaler, optimizer))


def scaler_found_inf(scaler: torch.amp.GradScaler,
                     optimizer: torch.optim.Optimizer | None = None) -> torch.Tensor | None:
    """The scaler's overflow flag of this step (after ``unscale_``), on the device: what
    ``GradScaler.step`` itself hands a fused optimizer. None when the scaler keeps it elsewhere."""
    found: dict[Any, Any] = {}
    for state in _optimizer_states(scaler, optimizer):
        if getattr(state.get("stage"), "name", None) == "UNSCALED" or optimizer is not None:
            found.update({(id(state), key): value for key, value in state.get("found_inf_per_device", {}).items()})
    if not found or not all(isinstance(t, torch.Tensor) for t in found.values()):
        return None
    values = list(found.values())
    if len(values) == 1:
        return values[0]
    return torch.clamp(sum(v.to(values[0].device) for v in values), max=1.0)  # the kernels skip only at 1
