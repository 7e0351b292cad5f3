"""A run loaded for a lens: its model at a checkpoint, on a device, with the inputs and labels of
its data split (the way attribution loads them, ``resviz.attribution.sources``), and each result
stored back into its run file. The lens commands and the window's "Why it trains" page use it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import ResvizError


@dataclass
class LensRun:
    """A run's model at a checkpoint, on a device, with the inputs and labels of its data split."""

    path: Path
    label: str
    role: str                  # "plain", "residual" or "other": the colour it is drawn in
    model: torch.nn.Module
    inputs: torch.Tensor
    labels: torch.Tensor
    step: int | None
    split: str
    description: str


def model_role(model: torch.nn.Module) -> str:
    """"plain" or "residual" for a zoo twin, "other" for any other model."""
    from ..models import find_twin_pair

    spec = getattr(model, "resviz_spec", None)
    pair = find_twin_pair(spec) if spec is not None else None
    if pair is None:
        return "other"
    return "plain" if spec.name == pair.plain else "residual"


def load_lens_run_source(source, *, samples: int, split: str = "test", data_dir: str | None = None,
                         device: torch.device | str = "cpu") -> LensRun:
    """A ``resviz.attribution.sources`` source (a run at a checkpoint) with ``samples`` images of ``split``."""
    from ..attribution.sources import dataset_samples

    if samples < 1:
        raise ResvizError(f"samples {samples}: must be at least 1")
    device = torch.device(device)
    loaded = dataset_samples(source, split=split, count=samples, data_dir=data_dir)
    if loaded.labels is None:
        raise ResvizError(f"{source.label}: the {split} split has no labels")
    return LensRun(Path(source.run_path), source.label, model_role(source.model), source.model.to(device).eval(),
                   loaded.model_input(source).to(device),
                   torch.as_tensor(loaded.labels, dtype=torch.long, device=device),
                   source.step, split, loaded.description)


def load_lens_run(path: str | os.PathLike, checkpoint: int | None = None, *, samples: int, split: str = "test",
                  data_dir: str | None = None, device: torch.device | str = "cpu", trust: bool = False) -> LensRun:
    """The run file at ``path`` at ``checkpoint`` (default: the latest) with its data."""
    from ..attribution.sources import is_run_file, source_from_run

    if not is_run_file(path):
        raise ResvizError(f"{path} is not a run file (.resviz); train one with 'resviz train'")
    source = source_from_run(path, checkpoint, trust=trust)
    return load_lens_run_source(source, samples=samples, split=split, data_dir=data_dir, device=device)


def sort_plain_first(runs: list[LensRun]) -> list[LensRun]:
    return sorted(runs, key=lambda run: {"plain": 0, "residual": 1}.get(run.role, 2))


def store_lens_run_result(run: LensRun, result) -> None:
    """Add ``result`` (a ``LensResult``) to the run's file, with the checkpoint and data it used."""
    from ..runfile import store_lens_result

    result.params.update(step=run.step, split=run.split, data=run.description)
    store_lens_result(run.path, result)
