"""Comparisons as data: images x methods, one image across models, one image across checkpoints.

An ``AttributionComparison`` holds every panel's map and the input it explains, with labels; the window
draws it with its own widgets, ``figures.save_comparison`` draws it to a PNG.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import Tensor, nn

from ..errors import ResvizError
from .core import AttributionCancelled, AttributionResult, CancelEvent, ProgressCallback, attribute, predict
from .inputs import as_batch, fit_inputs, model_input_shape, to_display
from .methods import get_method
from .render import check_sign, render
from .sources import with_weights


@dataclass
class Panel:
    """One map and the image it explains."""

    map: np.ndarray          # (H, W) float32
    image: np.ndarray        # (H, W, 3) uint8
    sign: str
    caption: str = ""
    scale: float | None = None   # a shared normalisation scale, when magnitudes are to be compared

    def picture(self, *, clip_percentile: float = 1.0, alpha: float = 0.7, overlay: bool = True,
                cmap: str | None = None) -> np.ndarray:
        return render(self.map, self.image if overlay else None, sign=self.sign, cmap=cmap,
                      clip_percentile=clip_percentile, alpha=alpha, scale=self.scale)


@dataclass
class AttributionComparison:
    """Rows of inputs, columns of methods, models or checkpoints."""

    kind: str                               # "methods", "models" or "checkpoints"
    title: str
    row_labels: list[str]
    column_labels: list[str]
    inputs: list[np.ndarray]                # (H, W, 3) uint8, one per row
    panels: list[list[Panel]]               # [row][column]
    results: list[AttributionResult] = field(default_factory=list)   # one per column
    notes: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)  # method -> why it has no column (keep_failures)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.row_labels), len(self.column_labels)

    def pictures(self, **options: Any) -> list[list[np.ndarray]]:
        """Every panel rendered to (H, W, 3) uint8 (options as ``Panel.picture``)."""
        return [[panel.picture(**options) for panel in row] for row in self.panels]


def _split_progress(progress: ProgressCallback | None, parts: int) -> Callable[[int], ProgressCallback | None]:
    """Progress of part i of n reported as a share of the whole."""
    if progress is None:
        return lambda i: None
    return lambda i: (lambda fraction: progress(min(1.0, (i + fraction) / parts)))


def _display_images(inputs: Tensor, display: Sequence[np.ndarray] | np.ndarray | None) -> list[np.ndarray]:
    if display is None:
        return [to_display(image) for image in inputs]
    images = [to_display(image) for image in display]
    if len(images) != inputs.shape[0]:
        raise ResvizError(f"{len(images)} display images for {inputs.shape[0]} inputs")
    return images


def _fit_display(images: list[np.ndarray], size: tuple[int, int]) -> list[np.ndarray]:
    """Display images resized (nearest) to the maps' size when the inputs were resized for the model."""
    out = []
    for image in images:
        if image.shape[:2] != size:
            rows = np.linspace(0, image.shape[0] - 1, size[0]).round().astype(int)
            cols = np.linspace(0, image.shape[1] - 1, size[1]).round().astype(int)
            image = image[rows][:, cols]
        out.append(image)
    return out


def class_label(index: int, class_names: Sequence[str] | None) -> str:
    if class_names and 0 <= index < len(class_names):
        return str(class_names[index])
    return f"class {index}"


def _row_labels(n: int, labels: Sequence[int] | None, class_names: Sequence[str] | None,
                names: Sequence[str] | None) -> list[str]:
    rows = []
    for i in range(n):
        name = names[i] if names is not None else f"#{i}"
        if labels is not None:
            name = f"{name}: {class_label(int(labels[i]), class_names)}"
        rows.append(name)
    return rows


def _method_spec(spec: str | tuple[str, Mapping[str, Any]]) -> tuple[str, dict[str, Any]]:
    if isinstance(spec, str):
        return spec, {}
    name, options = spec
    return name, dict(options)


