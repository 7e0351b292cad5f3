"""What the attribution panel will explain: the models, the samples, the methods with their
option values, the class and the Grad-CAM layer — one object the panel's controls write to and
the computation reads from.

Each method's option fields are generated from its description (``MethodInfo.options``, with
their help and choices), so a method added to the registry gets its controls with no change
here or in the window. Every change emits its field's event, then ``changed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..attribution.methods import (
    METHODS,
    OPTIONAL_AMOUNTS,
    OPTIONAL_COUNTS,
    OPTIONAL_SIZES,
    MethodInfo,
    get_method,
)
from ..attribution.sources import pick_steps
from ..errors import ResvizError
from .events import EmitterGroup

DEFAULT_METHODS = ("saliency", "integrated_gradients", "grad_cam")
CHECKPOINT_COLUMNS = 6  # checkpoints compared across training
TARGETS = (None, "label")  # the predicted class, or the true label


@dataclass(frozen=True)
class OptionField:
    """One option of one method, as a control shows it.

    ``kind`` is ``bool``, ``int`` (a whole number of at least 1), ``float`` (a number of at least
    0), ``choice`` (one of ``choices``) or ``size`` (pixels). An ``optional`` field also takes
    None, meaning the method's automatic value (``help`` says which)."""

    method: str
    name: str
    kind: str
    default: Any
    help: str = ""
    optional: bool = False
    choices: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return self.name.replace("_", " ")


def option_fields(info: MethodInfo) -> list[OptionField]:
    """The fields of ``info``'s options, in the order its description lists them."""
    fields = []
    for name, default in info.options.items():
        choices = tuple(info.option_choices.get(name, ()))
        if name in OPTIONAL_SIZES:
            kind = "size"
        elif name in OPTIONAL_COUNTS:
            kind = "int"
        elif name in OPTIONAL_AMOUNTS:
            kind = "float"
        elif isinstance(default, bool):
            kind = "bool"
        elif isinstance(default, int):
            kind = "int"
        elif isinstance(default, float):
            kind = "float"
        elif choices:
            kind = "choice"
        else:
            raise ValueError(f"{info.name}: option {name!r} has no field kind (default {default!r})")
        fields.append(OptionField(info.name, name, kind, default, info.option_help.get(name, ""),
                                  optional=default is None, choices=choices))
    return fields


