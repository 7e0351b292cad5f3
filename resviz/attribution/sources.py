"""Where the model and the images to explain come from: a run file (model spec + checkpoint,
the data set it was trained on, with the same normalisation) or a model, plus samples of a
data set or image files."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor, nn

from ..errors import ResvizError
from ..models import rebuild_model
from .inputs import load_image_file, model_input_shape, to_model_input


@dataclass
class ModelSource:
    """A model ready to explain, and what is known about the data it expects."""

    model: nn.Module
    label: str                               # "resnet20 step 1410", for titles
    classes: list[str] = field(default_factory=list)
    dataset: str | None = None               # the data set it was trained on, when known
    data_seed: int = 0
    data_dir: str | None = None
    mean: tuple[float, ...] | None = None    # input normalisation (None: images in [0, 1])
    std: tuple[float, ...] | None = None
    run_path: Path | None = None
    step: int | None = None
    twin_path: Path | None = None
    notes: list[str] = field(default_factory=list)
    split_sizes: dict[str, int] = field(default_factory=dict)   # samples per split of the run's data set

    @property
    def input_shape(self) -> tuple[int, ...]:
        shape = model_input_shape(self.model)
        if shape is None or len(shape) != 3:
            raise ResvizError(f"{self.label}: the model declares no (C, H, W) input shape")
        return shape


def open_run_reader(path: str | os.PathLike):
    from ..runfile import open_run

    return open_run(path)


def is_run_file(reference: str) -> bool:
    path = Path(reference)
    if path.suffix == ".resviz":
        return True
    if not path.is_file():
        return False
    try:
        with open(path, "rb") as handle:
            return handle.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


def with_weights(model: nn.Module, state_dict: dict[str, Tensor], where: str = "checkpoint") -> nn.Module:
    """A copy of ``model`` (own tensors) holding ``state_dict``; the model itself is untouched."""
    from ..models.weights import copy_matching, match_state_dict
    from .prepare import shared_copy

    copy = shared_copy(model, clone_tensors=True)
    report = match_state_dict(copy, dict(state_dict))
    if not report.ok:
        raise ResvizError(f"{where} does not fit the model: {report.summary()}")
    copy_matching(copy, state_dict, report)
    return copy


def model_from_run(reader, step: int | None = None, *, trust: bool = False) -> tuple[nn.Module, int]:
    """The run's model with the weights of checkpoint ``step`` (the latest when None), and that step."""
    info = reader.info()
    if info.model_spec is None:
        raise ResvizError(f"run file {reader.path} does not record its model, so it cannot be rebuilt")
    checkpoints = reader.checkpoints()
    if not checkpoints:
        raise ResvizError(f"run file {reader.path} has no checkpoint to load")
    chosen = checkpoints[-1].step if step is None else int(step)
    state = reader.load_checkpoint(chosen)
    model = rebuild_model(info.model_spec, trust=trust)
    loaded = with_weights(model, state, f"the checkpoint at step {chosen} of {reader.path}")
    return loaded, chosen


_STATS_CACHE: dict[tuple, tuple[tuple[float, ...], tuple[float, ...]]] = {}


def _whole(info, config: dict, key: str, default: int | None) -> int | None:
    """A count or seed from a run's config: a whole number of at least 0, else one line naming the field."""
    value = config.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ResvizError(f"run file {info.path}: its config has {key}={value!r}, not a whole number")
    return value


def _per_channel(info, values: Any, key: str, channels: int | None, *, positive: bool) -> tuple[float, ...]:
    """The recorded mean or std: one finite number per input channel (or one for all)."""
    ok = isinstance(values, (list, tuple)) and values and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and (v > 0 or not positive)
        for v in values)
    if not ok or (channels is not None and len(values) not in (1, channels)):
        need = "positive numbers" if positive else "numbers"
        raise ResvizError(f"run file {info.path}: its recorded normalisation {key}={values!r} is not "
                          f"{need}, one per input channel")
    return tuple(float(v) for v in values)


