"""Checkpoints: a model's weights as safetensors bytes (never pickle). The only part of the run
file that needs torch, imported when a checkpoint is encoded or decoded."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..errors import ResvizError

if TYPE_CHECKING:  # pragma: no cover
    import torch


def encode_state_dict(state_dict: Mapping[str, torch.Tensor]) -> bytes:
    """Weights as safetensors bytes (copies on the CPU, so shared or strided tensors are fine)."""
    import torch
    from safetensors.torch import save

    tensors: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"checkpoint entry {key!r} is a {type(value).__name__}, not a tensor")
        tensors[str(key)] = value.detach().to("cpu").contiguous().clone()
    return save(tensors)


def decode_state_dict(data: bytes, where: str) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        return load(bytes(data))
    except (SafetensorError, ValueError, RuntimeError, OSError) as exc:
        raise ResvizError(f"{where} is damaged: {exc}") from None