def compare_methods(model: nn.Module, inputs: Tensor | np.ndarray, methods: Sequence[str | tuple[str, Mapping[str, Any]]],
                    *, target: Any = None, layer: str | None = None, labels: Sequence[int] | None = None,
                    class_names: Sequence[str] | None = None, display: Sequence[np.ndarray] | None = None,
                    row_names: Sequence[str] | None = None, sign: str | None = None, baseline: Any = None,
                    seed: int | None = 0, title: str = "", progress: ProgressCallback | None = None,
                    cancel: CancelEvent | None = None, method_options: Mapping[str, Mapping[str, Any]] | None = None,
                    keep_failures: bool = False) -> AttributionComparison:
    """A grid of inputs (rows) x methods (columns), all explaining the same class per input
    (``target``, or the model's prediction). ``methods`` are names or (name, options) pairs;
    ``labels`` are the true classes (shown in the row labels). With ``keep_failures`` a method
    that fails (a ResvizError other than a cancel) gets no column and its reason in ``failures``."""
    if not methods:
        raise ResvizError("no attribution method to compare")
    if sign is not None:
        check_sign(sign)
    x = as_batch(inputs)
    x, notes = fit_inputs(x, model_input_shape(model))
    predicted, confidence = predict(model, x)
    targets = predicted if target is None else target
    shown = _fit_display(_display_images(as_batch(inputs), display), tuple(x.shape[-2:]))
    part = _split_progress(progress, len(methods))
    results = []
    failures: dict[str, str] = {}
    for i, spec in enumerate(methods):
        name, options = _method_spec(spec)
        info = get_method(name)
        options = {**dict((method_options or {}).get(info.name, {})), **options}
        try:
            result = attribute(model, x, targets, info.name, layer=layer if info.needs_layer else None,
                               baseline=baseline if info.uses_baseline else None, progress=part(i), cancel=cancel,
                               seed=seed if info.stochastic else None, **options)
        except AttributionCancelled:
            raise
        except ResvizError as error:
            if not keep_failures or (cancel is not None and cancel.is_set()):
                raise
            failures[info.name] = str(error)
            continue
        results.append(result)
        notes += [f"{info.title}: {note}" for note in result.notes]
    panels = []
    for row in range(x.shape[0]):
        caption = f"pred {class_label(int(predicted[row]), class_names)} {confidence[row]:.0%}"
        panels.append([Panel(r.maps[row], shown[row], sign or r.default_sign, caption) for r in results])
    return AttributionComparison("methods", title, _row_labels(x.shape[0], labels, class_names, row_names),
                                 [r.label for r in results], shown, panels, results, _dedupe(notes), failures)


def compare_models(models: Mapping[str, nn.Module], inputs: Tensor | np.ndarray, method: str = "grad_cam", *,
                   target: Any = None, layer: str | None = None, labels: Sequence[int] | None = None,
                   class_names: Sequence[str] | None = None, display: Sequence[np.ndarray] | None = None,
                   row_names: Sequence[str] | None = None, sign: str | None = None, baseline: Any = None,
                   seed: int | None = 0, title: str = "", progress: ProgressCallback | None = None,
                   cancel: CancelEvent | None = None, explain_labels: bool = True, **method_options: Any
                   ) -> AttributionComparison:
    """The same inputs (rows) explained by several models (columns), e.g. a residual net and its
    plain twin. Each model explains ``target``, or the true ``labels`` when given (unless
    ``explain_labels=False``), or else its own prediction."""
    if not models:
        raise ResvizError("no model to compare")
    info = get_method(method)
    part = _split_progress(progress, len(models))
    x0 = as_batch(inputs)
    shown = None
    columns = []
    results = []
    notes: list[str] = []
    for i, (name, model) in enumerate(models.items()):
        x, fit_notes = fit_inputs(x0, model_input_shape(model))
        predicted, confidence = predict(model, x)
        wanted = target if target is not None else (
            list(labels) if labels is not None and explain_labels else predicted)
        result = attribute(model, x, wanted, info.name, layer=layer if info.needs_layer else None,
                           baseline=baseline if info.uses_baseline else None, progress=part(i), cancel=cancel,
                           seed=seed if info.stochastic else None, **method_options)
        if shown is None:
            shown = _fit_display(_display_images(x0, display), tuple(x.shape[-2:]))
        elif result.maps.shape[1:] != shown[0].shape[:2]:
            raise ResvizError(f"model {name} takes {result.maps.shape[1]}x{result.maps.shape[2]} inputs, unlike the "
                              f"first model; compare models with the same input size")
        columns.append((name, result, predicted, confidence))
        results.append(result)
        notes += [f"{name}: {note}" for note in fit_notes + result.notes]
    panels = []
    for row in range(x0.shape[0]):
        panels.append([Panel(result.maps[row], shown[row], sign or result.default_sign,
                             f"pred {class_label(int(predicted[row]), class_names)} {confidence[row]:.0%}")
                       for _, result, predicted, confidence in columns])
    column_labels = [name for name, *_ in columns]
    title = title or f"{info.title}{f' ({layer})' if layer else ''} across models"
    return AttributionComparison("models", title, _row_labels(x0.shape[0], labels, class_names, row_names), column_labels,
                      shown, panels, results, _dedupe(notes))


