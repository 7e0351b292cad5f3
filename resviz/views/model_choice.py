"""What the user chose to look at: a zoo model (with its twin), a user's file, or weights.

A plain record the model picker fills, the settings remember and the window turns into
models (in a worker thread: a big model takes a while to build, and a user's file runs code).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from ..data import class_count
from ..errors import ResvizError
from ..models import LoadedModel, TwinPair, find_twin_pair, is_user_reference, model_entry, open_model, runs_code
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

    @property
    def needs_trust(self) -> bool:
        """Loading it can run code from the file (a Python file, a .pt2 program; not an ONNX file)."""
        return self.is_user_file and runs_code(self.reference)

    def twin_pair(self) -> TwinPair | None:
        """The twins the choice shows; None when it shows one model (twin unticked, a user's file, a
        model without a twin, or an unknown name, which loading the choice reports with suggestions)."""
        return find_twin_pair(self.reference, self.options) if self.twin else None

    def label(self) -> str:
        # Options a trainer fits to its data set (channels, size, classes) say nothing about the architecture.
        options = ", ".join(f"{k}={v}" for k, v in sorted(self.options.items()) if k not in DATA_FITTED_OPTIONS)
        head = self.reference if not options else f"{self.reference} ({options})"
        pair = self.twin_pair()
        if pair is not None:
            head = f"{pair.residual} vs {pair.plain}" + (f" ({options})" if options else "")
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


def picker_options(name: str, dataset: str | None = None) -> dict[str, Any]:
    """The options the model picker shows a zoo model with before the user changes any: the
    model's defaults, but as the window's demo opens its model (``ModelChoice.embedded_default``:
    no normalisation layers) and with as many classes as ``dataset``, the data set it will train on."""
    options = dict(model_entry(name).defaults)
    for key, value in ModelChoice.embedded_default().options.items():
        if key in options:
            options[key] = value
    classes = class_count(dataset) if dataset else None
    if classes and "num_classes" in options:
        options["num_classes"] = classes
    return options


@dataclass
class LoadedChoice:
    """The models a choice names, built: the residual one and, for twins, the plain one."""

    choice: ModelChoice
    main: LoadedModel
    plain: LoadedModel | None = None


def load_choice(choice: ModelChoice) -> LoadedChoice:
    """Build the chosen model(s). A user's file runs only when the user trusted this exact content."""
    trust, trusted = False, None
    if choice.needs_trust:
        from ..models.user import split_reference

        if choice.trusted_sha256 is None:
            path, _ = split_reference(choice.reference)
            raise ResvizError(f"{path}: loading a model file runs its code; it needs your confirmation first")
        # The bytes that run are checked against this digest as they are read (a file replaced
        # since the dialog showed it is refused).
        trust, trusted = True, choice.trusted_sha256
    pair = choice.twin_pair()
    if pair is None:
        main = open_model(choice.reference, choice.options, trust=trust, expected_sha256=trusted,
                          weights=choice.weights)
        return LoadedChoice(choice, main)
    # The weights belong to the model the user named, whichever twin it is.
    main = open_model(pair.residual, pair.options, weights=choice.weights if pair.named == pair.residual else None)
    plain = open_model(pair.plain, pair.options, weights=choice.weights if pair.named == pair.plain else None)
    return LoadedChoice(choice, main, plain)
