"""Lesion studies (Veit et al. 2016, "Residual Networks Behave Like Ensembles of Relatively
Shallow Networks", Fig. 3): delete blocks of a trained net at test time and measure its accuracy.

Deleting a block replaces it by its shortcut path alone, for a residual block and for a plain
net's block alike: the identity where the block keeps its input's shape; where it changes the
shape, the residual block's own shortcut (its projection, or the zero-padding subsample of
option A), and for a block without one (a plain net's downsampling block) the parameter-free
option-A shortcut: subsample the spatial dimensions by the block's stride and zero-pad (or cut)
the channels to the block's output. The block's output activation goes with it (``relu(F(x) +
x)`` becomes ``x``). The blocks are the graph's (``resviz.graph.model_blocks``) and a residual
block's shortcut is found from its skip connection's short path (``resviz.graph.find_skips``),
so any traceable model can be lesioned, not only the zoo's.

The residual net's accuracy degrades gently as blocks go, since each block only adds to its
input; the plain net's collapses to chance, since each block is a link in its only path.
"""

from __future__ import annotations

import copy
import math
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ResvizError, did_you_mean
from ..graph import find_skips, model_blocks, trace_graph
from ..graph.hooks import forward_hooks
from ..runfile import LensResult
from .progress import CancelEvent, Progress, ProgressCallback

IDENTITY, PAD = "identity", "pad"


@dataclass(frozen=True)
class BlockDeletion:
    """How one block is deleted: ``shortcut`` is ``"identity"``, ``"pad"`` (the parameter-free
    option-A shortcut to ``output_shape``) or the qualified name of the block's own shortcut module."""

    block: str
    shortcut: str
    skip: str | None                       # the block's skip kind (None: a plain block)
    input_shape: tuple[int, ...]           # of one sample
    output_shape: tuple[int, ...]


