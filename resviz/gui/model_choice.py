"""What the user chose to look at: a zoo model (with its twin), a user's file, or weights.

A plain record the model picker fills, the settings remember and the window turns into
models (in a worker thread: a big model takes a while to build, and a user's file runs code).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import ResvizError
from ..models import LoadedModel, is_user_reference, model_entry, open_model
from .run_data import DATA_FITTED_OPTIONS


@dataclass
class ModelChoice:
    """A model reference with options; ``twin`` shows (and trains) its plain/residual twin too."""

    reference: str = "resnet20"
    options: dict[str, Any] = field(default_factory=dict)
    twin: bool = True
    weights: str | None = None  # a checkpoint to load (safetensors, or a weights-only state dict)
    trusted_sha256: str | None = None  # for a user's file: the content the user confirmed

    @classmethod
    def embedded_default(cls) -> ModelChoice:
        """What the window opens on: ResNet-20 and its Plain-20 twin without normalisation layers.

        Without normalisation the plain net's gradient visibly dies towards the input while the
        residual net's stays level: the picture the window exists to show.
        """
        return cls("resnet20", {"norm": "none"}, twin=True)

    @property
    def is_user_file(self) -> bool:
        return is_user_reference(self.reference)

    def twin_reference(self) -> str | None:
        """The zoo twin of the model (None for a user's file, an unknown name or a model without one)."""
        if self.is_user_file:
            return None
        try:
            return model_entry(self.reference).twin
        except ResvizError:
            return None  # loading the choice reports the unknown name, with suggestions

    def residual_and_plain(self) -> tuple[str, str | None]:
        """(residual, plain) references; the plain one is None without a twin."""
        twin = self.twin_reference() if self.twin else None
        if twin is None:
            return self.reference, None
        residual = bool(model_entry(self.reference).defaults.get("residual", False))
        return (self.reference, twin) if residual else (twin, self.reference)

    def label(self) -> str:
        # Options a trainer fits to its data set (channels, size, classes) say nothing about the architecture.
        options = ", ".join(f"{k}={v}" for k, v in sorted(self.options.items()) if k not in DATA_FITTED_OPTIONS)
        head = self.reference if not options else f"{self.reference} ({options})"
        residual, plain = self.residual_and_plain()
        if plain is not None:
            head = f"{residual} vs {plain}" + (f" ({options})" if options else "")
        return head + (f" + weights {self.weights}" if self.weights else "")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelChoice:
        try:
            data = json.loads(text)
            choice = cls(**data)
        except (TypeError, ValueError) as exc:
            raise ResvizError(f"remembered model choice is not valid: {exc}") from None
        if not isinstance(choice.reference, str) or not isinstance(choice.options, dict):
            raise ResvizError("remembered model choice is not valid")
        return choice


@dataclass
class LoadedChoice:
    """The models a choice names, built: the residual one and, for twins, the plain one."""

    choice: ModelChoice
    main: LoadedModel
    plain: LoadedModel | None = None


def load_choice(choice: ModelChoice) -> LoadedChoice:
    """Build the chosen model(s). A user's file runs only when the user trusted this exact content."""
    trust, trusted = False, None
    if choice.is_user_file:
        from ..models.user import split_reference

        if choice.trusted_sha256 is None:
            path, _ = split_reference(choice.reference)
            raise ResvizError(f"{path}: loading a model file runs its code; it needs your confirmation first")
        # The bytes that run are checked against this digest as they are read (a file replaced
        # since the dialog showed it is refused).
        trust, trusted = True, choice.trusted_sha256
    residual, plain = choice.residual_and_plain()
    main = open_model(residual, choice.options, trust=trust, expected_sha256=trusted,
                      weights=choice.weights if residual == choice.reference else None)
    twin = None
    if plain is not None:
        twin = open_model(plain, choice.options, trust=trust, expected_sha256=trusted,
                          weights=choice.weights if plain == choice.reference else None)
    return LoadedChoice(choice, main, twin)