def run_config(info) -> dict:
    config = info.config if isinstance(info.config, dict) else {}
    resolved = config.get("resolved")
    if resolved is not None and not isinstance(resolved, dict):
        raise ResvizError(f"run file {info.path}: its config's 'resolved' section is not a mapping")
    return config


def run_normalisation(info) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None, list[str]]:
    """The mean and std the run's inputs were normalised with: from its config when recorded,
    else recomputed from its training split exactly as the trainer did."""
    config = run_config(info)
    if not config.get("normalize", True):
        return None, None, []
    resolved = config.get("resolved") or {}
    shape = resolved.get("input_shape")
    if shape is not None and not (isinstance(shape, (list, tuple)) and len(shape) == 3 and all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape)):
        raise ResvizError(f"run file {info.path}: its recorded input shape {shape!r} is not (C, H, W)")
    channels = int(shape[0]) if shape else None
    if resolved.get("mean") is not None and resolved.get("std") is not None:
        return (_per_channel(info, resolved["mean"], "mean", channels, positive=False),
                _per_channel(info, resolved["std"], "std", channels, positive=True), [])
    dataset = config.get("dataset")
    if not dataset or not shape or not isinstance(dataset, str):
        return None, None, [f"run {info.name}: its normalisation is unknown; images are given in [0, 1]"]
    train_samples, data_seed = _whole(info, config, "train_samples", None), _whole(info, config, "data_seed", 0)
    data_dir = config.get("data_dir") if isinstance(config.get("data_dir"), str) else None
    key = (dataset, data_dir, train_samples, data_seed, tuple(shape))
    if key not in _STATS_CACHE:
        from ..data import dataset_stats, load_dataset

        try:
            train = load_dataset(dataset, split="train", data_dir=data_dir, n=train_samples, seed=data_seed,
                                 size=int(shape[1]), channels=int(shape[0]))
        except ResvizError as exc:
            return None, None, [f"run {info.name}: cannot recompute its normalisation ({exc}); images are given in [0, 1]"]
        _STATS_CACHE[key] = dataset_stats(train)
    mean, std = _STATS_CACHE[key]
    return mean, std, []


def source_from_run(path: str | os.PathLike, step: int | None = None, *, trust: bool = False) -> ModelSource:
    """The run's model at checkpoint ``step`` (latest when None) with its classes and normalisation."""
    with open_run_reader(path) as reader:
        info = reader.info()
        model, chosen = model_from_run(reader, step, trust=trust)
    config = run_config(info)
    mean, std, notes = run_normalisation(info)
    twin = Path(info.twin) if info.twin else None
    if twin is not None and not twin.is_absolute() and not twin.exists():
        twin = Path(path).parent / twin.name
    sizes = {split: count for split, key in (("train", "train_samples"), ("test", "test_samples"))
             if (count := _whole(info, config, key, None))}
    data_dir = config.get("data_dir") if isinstance(config.get("data_dir"), str) else None
    dataset = config.get("dataset") if isinstance(config.get("dataset"), str) else None
    return ModelSource(model, f"{info.model_spec.name if info.model_spec else info.name} step {chosen}",
                       list(info.classes), dataset, _whole(info, config, "data_seed", 0) or 0,
                       data_dir, mean, std, Path(path), chosen, twin, notes, sizes)


def source_from_model(model: nn.Module, label: str, *, dataset: str | None = None, classes: Sequence[str] = ()) -> ModelSource:
    return ModelSource(model, label, list(classes), dataset)


@dataclass
class Samples:
    """Images to explain: uint8 (N, C, H, W) at the model's input shape, with what is known of them."""

    images: np.ndarray
    names: list[str]
    labels: np.ndarray | None = None
    masks: np.ndarray | None = None
    classes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    description: str = ""                    # "shapes test split", "image files"

    def model_input(self, source: ModelSource) -> Tensor:
        return to_model_input(self.images, source.mean, source.std)


def balanced_indices(labels: np.ndarray, count: int) -> list[int]:
    """``count`` indices cycling through the classes (one of each class first), in data order."""
    by_class: dict[int, list[int]] = {}
    for index, label in enumerate(labels.tolist()):
        by_class.setdefault(int(label), []).append(index)
    queues = [by_class[k] for k in sorted(by_class)]
    chosen: list[int] = []
    depth = 0
    while len(chosen) < count and any(depth < len(q) for q in queues):
        for queue in queues:
            if depth < len(queue) and len(chosen) < count:
                chosen.append(queue[depth])
        depth += 1
    return chosen


