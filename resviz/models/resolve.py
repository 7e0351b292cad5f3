"""One entry point for every way a user names a model: a zoo name with options, or a file."""

from __future__ import annotations

import operator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ResvizError
from ..limits import check_input_shape
from .model_files import load_model_file
from .reference import is_model_file
from .registry import get_model
from .spec import ModelSpec
from .user import load_user_model
from .weights import WeightReport, load_weights


@dataclass
class LoadedModel:
    model: nn.Module
    spec: ModelSpec
    input_shape: tuple[int, ...]
    weights: WeightReport | None = None

    def example_input(self, batch: int = 1, device: torch.device | str | None = None) -> torch.Tensor:
        generator = torch.Generator().manual_seed(0)
        return torch.randn(batch, *self.input_shape, generator=generator).to(device or "cpu")


def parse_option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE read as bool, int, float or else a string."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise ResvizError(f"option {text!r} is not KEY=VALUE")
    lowered = raw.lower()
    if lowered in ("true", "yes", "on"):
        return key, True
    if lowered in ("false", "no", "off"):
        return key, False
    for cast in (int, float):
        try:
            return key, cast(raw)
        except ValueError:
            pass
    return key, raw


def parse_input_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(part) for part in text.replace("x", ",").split(","))
    except ValueError:
        raise ResvizError(f"input shape {text!r} is not C,H,W (for example 3,32,32)") from None
    if not shape or any(d < 1 for d in shape):
        raise ResvizError(f"input shape {text!r} must be positive sizes such as 3,32,32")
    return shape


def rebuild_model(spec: ModelSpec, *, trust: bool = False) -> nn.Module:
    """The model ``spec`` names, built afresh. A user file runs code (so does loading a ``.pt2``
    program), so it needs ``trust=True``, and it must still hold the bytes the spec recorded
    (``sha256``), when it recorded them. An ONNX file is read, never run."""
    if is_model_file(spec.name):
        return load_model_file(spec.name, trust=trust, options=spec.options, expected_sha256=spec.sha256)
    if spec.is_user_model:
        return load_user_model(spec.name, trust=trust, options=spec.options, expected_sha256=spec.sha256)
    return get_model(spec.name, **spec.options)


def open_model(reference: str, options: dict[str, Any] | None = None, *, trust: bool = False,
               weights: str | Path | None = None, input_shape: tuple[int, ...] | None = None,
               strict_weights: bool = True, expected_sha256: str | None = None) -> LoadedModel:
    """Build a zoo model or load a user's file, then optionally load weights into it.

    A user's file runs only with ``trust=True``; with ``expected_sha256`` (the digest the user
    trusted), only if its bytes still have that digest.
    """
    model = rebuild_model(ModelSpec(reference, dict(options or {}), expected_sha256), trust=trust)
    spec: ModelSpec = model.resviz_spec
    shape = input_shape or getattr(model, "input_shape", None)
    if shape is None:
        raise ResvizError(f"{reference}: the model has no input_shape attribute; give one with --input-shape C,H,W")
    shape = _checked_input_shape(reference, shape, given=input_shape is not None)
    report = load_weights(model, weights, strict=strict_weights) if weights else None
    return LoadedModel(model, spec, shape, report)


def _checked_input_shape(reference: str, shape: Any, *, given: bool) -> tuple[int, ...]:
    """Positive whole sizes, whether the caller gave them or the model declares them."""
    try:
        sizes = tuple(operator.index(d) for d in shape if not isinstance(d, bool))
        complete = len(sizes) == len(shape)
    except TypeError:
        sizes, complete = (), False
    if not sizes or not complete or any(d < 1 for d in sizes):
        where = "the input shape given" if given else "the model's input_shape"
        raise ResvizError(f"{reference}: {where} {shape!r} must be positive whole sizes such as (3, 32, 32); "
                          "give one with --input-shape C,H,W")
    return check_input_shape(sizes, reference)  # and not more values per sample than resviz accepts
