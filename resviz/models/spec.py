"""``ModelSpec``: a model's name and options, enough to rebuild it exactly (run files store it;
``resviz.models.rebuild_model`` builds it)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ResvizError
from .reference import is_user_reference

if TYPE_CHECKING:  # pragma: no cover - torch loads only to build a model
    pass


@dataclass
class ModelSpec:
    """A zoo name (``resnet20``) or a user file (``path/model.py:factory``) plus its options.

    ``sha256`` is the user file's digest when the spec names one, so a run can tell when the
    file changed since it was recorded.
    """

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    sha256: str | None = None

    @property
    def is_user_model(self) -> bool:
        return is_user_reference(self.name)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "options": dict(self.options)}
        if self.sha256:
            data["sha256"] = self.sha256
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            raise ResvizError(f"model spec {data!r} has no model name")
        options = data.get("options") or {}
        if not isinstance(options, dict):
            raise ResvizError(f"model spec for {data['name']}: options must be a mapping, got {type(options).__name__}")
        sha256 = data.get("sha256")
        if sha256 is not None and not _is_sha256(sha256):
            raise ResvizError(f"model spec for {data['name']}: sha256 {sha256!r} is not a SHA-256 digest")
        return cls(data["name"], dict(options), sha256)

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ResvizError(f"model spec is not valid JSON: {exc}") from None
        return cls.from_dict(data)

    def label(self) -> str:
        """A short human-readable form: ``resnet20 (norm=none)``."""
        if not self.options:
            return self.name
        return f"{self.name} ({', '.join(f'{k}={v}' for k, v in sorted(self.options.items()))})"


def _is_sha256(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdefABCDEF" for c in value)
