"""Loading weights safely: safetensors, or ``torch.load(weights_only=True)``, never plain pickle.

The state dict is matched to the model key by key, and the report names what is missing,
unexpected or of the wrong shape.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from ..errors import ResvizError, first_line

_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "weights")


@dataclass
class WeightReport:
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def summary(self, limit: int = 3) -> str:
        def few(names: list[str]) -> str:
            more = f", ... (+{len(names) - limit})" if len(names) > limit else ""
            return ", ".join(names[:limit]) + more

        parts = [f"{len(self.loaded)} tensors match"]
        if self.missing:
            parts.append(f"{len(self.missing)} missing ({few(self.missing)})")
        if self.unexpected:
            parts.append(f"{len(self.unexpected)} unexpected ({few(self.unexpected)})")
        if self.mismatched:
            shown = [f"{k} {list(f)} vs model {list(m)}" for k, f, m in self.mismatched]
            parts.append(f"{len(self.mismatched)} of the wrong shape ({few(shown)})")
        return "; ".join(parts)


def _check_stored(path: Path) -> None:
    """torch.save stores its records uncompressed; a compressed one would be inflated to the size its header
    declares (a small file, gigabytes of memory) before torch could compare it with the tensors."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            packed = next((info for info in archive.infolist() if info.compress_type != zipfile.ZIP_STORED), None)
        if packed is not None:
            raise ResvizError(f"{path}: not a weights file that torch.save writes: its record {packed.filename} is "
                              f"compressed (declaring {packed.file_size:,} bytes)")


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Read tensors from a ``.safetensors`` file or a ``torch.save``d state dict (weights only)."""
    path = Path(path)
    if not path.is_file():
        raise ResvizError(f"{path}: weights file not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            _check_stored(path)
            state = torch.load(path, map_location="cpu", weights_only=True)
    except ResvizError:
        raise
    except Exception as exc:  # noqa: BLE001
        first = first_line(str(exc)) or type(exc).__name__
        raise ResvizError(f"{path}: not a readable weights file (safetensors or a weights-only state dict): "
                          f"{first}") from exc
    for key in _WRAPPER_KEYS:
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ResvizError(f"{path}: does not hold a state dict of tensors")
    # Checkpoints saved from DistributedDataParallel prefix every key with "module.".
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def match_state_dict(model: nn.Module, state: dict[str, Tensor]) -> WeightReport:
    own = model.state_dict()
    report = WeightReport()
    for key, tensor in state.items():
        if key not in own:
            report.unexpected.append(key)
        elif tuple(own[key].shape) != tuple(tensor.shape):
            report.mismatched.append((key, tuple(tensor.shape), tuple(own[key].shape)))
        else:
            report.loaded.append(key)
    report.missing = [k for k in own if k not in state]
    return report


def load_weights(model: nn.Module, path: str | Path, *, strict: bool = True) -> WeightReport:
    """Load what fits. With ``strict`` any missing, unexpected or mis-shaped key is an error
    and the model is left untouched."""
    state = read_state_dict(path)
    report = match_state_dict(model, state)
    if strict and not report.ok:
        raise ResvizError(f"{path}: does not fit the model: {report.summary()}")
    if not report.loaded:
        raise ResvizError(f"{path}: no tensor fits the model: {report.summary()}")
    copy_matching(model, state, report)
    return report


def copy_matching(model: nn.Module, state: dict[str, Tensor], report: WeightReport) -> None:
    """Copy the tensors ``report`` found fitting from ``state`` into ``model``, in place."""
    with torch.no_grad():
        own = model.state_dict()
        for key in report.loaded:
            own[key].copy_(state[key])


def save_weights(model: nn.Module, path: str | Path) -> None:
    """Save a state dict as safetensors (tensors made contiguous; shared storage cloned)."""
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    save_file(state, str(path))