class AttributionRequest:
    """The request the next grid answers. Events: ``sources`` (the choices changed), ``source(str)``,
    ``dataset(str)``, ``samples(tuple)``, ``methods(tuple)``, ``options(method, name, value)``,
    ``target(str | None)``, ``layer(str)``, and ``changed()`` after any of them.

    ``source`` is the key of one choice: ``model:0`` (one of the window's models, e.g. one twin),
    ``models`` (all side by side, e.g. both twins), ``run:30`` (a checkpoint), ``checkpoints``
    (across training). ``samples`` are indices into the ``sample_count`` samples offered."""

    def __init__(self, methods: Sequence[str] = DEFAULT_METHODS, dataset: str = "shapes") -> None:
        self.events = EmitterGroup("sources", "source", "dataset", "samples", "methods", "options", "target",
                                   "layer", "changed")
        self._fields = {name: option_fields(info) for name, info in METHODS.items()}
        self._options: dict[str, dict[str, Any]] = {
            name: {f.name: f.default for f in fields} for name, fields in self._fields.items()}
        self._source_choices: tuple[tuple[str, str], ...] = ()
        self._source: str | None = None
        self._dataset = str(dataset)
        self._sample_count = 0
        self._samples: tuple[int, ...] = ()
        self._methods = self._checked_methods(methods)
        self._target: str | None = None
        self._layer = ""

    # the models -----------------------------------------------------------------------------

    @property
    def source_choices(self) -> tuple[tuple[str, str], ...]:
        """(key, label) of each thing that can be explained."""
        return self._source_choices

    def set_source_choices(self, choices: Sequence[tuple[str, str]], current: str | None = None) -> None:
        """New models to explain; ``current`` (default: the first choice) is chosen."""
        self._source_choices = tuple((str(key), str(label)) for key, label in choices)
        self.events.sources.emit()
        keys = [key for key, _ in self._source_choices]
        self._source = None  # a new set of models: the choice is made afresh
        self.source = current if current is not None else (keys[0] if keys else None)
        self.events.changed.emit()

    @property
    def source(self) -> str | None:
        return self._source

    @source.setter
    def source(self, key: str | None) -> None:
        keys = [k for k, _ in self._source_choices]
        if key is not None and key not in keys:
            raise ResvizError(f"attribution: no model choice {key!r}; choices are {', '.join(keys) or 'none'}")
        if key != self._source:
            self._source = key
            self._emit("source", key)

    def model_source_choices(self, labels: Sequence[str]) -> None:
        """Models given in memory: one choice each, and "all side by side" when there are several."""
        choices = [(f"model:{i}", str(label)) for i, label in enumerate(labels)]
        self.set_source_choices(choices + ([("models", "all side by side")] if len(choices) > 1 else []))

    def run_source_choices(self, runs: Sequence[tuple[str, Sequence[int]]], chosen: int | None = None) -> None:
        """Runs' checkpoints: ``runs`` is (name, checkpoint steps) per run. One run offers each
        checkpoint (newest first, ``chosen`` or the newest chosen) and "across training"; several
        offer all side by side at their newest checkpoints (chosen), then each run's checkpoints."""
        several = len(runs) > 1
        choices = [("runs", "all side by side (newest checkpoints)")] if several else []
        for index, (name, steps) in enumerate(runs):
            choices += [(f"run:{index}:{s}", f"{name} · checkpoint at step {s}" if several else
                         f"checkpoint at step {s}") for s in reversed(steps)]
        if not several and len(runs[0][1]) > 1:
            count = len(pick_steps(runs[0][1], CHECKPOINT_COLUMNS))
            choices.append(("checkpoints", f"across training ({count} checkpoints)"))
        newest = runs[0][1][-1] if runs and runs[0][1] else None
        current = "runs" if several else f"run:0:{chosen if chosen is not None else newest}"
        self.set_source_choices(choices, current)

    def checkpoint(self) -> int | None:
        """The run checkpoint chosen, or None (no run, several at once, or across training)."""
        key = parse_source_key(self._source)
        return key[2] if key and key[0] == "run" else None

    def source_keys(self, model_count: int, run_steps: Sequence[Sequence[int]]) -> list[tuple]:
        """The keys of the model sources the next grid explains, one per column group:
        ``("model", index)`` for models given in memory, ``("run", run index, step)`` for runs'
        checkpoints (``run_steps``: each run's checkpoint steps, oldest first)."""
        key = parse_source_key(self._source)
        if key is None:
            return []
        if key[0] == "models":
            return [("model", i) for i in range(model_count)]
        if key[0] == "runs":
            return [("run", i, steps[-1]) for i, steps in enumerate(run_steps) if steps]
        if key[0] == "checkpoints":
            return [("run", 0, s) for s in pick_steps(run_steps[0], CHECKPOINT_COLUMNS)] if run_steps else []
        return [key]

    # the samples ----------------------------------------------------------------------------

    @property
    def dataset(self) -> str:
        return self._dataset

    @dataset.setter
    def dataset(self, name: str) -> None:
        if name != self._dataset:
            self._dataset = str(name)
            self._emit("dataset", self._dataset)

    @property
    def sample_count(self) -> int:
        return self._sample_count

    def set_sample_count(self, count: int, selected: Sequence[int] | None = None) -> None:
        """``count`` samples are offered now; ``selected`` (default: those chosen that still exist) are chosen."""
        self._sample_count = max(0, int(count))
        self.samples = self._samples if selected is None else selected

    @property
    def samples(self) -> tuple[int, ...]:
        return self._samples

    @samples.setter
    def samples(self, indices: Sequence[int]) -> None:
        chosen = tuple(sorted({int(i) for i in indices if 0 <= int(i) < self._sample_count}))
        if chosen != self._samples:
            self._samples = chosen
            self._emit("samples", chosen)

    # the methods and their options ----------------------------------------------------------

    @property
    def methods(self) -> tuple[str, ...]:
        return self._methods

    @methods.setter
    def methods(self, names: Sequence[str]) -> None:
        methods = self._checked_methods(names)
        if methods != self._methods:
            self._methods = methods
            self._emit("methods", methods)

    def use_method(self, name: str, used: bool = True) -> None:
        """Add (or with ``used=False`` remove) one method."""
        name = get_method(name).name
        self.methods = (*self._methods, name) if used else tuple(m for m in self._methods if m != name)

    def fields(self, method: str) -> list[OptionField]:
        """The option fields of ``method`` (a name or an alias)."""
        return list(self._fields[get_method(method).name])

    def option(self, method: str, name: str) -> Any:
        method = get_method(method).name
        self._field(method, name)
        return self._options[method][name]

    def set_option(self, method: str, name: str, value: Any) -> None:
        """Set one option; a value of the wrong kind is refused with one line naming the method and option."""
        method = get_method(method).name
        field = self._field(method, name)
        value = _checked_value(field, value)
        if value != self._options[method][name]:
            self._options[method][name] = value
            self._emit("options", method, name, value)

    def method_options(self) -> dict[str, dict[str, Any]]:
        """The options set away from their defaults, per chosen method (what the computation is given)."""
        out = {}
        for method in self._methods:
            changed = {f.name: self._options[method][f.name] for f in self._fields[method]
                       if self._options[method][f.name] != f.default}
            if changed:
                out[method] = changed
        return out

    # what is explained ----------------------------------------------------------------------

    @property
    def target(self) -> str | None:
        """None: each model's predicted class; ``label``: the true label."""
        return self._target

    @target.setter
    def target(self, target: str | None) -> None:
        if target not in TARGETS:
            raise ResvizError(f"attribution: target {target!r} is not the predicted class (None) or 'label'")
        if target != self._target:
            self._target = target
            self._emit("target", target)

    @property
    def layer(self) -> str:
        """The Grad-CAM layer's qualified name ("" for the default: the last spatial layer)."""
        return self._layer

    @layer.setter
    def layer(self, name: str | None) -> None:
        name = (name or "").strip()
        if name != self._layer:
            self._layer = name
            self._emit("layer", name)

    # validation -----------------------------------------------------------------------------

    def problem(self) -> str | None:
        """Why the request cannot be computed, in one line, or None when it can."""
        if not self._methods:
            return "Choose at least one method."
        if self._source is None:
            return "No model: open one in the window first."
        if not self._samples:
            return "Pick at least one sample."
        for method in self._methods:
            try:
                METHODS[method].resolve_options(self.method_options().get(method, {}))
            except ResvizError as error:
                return str(error)
        return None

    def validate(self) -> None:
        """Raise ResvizError with ``problem()`` when the request cannot be computed."""
        problem = self.problem()
        if problem is not None:
            raise ResvizError(problem)

    # helpers --------------------------------------------------------------------------------

    def _field(self, method: str, name: str) -> OptionField:
        for field in self._fields[method]:
            if field.name == name:
                return field
        accepted = ", ".join(f.name for f in self._fields[method]) or "none"
        raise ResvizError(f"{method}: unknown option {name!r}; its options are {accepted}")

    @staticmethod
    def _checked_methods(names: Sequence[str]) -> tuple[str, ...]:
        wanted = {get_method(name).name for name in names}
        return tuple(name for name in METHODS if name in wanted)  # registry order, as the columns are

    def _emit(self, event: str, *args: Any) -> None:
        getattr(self.events, event).emit(*args)
        self.events.changed.emit()


