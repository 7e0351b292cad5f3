"""Choosing the device to train on: CUDA, then Apple's MPS, then the CPU."""

from __future__ import annotations

import torch

from ..errors import ResvizError

DEVICE_CHOICES = ("auto", "cuda", "mps", "cpu")


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def choose_device(name: str | None = "auto") -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; a named device is checked to exist.

    ``cuda:1`` style indices are accepted.
    """
    name = (name or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind, _, index = name.partition(":")
    if kind not in DEVICE_CHOICES[1:]:
        raise ResvizError(f"device {name!r} is not one of {', '.join(DEVICE_CHOICES)}")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ResvizError("device cuda: no CUDA GPU is available to this PyTorch build "
                              f"(torch {torch.__version__}); use --device cpu or install a CUDA build")
        if index:
            if not index.isdigit() or int(index) >= torch.cuda.device_count():
                raise ResvizError(f"device {name}: there are {torch.cuda.device_count()} CUDA devices")
    elif kind == "mps" and not mps_available():
        raise ResvizError("device mps: Apple's Metal backend is not available here; use --device cpu")
    elif kind == "cpu" and index:
        raise ResvizError(f"device {name!r}: the CPU takes no index")
    return torch.device(name)


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (for timing only; training never needs it)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def device_label(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(device)
