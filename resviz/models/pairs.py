"""Twin pairs: a zoo model and its twin, the same builder with and without skip connections.

The one answer to "which of the two is the plain net and which the residual one" for training,
the window and the attribution command. The registry records each model's twin; this module
turns a name (or a spec) into a ``TwinPair`` with named sides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ResvizError
from .reference import is_user_reference
from .registry import model_entry
from .spec import ModelSpec

# The option that makes a zoo model plain or residual: each twin's own default decides it.
SIDE_OPTION = "residual"


@dataclass(frozen=True)
class TwinPair:
    """A zoo model's plain and residual twins, the one the caller named, and the options they share."""

    plain: str
    residual: str
    named: str
    options: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def other(self) -> str:
        """The twin of the model the caller named."""
        return self.plain if self.named == self.residual else self.residual

    @property
    def plain_spec(self) -> ModelSpec:
        return ModelSpec(self.plain, dict(self.options))

    @property
    def residual_spec(self) -> ModelSpec:
        return ModelSpec(self.residual, dict(self.options))


def twin_pair(name_or_spec: str | ModelSpec, options: Mapping[str, Any] | None = None) -> TwinPair:
    """The twin pair of a zoo model, whichever of the two it names.

    ``options`` (by default the spec's) are shared by both twins, except ``residual``: each twin's
    own default decides it. A user's model, an unknown name or a model without a twin raises a
    one-line ``ResvizError``.
    """
    if isinstance(name_or_spec, ModelSpec):
        name = name_or_spec.name
        options = name_or_spec.options if options is None else options
    else:
        name = name_or_spec
    if is_user_reference(name):
        raise ResvizError(f"{name}: a user's model has no twin (twins are the zoo's plain/residual pairs, "
                          "which 'resviz models' lists)")
    entry = model_entry(name)  # an unknown name: one line with suggestions
    if entry.twin is None:
        raise ResvizError(f"{name} has no plain/residual twin ('resviz models' lists each model's twin)")
    shared = {k: v for k, v in (options or {}).items() if k != SIDE_OPTION}
    if entry.defaults.get(SIDE_OPTION, False):
        return TwinPair(plain=entry.twin, residual=name, named=name, options=shared)
    return TwinPair(plain=name, residual=entry.twin, named=name, options=shared)


def find_twin_pair(name_or_spec: str | ModelSpec, options: Mapping[str, Any] | None = None) -> TwinPair | None:
    """``twin_pair``, or None where it would refuse (a user's model, an unknown name, no twin)."""
    try:
        return twin_pair(name_or_spec, options)
    except ResvizError:
        return None
