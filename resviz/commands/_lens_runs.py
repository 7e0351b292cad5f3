"""What the lens commands share: a run (and its twin run) loaded with its data, the way the
attribution command loads them (``resviz.attribution.sources``), and each result stored back."""

from __future__ import annotations

import argparse
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


def add_run_arguments(parser: argparse.ArgumentParser, *, samples: int, what: str) -> None:
    parser.add_argument("run", metavar="RUN", help="a run file (.resviz)")
    parser.add_argument("--twin", action="store_true", help="also the run's twin run, side by side")
    parser.add_argument("--checkpoint", type=int, metavar="STEP", help="the run's checkpoint (default: the latest; "
                                                                       "the twin's latest)")
    parser.add_argument("--samples", type=int, default=samples, metavar="N",
                        help=f"images of the split {what} (default {samples}, cycling through the classes)")
    parser.add_argument("--split", default="test", choices=("train", "test"), help="data split (default test)")
    parser.add_argument("--data-dir", help="folder holding downloaded data sets")
    parser.add_argument("--device", default="auto", help="torch device (default: a GPU when there is one)")
    parser.add_argument("--trust", action="store_true", help="allow running the code of a user's model file")
    parser.add_argument("--no-store", action="store_true", help="do not add the result to the run file(s)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def _role(model: torch.nn.Module) -> str:
    from ..models import find_twin_pair

    spec = getattr(model, "resviz_spec", None)
    pair = find_twin_pair(spec) if spec is not None else None
    if pair is None:
        return "other"
    return "plain" if spec.name == pair.plain else "residual"


def load_lens_runs(args: argparse.Namespace) -> list[LensRun]:
    """The run named on the command line and, with ``--twin``, its twin run (plain first)."""
    from ..attribution.sources import dataset_samples, is_run_file, source_from_run
    from ..train.device import choose_device

    if not is_run_file(args.run):
        raise ResvizError(f"{args.run} is not a run file (.resviz); train one with 'resviz train'")
    if args.samples < 1:
        raise ResvizError(f"--samples {args.samples}: must be at least 1")
    device = choose_device(args.device)
    source = source_from_run(args.run, args.checkpoint, trust=args.trust)
    sources = [source]
    if args.twin:
        if source.twin_path is None or not source.twin_path.exists():
            raise ResvizError(f"run {args.run} has no twin run file; train the pair with 'resviz train --twin'")
        sources.append(source_from_run(source.twin_path, None, trust=args.trust))
    runs = []
    for each in sources:
        samples = dataset_samples(each, split=args.split, count=args.samples, data_dir=args.data_dir)
        if samples.labels is None:
            raise ResvizError(f"{each.label}: the {args.split} split has no labels")
        runs.append(LensRun(Path(each.run_path), each.label, _role(each.model), each.model.to(device).eval(),
                            samples.model_input(each).to(device), torch.as_tensor(samples.labels, dtype=torch.long,
                                                                                     device=device),
                            each.step, args.split, samples.description))
    runs.sort(key=lambda run: {"plain": 0, "residual": 1}.get(run.role, 2))
    return runs


def store(run: LensRun, result) -> None:
    from ..runfile import store_lens_result

    result.params.update(step=run.step, split=run.split, data=run.description)
    store_lens_result(run.path, result)