def _checked_value(field: OptionField, value: Any) -> Any:
    """``value`` as the field takes it, or ResvizError naming the method and option."""
    where = f"{field.method}: option {field.name}={value!r}"
    if value is None:
        if field.optional:
            return None
        raise ResvizError(f"{where} needs a value")
    if field.kind == "bool":
        if not isinstance(value, bool):
            raise ResvizError(f"{where} must be true or false")
    elif field.kind in ("int", "size"):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ResvizError(f"{where} must be a whole number of at least 1")
    elif field.kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 or value == float("inf"):
            raise ResvizError(f"{where} must be a number of at least 0")
        value = float(value)
    elif field.kind == "choice" and value not in field.choices:
        raise ResvizError(f"{where} is not one of {', '.join(field.choices)}")
    return value


def parse_source_key(key: Any) -> tuple | None:
    """"model:1" -> ("model", 1); "run:0:30" -> ("run", 0, 30) (run 0's checkpoint at step 30);
    "models", "runs", "checkpoints" -> (that word, None)."""
    if not key:
        return None
    kind, *numbers = str(key).split(":")
    return (kind, *map(int, numbers)) if numbers else (kind, None)


def one_per_class(labels: Sequence[int] | None, count: int) -> list[int]:
    """The first sample of each class among ``labels`` (in class order), or the first ``count``
    samples when their labels are unknown."""
    if labels is None:
        return list(range(count))
    first: dict[int, int] = {}
    for index, label in enumerate(labels):
        if int(label) >= 0:
            first.setdefault(int(label), index)
    return [first[label] for label in sorted(first)]