class ShortcutToShape(nn.Module):
    """The parameter-free shortcut to any output shape: subsample the spatial dimensions to the
    output's, then zero-pad the channels (centred, as the zoo's option-A ``PadShortcut`` does for
    its stride and widths) or cut them."""

    def __init__(self, output_shape: Sequence[int]) -> None:
        super().__init__()
        self.output_shape = tuple(output_shape)

    def forward(self, x: Tensor) -> Tensor:
        channels, spatial = self.output_shape[0], self.output_shape[1:]
        steps = tuple(slice(0, size, None) for size in spatial)
        strides = tuple(slice(None, None, -(-x.shape[axis] // size)) for axis, size in enumerate(spatial, start=2))
        x = x[(slice(None), slice(None), *strides)][(slice(None), slice(None), *steps)]
        extra = channels - x.shape[1]
        if extra < 0:
            return x[:, :channels]
        if extra == 0:
            return x
        pad = [0, 0] * len(spatial) + [extra // 2, extra - extra // 2]
        return F.pad(x, pad)


class DeletedBlock(nn.Module):
    """What stands in for a deleted block: its shortcut alone."""

    def __init__(self, shortcut: nn.Module | None) -> None:
        super().__init__()
        self.shortcut = shortcut

    def forward(self, x: Tensor) -> Tensor:
        return x if self.shortcut is None else self.shortcut(x)


def _shortcut_modules(model: nn.Module, example_input: Any) -> dict[str, str]:
    """For each block holding a skip: the qualified name of the module that is its short path
    (the innermost module holding every op of it), or ``identity`` for an empty short path."""
    try:
        opgraph = trace_graph(model, example_input)
    except Exception:  # noqa: BLE001 - untraceable: blocks are then deleted by shape alone
        return {}
    found: dict[str, str] = {}
    nodes = opgraph.graph.nodes
    for skip in find_skips(opgraph):
        if not skip.block or skip.block in found:
            continue
        if not skip.short_path:
            found[skip.block] = IDENTITY
            continue
        modules = [str(nodes[n].get("module") or "") for n in skip.short_path]
        common = modules[0].split(".")
        for name in modules[1:]:
            parts = name.split(".")
            length = 0
            while length < min(len(common), len(parts)) and common[length] == parts[length]:
                length += 1
            common = common[:length]
        shortcut = ".".join(common)
        if shortcut.startswith(skip.block + "."):
            found[skip.block] = shortcut
    return found


def _shapes(model: nn.Module, names: list[str], example: Tensor) -> dict[str, tuple[tuple, tuple] | None]:
    """Per block, the (input, output) shape of one sample, or None where it takes or gives more
    than one tensor (such a block cannot be replaced by a shortcut)."""
    modules = {model.get_submodule(name): name for name in names}
    shapes: dict[str, tuple[tuple, tuple] | None] = {}
    seen_inputs: dict[str, Any] = {}

    def pre(module, args, kwargs):
        seen_inputs[modules[module]] = (args, kwargs)

    def post(module, args, kwargs, output):
        name = modules[module]
        if len(args) == 1 and not kwargs and isinstance(args[0], Tensor) and isinstance(output, Tensor):
            shapes.setdefault(name, (tuple(args[0].shape[1:]), tuple(output.shape[1:])))
        else:
            shapes[name] = None

    with torch.no_grad(), forward_hooks(list(modules), pre, post):
        model(example)
    return shapes


_plans: weakref.WeakKeyDictionary[nn.Module, list[BlockDeletion]] = weakref.WeakKeyDictionary()
_plans_lock = threading.Lock()


def deletable_blocks(model: nn.Module, example_input: Tensor | None = None) -> list[BlockDeletion]:
    """The model's blocks that can be deleted, in forward order, each with how (kept per model)."""
    with _plans_lock:
        if model in _plans:
            return list(_plans[model])
    if example_input is None:
        shape = getattr(model, "input_shape", None)
        if shape is None:
            raise ResvizError(f"{type(model).__name__}: lesions need an example input (the model declares no "
                              "input_shape)")
        example_input = torch.zeros(1, *shape)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    example = example_input[:1].to(device)
    blocks = model_blocks(model, example)
    shortcuts = _shortcut_modules(model, example)
    was_training = model.training
    model.eval()
    try:
        shapes = _shapes(model, [b.name for b in blocks], example)
    finally:
        model.train(was_training)
    plan = []
    for block in blocks:
        shape = shapes.get(block.name)
        if shape is None:
            continue
        given, made = shape
        shortcut = shortcuts.get(block.name) or (IDENTITY if given == made else PAD)
        if shortcut == PAD and (len(given) != len(made) or any(m > g for g, m in zip(given[1:], made[1:]))):
            continue  # a block that grows its spatial size has no subsampling shortcut
        plan.append(BlockDeletion(block.name, shortcut, block.skip, given, made))
    with _plans_lock:
        _plans[model] = plan
    return list(plan)


def _stand_in(model: nn.Module, deletion: BlockDeletion) -> DeletedBlock:
    if deletion.shortcut == IDENTITY:
        return DeletedBlock(None)
    if deletion.shortcut == PAD:
        return DeletedBlock(ShortcutToShape(deletion.output_shape))
    return DeletedBlock(model.get_submodule(deletion.shortcut))


@contextmanager
def blocks_deleted(model: nn.Module, names: Iterable[str], plan: Sequence[BlockDeletion] | None = None
                   ) -> Iterator[nn.Module]:
    """``model`` with the named blocks replaced by their shortcuts, restored on exit."""
    plan = list(plan) if plan is not None else deletable_blocks(model)
    by_name = {d.block: d for d in plan}
    swapped = []
    try:
        for name in dict.fromkeys(names):
            if name not in by_name:
                raise ResvizError(f"{type(model).__name__}: no deletable block {name!r}"
                                  f"{did_you_mean(name, list(by_name))}")
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            original = parent._modules[child]
            parent._modules[child] = _stand_in(model, by_name[name])
            swapped.append((parent, child, original))
        yield model
    finally:
        for parent, child, original in reversed(swapped):
            parent._modules[child] = original


def _batches(inputs: Tensor, labels: Tensor, batch_size: int, device: torch.device) -> list[tuple[Tensor, Tensor]]:
    return [(inputs[i:i + batch_size].to(device), labels[i:i + batch_size].to(device))
            for i in range(0, len(inputs), batch_size)]


def _accuracy(model: nn.Module, batches: list[tuple[Tensor, Tensor]]) -> float:
    correct = total = 0
    with torch.inference_mode():
        for inputs, labels in batches:
            correct += int((model(inputs).argmax(-1) == labels).sum())
            total += len(labels)
    return correct / max(1, total)


def accuracy_with_deleted(model: nn.Module, inputs: Tensor, labels: Tensor, deleted: Iterable[str] = (), *,
                          batch_size: int = 500) -> float:
    """The accuracy of ``model`` (put in eval mode) on ``(inputs, labels)`` with the named blocks
    deleted: what the window shows when the user clicks blocks of the graph. Runs on the model's
    device; the model is the same afterwards."""
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    was_training = model.training
    model.eval()
    try:
        plan = deletable_blocks(model, inputs[:1])
        with blocks_deleted(model, deleted, plan):
            return _accuracy(model, _batches(inputs, labels, batch_size, device))
    finally:
        model.train(was_training)


@dataclass
class LesionStudy:
    """Accuracies with blocks deleted. ``single[i]``: ``blocks[i]`` alone deleted; ``random[k - 1, r]``:
    ``k`` blocks drawn at random (draw ``r``) deleted."""

    blocks: list[str]
    skips: list[str | None]
    baseline: float
    single: np.ndarray
    ks: np.ndarray
    random: np.ndarray
    chance: float
    samples: int
    draws: int
    seed: int
    params: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {"baseline": self.baseline, "chance": self.chance,
                "single_mean": float(self.single.mean()) if self.single.size else math.nan,
                "single_min": float(self.single.min()) if self.single.size else math.nan,
                "single_mean_drop": float(self.baseline - self.single.mean()) if self.single.size else math.nan,
                "random_mean": [float(v) for v in self.random.mean(1)] if self.random.size else []}

    def to_lens_result(self) -> LensResult:
        params = {"blocks": self.blocks, "skips": self.skips, "samples": self.samples, "draws": self.draws,
                  "seed": self.seed, **self.params}
        return LensResult("lesion", params=params, arrays={"single": self.single, "ks": self.ks, "random": self.random,
                                                           "baseline": np.array([self.baseline]),
                                                           "chance": np.array([self.chance])},
                          summary=self.summary())

    @classmethod
    def from_lens_result(cls, result: LensResult) -> LesionStudy:
        params, arrays = dict(result.params), result.arrays
        known = {"blocks", "skips", "samples", "draws", "seed"}
        return cls(list(params["blocks"]), list(params.get("skips") or [None] * len(params["blocks"])),
                   float(arrays["baseline"][0]), arrays["single"], arrays["ks"], arrays["random"],
                   float(arrays["chance"][0]), int(params.get("samples", 0)), int(params.get("draws", 0)),
                   int(params.get("seed", 0)), {k: v for k, v in params.items() if k not in known})


def lesion_study(model: nn.Module, inputs: Tensor, labels: Tensor, *, draws: int = 5, seed: int = 0,
                 batch_size: int = 500, device: str | torch.device | None = None,
                 progress: ProgressCallback | None = None, cancel: CancelEvent | None = None) -> LesionStudy:
    """Every block of ``model`` deleted alone, then ``k = 1...n`` blocks deleted at random
    (``draws`` sets per ``k``, drawn from ``seed``; none with ``draws=0``), each scored by accuracy on
    ``(inputs, labels)``. ``model`` itself is left untouched (a copy is lesioned)."""
    if len(inputs) == 0 or len(inputs) != len(labels):
        raise ResvizError(f"lesion data: {len(inputs)} inputs and {len(labels)} labels (need the same, at least 1)")
    if draws < 0:
        raise ResvizError(f"lesion draws {draws} must be 0 or more")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    work = copy.deepcopy(model).to(device).eval()
    plan = deletable_blocks(work, inputs[:1].to(device))
    if not plan:
        raise ResvizError(f"{type(model).__name__}: no block can be deleted (the graph finds no block with one "
                          "tensor in and one out)")
    names = [d.block for d in plan]
    rng = np.random.default_rng(seed)
    draws_by_k = [[tuple(sorted(rng.choice(len(names), size=k, replace=False).tolist())) for _ in range(draws)]
                  for k in range(1, len(names) + 1)] if draws else []
    wanted = {(i,) for i in range(len(names))} | {s for sets in draws_by_k for s in sets}
    tracker = Progress(len(wanted) + 1, "lesion study", progress, cancel)
    tracker.check()
    batches = _batches(inputs, labels, batch_size, device)
    with torch.inference_mode():
        classes = int(work(batches[0][0][:1]).shape[-1])
    baseline = _accuracy(work, batches)
    tracker.advance()
    scores: dict[tuple[int, ...], float] = {}
    for chosen in sorted(wanted, key=lambda s: (len(s), s)):
        with blocks_deleted(work, [names[i] for i in chosen], plan):
            scores[chosen] = _accuracy(work, batches)
        tracker.advance()
    single = np.array([scores[(i,)] for i in range(len(names))])
    random = np.array([[scores[s] for s in sets] for sets in draws_by_k]).reshape(len(draws_by_k), draws)
    return LesionStudy(names, [d.skip for d in plan], baseline, single, np.arange(1, len(draws_by_k) + 1), random,
                       1.0 / classes, len(inputs), draws, seed)