def compare_checkpoints(model: nn.Module, checkpoints: Sequence[tuple[str, Mapping[str, Tensor]]],
                        inputs: Tensor | np.ndarray, method: str = "grad_cam", *, target: Any = None,
                        layer: str | None = None, labels: Sequence[int] | None = None,
                        class_names: Sequence[str] | None = None, display: Sequence[np.ndarray] | None = None,
                        row_names: Sequence[str] | None = None, sign: str | None = None, baseline: Any = None,
                        seed: int | None = 0, title: str = "", progress: ProgressCallback | None = None,
                        cancel: CancelEvent | None = None, explain_labels: bool = True,
                        **method_options: Any) -> AttributionComparison:
    """The same inputs (rows) explained at several checkpoints of one run (columns, in the order
    given): how the map sharpens while the network learns. Every checkpoint explains the same
    class: ``target``, else the true ``labels`` (unless ``explain_labels=False``), else the last
    checkpoint's prediction."""
    if not checkpoints:
        raise ResvizError("no checkpoint to compare")
    info = get_method(method)
    x0 = as_batch(inputs)
    x, fit_notes = fit_inputs(x0, model_input_shape(model))
    models = [(label, with_weights(model, state, f"checkpoint {label}")) for label, state in checkpoints]
    for _, copy in models:
        copy.input_shape = model_input_shape(model)
    if target is None:
        target = list(labels) if labels is not None and explain_labels else predict(models[-1][1], x)[0]
    part = _split_progress(progress, len(models))
    shown = _fit_display(_display_images(x0, display), tuple(x.shape[-2:]))
    results = []
    captions = []
    for i, (_, copy) in enumerate(models):
        predicted, confidence = predict(copy, x)
        results.append(attribute(copy, x, target, info.name, layer=layer if info.needs_layer else None,
                                 baseline=baseline if info.uses_baseline else None, progress=part(i), cancel=cancel,
                                 seed=seed if info.stochastic else None, **method_options))
        captions.append([f"pred {class_label(int(p), class_names)} {c:.0%}" for p, c in zip(predicted, confidence)])
    panels = [[Panel(result.maps[row], shown[row], sign or result.default_sign, captions[col][row])
               for col, result in enumerate(results)] for row in range(x.shape[0])]
    title = title or f"{results[0].label} while training"
    notes = fit_notes + [note for r in results[:1] for note in r.notes]
    return AttributionComparison("checkpoints", title, _row_labels(x.shape[0], labels, class_names, row_names),
                      [label for label, _ in checkpoints], shown, panels, results, _dedupe(notes))


def _dedupe(notes: list[str]) -> list[str]:
    return list(dict.fromkeys(notes))
