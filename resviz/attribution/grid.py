"""The attribution panel's grid as data: samples (rows) x methods, per model or checkpoint (columns).

``compute_grid`` runs ``compare_methods`` once per model source and keeps each failing method's
reason in its column, so one method that cannot run (a wrong layer) leaves the others drawn.
The sample helpers merge data set samples with image files and take the chosen rows.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ResvizError
from .compare import compare_methods
from .core import AttributionCancelled
from .inputs import to_display
from .methods import get_method
from .sources import ModelSource, Samples, source_from_run


@dataclass
class GridColumn:
    """One column: a method on one model (or checkpoint); its panels, or why it failed."""

    method: str
    label: str
    panels: list[Any] = field(default_factory=list)  # resviz.attribution.compare.Panel, one per row
    error: str | None = None
    seconds: float = 0.0
    layer: str | None = None
    source: str = ""  # the model or checkpoint it explains

    @property
    def captions(self) -> list[str]:
        return [panel.caption for panel in self.panels]


@dataclass
class GridResult:
    """A computed grid: inputs (rows) x methods, per model or checkpoint (columns)."""

    title: str
    row_labels: list[str]
    inputs: list[np.ndarray]  # (H, W, 3) uint8
    columns: list[GridColumn]
    notes: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.row_labels), len(self.columns)

    def row_caption(self, row: int) -> str | None:
        """The prediction shown beside a row when every column agrees on it (one model), else None."""
        captions = {c.panels[row].caption for c in self.columns if c.error is None and row < len(c.panels)}
        return captions.pop() if len(captions) == 1 else (None if captions else "")


@dataclass
class SampleSet:
    """The images offered to pick from, at the model's input shape."""

    samples: Samples
    dataset: str


def panel_source(model, title: str, input_shape, dataset: str, classes: Sequence[str], mean, std) -> ModelSource:
    """A ModelSource for a model the window gives; one that declares no input shape gets ``input_shape``."""

    class _Source(ModelSource):
        @property
        def input_shape(self) -> tuple[int, ...]:
            if input_shape is not None:
                return tuple(int(v) for v in input_shape)
            return ModelSource.input_shape.fget(self)

    return _Source(model, title, list(classes), dataset, mean=tuple(mean) if mean else None,
                   std=tuple(std) if std else None)


def merge_samples(parts: Sequence[Samples | None]) -> Samples | None:
    """Image files and data set samples as one list (files first, as given)."""
    parts = [p for p in parts if p is not None and len(p.images)]
    if not parts:
        return None
    # -1 marks an unknown true class (an image file) beside data set samples.
    labels = np.concatenate([p.labels if p.labels is not None else np.full(len(p.images), -1, np.int64)
                             for p in parts]).astype(np.int64)
    if (labels < 0).all():
        labels = None
    return Samples(np.concatenate([p.images for p in parts]), [n for p in parts for n in p.names], labels, None,
                   list(parts[0].classes), [n for p in parts for n in p.notes])


def subset_samples(samples: Samples, rows: Sequence[int]) -> Samples:
    """The chosen ``rows``; an image file among them leaves no true class to show or explain."""
    rows = list(rows)
    labels = None if samples.labels is None else samples.labels[rows]
    if labels is not None and (labels < 0).any():
        labels = None
    return Samples(samples.images[rows], [samples.names[i] for i in rows], labels,
                   None if samples.masks is None else samples.masks[rows], list(samples.classes), list(samples.notes))


def resolve_sources(keys: Sequence[tuple], resolved: Mapping[tuple, Any], run_paths: Sequence[Path],
                    progress=None, cancel: threading.Event | None = None) -> dict[tuple, Any]:
    """ModelSources for keys ("model", i) (given) or ("run", r, step) (the checkpoint at ``step`` of
    the run file ``run_paths[r]``, built and loaded here, in the worker)."""
    out = {}
    for key in keys:
        if key in resolved:
            out[key] = resolved[key]
            continue
        if cancel is not None and cancel.is_set():
            raise AttributionCancelled("attribution cancelled")
        if key[0] != "run" or not 0 <= key[1] < len(run_paths):
            raise ResvizError(f"attribution panel: no model for {key}")
        if progress is not None:
            progress(0, 0, f"Loading {Path(run_paths[key[1]]).stem}'s checkpoint at step {key[2]}…")
        out[key] = source_from_run(run_paths[key[1]], key[2])
    return out


def compute_grid(sources: Sequence[Any], samples: Samples, methods: Sequence[str], *, target: Any,
                 layer: str | None, method_options: Mapping[str, Mapping[str, Any]],
                 progress: Callable[[float], None], cancel: threading.Event) -> GridResult:
    """Every method on every sample for each model source (a model, or a run's checkpoint): one
    column per (source, method). A method that fails for a model leaves its reason in its column."""
    infos = [get_method(method) for method in methods]
    columns: list[GridColumn] = []
    notes: list[str] = list(samples.notes)
    row_labels: list[str] | None = None
    inputs: list[np.ndarray] | None = None
    for s_index, source in enumerate(sources):
        classes = samples.classes or source.classes
        part = (lambda f, s_index=s_index: progress((s_index + f) / len(sources)))
        try:
            comparison = compare_methods(
                source.model, samples.model_input(source), [info.name for info in infos], target=target,
                layer=layer or None, labels=samples.labels, class_names=classes, display=list(samples.images),
                row_names=samples.names, seed=0, title=source.label, progress=part, cancel=cancel,
                method_options=method_options, keep_failures=True)
        except AttributionCancelled:
            raise
        except ResvizError as error:  # the model itself cannot run: every column says why
            if cancel.is_set():
                raise
            columns += [GridColumn(info.name, _column_label(info.title, source, sources), error=str(error),
                                   source=source.label) for info in infos]
            continue
        results = iter(enumerate(comparison.results))
        for info in infos:
            label = _column_label(info.title, source, sources)
            if info.name in comparison.failures:
                columns.append(GridColumn(info.name, label, error=comparison.failures[info.name], source=source.label))
                continue
            index, result = next(results)
            if result.layer and len(sources) == 1:
                label = result.label
            elif result.layer:
                label = f"{label} ({result.layer})"
            columns.append(GridColumn(info.name, label, [row[index] for row in comparison.panels],
                                      seconds=result.seconds, layer=result.layer, source=source.label))
        notes += comparison.notes
        if row_labels is None and comparison.results:
            row_labels, inputs = comparison.row_labels, comparison.inputs
    if row_labels is None:  # every method failed: still show the inputs, and the reasons
        row_labels = list(samples.names)
        inputs = [to_display(image) for image in samples.images]
    title = sources[0].label if len(sources) == 1 else " vs ".join(s.label for s in sources[:3]) + (
        " …" if len(sources) > 3 else "")
    progress(1.0)
    return GridResult(title, row_labels, inputs, columns, list(dict.fromkeys(notes)))


def _column_label(title: str, source: Any, sources: Sequence[Any]) -> str:
    return title if len(sources) == 1 else f"{source.label} · {title}"