def dataset_samples(source: ModelSource, dataset: str | None = None, *, split: str = "test",
                    count: int | None = None, indices: Sequence[int] | None = None,
                    data_dir: str | None = None) -> Samples:
    """Samples of a data set at the model's input shape: ``indices``, or ``count`` balanced over
    the classes. For a run, its own data set and seed by default."""
    from ..data import load_dataset

    name = dataset or source.dataset or "shapes"
    channels, height, width = source.input_shape
    if height != width:
        raise ResvizError(f"{source.label}: data sets are loaded square; the model expects {height}x{width}")
    own = dataset in (None, source.dataset)
    # The split exactly as the run saw it (same size and seed: shapes are generated as a whole).
    n = source.split_sizes.get(split) if own else None
    data = load_dataset(name, split=split, data_dir=data_dir or source.data_dir, n=n,
                        seed=source.data_seed if own else 0, size=height, channels=channels)
    labels = data.labels.numpy()
    if indices:
        bad = [i for i in indices if not 0 <= i < len(data)]
        if bad:
            raise ResvizError(f"image index {bad[0]} is out of range: the {split} split of {data.name} has "
                              f"{len(data)} images (0 to {len(data) - 1})")
        chosen = list(indices)
    else:
        chosen = balanced_indices(labels, count or 8)
    images = data.images[chosen].numpy()
    masks = None if data.masks is None else data.masks[chosen].numpy()
    return Samples(images, [f"#{i}" for i in chosen], labels[chosen], masks, list(data.classes),
                   description=f"{data.name} {split} split")


def file_samples(source: ModelSource, paths: Sequence[str | os.PathLike]) -> Samples:
    """Image files converted to the model's channels and size (each conversion noted)."""
    channels, height, width = source.input_shape
    images, notes = [], []
    for path in paths:
        image, image_notes = load_image_file(path, channels, (height, width))
        images.append(image)
        notes.extend(image_notes)
    return Samples(np.stack(images), [Path(p).name for p in paths], None, None, list(source.classes), notes,
                   description="image files")


def pick_steps(steps: Sequence[int], count: int) -> list[int]:
    """About ``count`` steps spread evenly over ``steps``, always the first and the last."""
    steps = sorted(set(int(s) for s in steps))
    if count < 1:
        raise ResvizError(f"checkpoint count {count} must be at least 1")
    if len(steps) <= count:
        return steps
    if count == 1:
        return [steps[-1]]
    positions = [round(i * (len(steps) - 1) / (count - 1)) for i in range(count)]
    return [steps[p] for p in dict.fromkeys(positions)]


def run_checkpoints(path: str | os.PathLike, steps: Sequence[int] | None = None,
                    count: int = 6) -> list[tuple[str, dict[str, Tensor]]]:
    """(label, state dict) for the chosen steps of a run, or ``count`` spread over it."""
    with open_run_reader(path) as reader:
        available = [c.step for c in reader.checkpoints()]
        if not available:
            raise ResvizError(f"run file {reader.path} has no checkpoint")
        chosen = pick_steps(available, count) if steps is None else [int(s) for s in steps]
        return [(f"step {step}", reader.load_checkpoint(step)) for step in chosen]


def parse_target(text: str | None, classes: Sequence[str]) -> Any:
    """``--target``: None/"pred" (the prediction), "label" (the true class), an index or a class name."""
    if text is None or text in ("pred", "predicted"):
        return None
    if text in ("label", "true"):
        return "label"
    try:
        return int(text)
    except ValueError:
        pass
    if text in classes:
        return list(classes).index(text)
    from ..errors import did_you_mean

    raise ResvizError(f"target {text!r} is not a class index, 'pred', 'label' or a class name"
                      f"{did_you_mean(text, classes)}" + (f"; classes are {', '.join(classes)}" if classes else ""))
