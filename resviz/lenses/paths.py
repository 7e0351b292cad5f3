"""The paths gradients take through a residual network (Veit et al. 2016, "Residual Networks
Behave Like Ensembles of Relatively Shallow Networks", Fig. 6).

Unrolled, a network of n residual blocks y = g(f_i(x) + s_i(x)) in sequence is a sum of 2^n
paths: each block is passed either through its branch f_i or through its shortcut s_i. The
backward pass is linear, so the gradient at the input is exactly the sum of the gradients the
paths carry, where a path's gradient is the backward pass that, at every block, goes through
the branch only or the shortcut only (the forward pass, and so every nonlinearity's derivative,
stays that of the whole network). A path's length is the number of branches it passes.

``path_decomposition`` measures, for each length k = 0..n:

- ``distribution``: the share of paths of length k, C(n, k) / 2^n (binomial);
- ``magnitude``: the mean, over paths of length k, of the input gradient's magnitude (the mean
  over the batch of each sample's L2 norm), from ``samples`` paths drawn uniformly among those of
  length k (all of them, exactly, where there are no more than ``samples``);
- ``share``: C(n, k) x magnitude(k), normalised to sum to 1: the share of the total gradient
  magnitude that paths of length k carry. At initialisation and after training it peaks well
  below n/2: most gradient flows through short paths.

Blocks are the additive skip connections ``resviz.graph`` finds (identity, projection or zero-pad
shortcuts; concatenations are not paths of this kind and stay as they are); the model is traced
with torch.fx, and each merge is replaced by a gate that adds its inputs as before in the forward
pass and lets the backward pass through one or both of them (``GatedPaths``). Skips nested in
another skip's branch are refused: the decomposition needs blocks in sequence.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import torch
import torch.fx as fx
from torch import Tensor, nn

from ..errors import ResvizError

BOTH, BRANCH, SHORTCUT = "both", "branch", "shortcut"


class _GateState:
    """Which inputs of one merge the backward pass goes through; read at backward time, so one
    forward pass serves every path."""

    def __init__(self) -> None:
        self.mode = BOTH


class _GatedAdd(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, branch: Tensor, shortcut: Tensor, state: _GateState) -> Tensor:
        ctx.state = state
        ctx.shapes = (branch.shape, shortcut.shape)
        return branch + shortcut

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None]:
        mode = ctx.state.mode
        to_branch = None if mode == SHORTCUT else grad.sum_to_size(ctx.shapes[0])
        to_shortcut = None if mode == BRANCH else grad.sum_to_size(ctx.shapes[1])
        return to_branch, to_shortcut, None


class PathGate(nn.Module):
    """An additive merge, branch + shortcut, whose backward pass can take one of its inputs only."""

    def __init__(self, block: str) -> None:
        super().__init__()
        self.block = block
        self.state = _GateState()

    def forward(self, branch: Tensor, shortcut: Tensor) -> Tensor:
        return _GatedAdd.apply(branch, shortcut, self.state)


@dataclass
class GatedPaths:
    """A traced copy of a model whose residual blocks' merges are ``PathGate``s, in forward order."""

    module: fx.GraphModule
    gates: list[PathGate]

    @property
    def blocks(self) -> list[str]:
        return [gate.block for gate in self.gates]

    def set_path(self, branches: Sequence[bool] | None) -> None:
        """Backward through block i's branch only (True) or its shortcut only (False); None: both."""
        if branches is not None and len(branches) != len(self.gates):
            raise ValueError(f"{len(branches)} choices for {len(self.gates)} blocks")
        for index, gate in enumerate(self.gates):
            gate.state.mode = BOTH if branches is None else (BRANCH if branches[index] else SHORTCUT)


def gate_paths(model: nn.Module, example_input: Any = None) -> GatedPaths:
    """A copy of ``model`` with a ``PathGate`` at the merge of every additive skip (the model itself
    is untouched). A model with no additive skip, or with skips nested in others, is refused."""
    from ..graph.ablate import is_in_place, trace_skip_merges

    name = type(model).__name__
    gm, merges = trace_skip_merges(model, example_input, purpose="follow its gradient paths")
    merges = [m for m in merges if not m.concat]
    if not merges:
        raise ResvizError(f"{name}: no additive skip connection, so no residual blocks whose paths to follow")
    inside = {node for m in merges for node in (*m.skip.long_path, *m.skip.short_path)}
    nested = [m.skip.merge for m in merges if m.skip.merge in inside]
    if nested:
        raise ResvizError(f"{name}: the skip at {nested[0]} lies inside another skip's path; the paths "
                          "decomposition needs residual blocks in sequence")
    gates: list[PathGate] = []
    replaced: dict[fx.Node, fx.Node] = {}  # a merge already gated -> its gate (a later block's input)
    for index, merge in enumerate(merges):
        node = merge.merge
        if len(node.args) != 2 or node.kwargs:
            raise ResvizError(f"{name}: the merge at {merge.skip.merge} is not a plain sum of two tensors")
        gate = PathGate(merge.skip.block or merge.skip.merge)
        target = f"resviz_path_gate_{index}"
        gm.add_module(target, gate)
        with gm.graph.inserting_after(node):
            gated = gm.graph.call_module(target, (replaced.get(merge.long_arg, merge.long_arg),
                                                  replaced.get(merge.short_arg, merge.short_arg)))
        mutated = node.args[0] if is_in_place(node) and isinstance(node.args[0], fx.Node) else None
        node.replace_all_uses_with(gated)
        if mutated is not None:  # ``x += out``: later readers of x read the sum
            seen = False
            for later in gm.graph.nodes:
                if later is gated:
                    seen = True
                elif seen and mutated in later.all_input_nodes:
                    later.replace_input_with(mutated, gated)
        gm.graph.erase_node(node)
        replaced[node] = gated
        gates.append(gate)
    gm.graph.lint()
    gm.recompile()
    gm.train(model.training)
    return GatedPaths(gm, gates)


@dataclass
class PathDecomposition:
    """Gradient by path length (see the module's docstring); index k of each array is length k."""

    blocks: list[str]
    distribution: np.ndarray
    magnitude: np.ndarray
    share: np.ndarray
    paths_measured: np.ndarray  # how many paths of each length were measured
    exact: np.ndarray  # True where every path of that length was measured
    total_gradient: float  # the whole network's input gradient magnitude
    seconds: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.blocks)

    @property
    def peak_length(self) -> int:
        """The path length that carries the largest share of the gradient."""
        return int(np.argmax(self.share))

    @property
    def mean_length(self) -> float:
        """The mean path length, weighted by the share of gradient each length carries."""
        return float((np.arange(len(self.share)) * self.share).sum())


def default_objective(targets: Tensor | None, seed: int) -> Callable[[Tensor], Tensor]:
    """The cross-entropy summed over the batch, against ``targets`` or, without them, labels drawn
    at random with ``seed`` (so each sample's gradient does not depend on the batch size)."""
    def objective(outputs: Tensor) -> Tensor:
        flat = outputs.flatten(1)
        labels = targets
        if labels is None:
            generator = torch.Generator().manual_seed(seed)
            labels = torch.randint(0, flat.shape[1], (flat.shape[0],), generator=generator)
        return nn.functional.cross_entropy(flat, labels.to(flat.device), reduction="sum")
    return objective


def path_gradient(gated: GatedPaths, objective_value: Tensor, inputs: Tensor,
                  branches: Sequence[bool] | None) -> Tensor:
    """The input gradient that one path carries (all paths together for None), from a forward
    pass already made (``objective_value`` computed from ``inputs`` by ``gated.module``)."""
    gated.set_path(branches)
    try:
        (gradient,) = torch.autograd.grad(objective_value, [inputs], retain_graph=True, allow_unused=True)
    finally:
        gated.set_path(None)
    return torch.zeros_like(inputs) if gradient is None else gradient


def _magnitude(gradient: Tensor) -> float:
    return float(gradient.detach().flatten(1).norm(dim=1).mean())


def _paths_of_length(n: int, k: int, samples: int, rng: random.Random) -> tuple[list[tuple[int, ...]], bool]:
    """All subsets of size k when there are at most ``samples``, else ``samples`` drawn uniformly."""
    if math.comb(n, k) <= samples:
        return list(combinations(range(n), k)), True
    return [tuple(sorted(rng.sample(range(n), k))) for _ in range(samples)], False


def path_decomposition(gated: GatedPaths, inputs: Tensor, *, samples: int = 16, seed: int = 0,
                       objective: Callable[[Tensor], Tensor] | None = None, targets: Tensor | None = None,
                       progress: Callable[[int, int], None] | None = None,
                       cancelled: Callable[[], bool] | None = None) -> PathDecomposition:
    """Measure the gradient by path length on ``inputs`` (on the module's device), with one forward
    pass and one backward pass per path measured. ``progress(done, total)`` after each length;
    ``cancelled()`` stops early with a ``ResvizError``."""
    if samples < 1:
        raise ResvizError(f"samples {samples} must be at least 1")
    start = time.perf_counter()
    objective = objective or default_objective(targets, seed)
    n = len(gated.gates)
    probe = inputs.detach().clone().requires_grad_(True)
    value = objective(gated.module(probe))
    total = _magnitude(path_gradient(gated, value, probe, None))
    rng = random.Random(seed)
    magnitude = np.zeros(n + 1)
    measured = np.zeros(n + 1, dtype=np.int64)
    exact = np.zeros(n + 1, dtype=bool)
    for k in range(n + 1):
        if cancelled is not None and cancelled():
            raise ResvizError("paths: cancelled")
        subsets, exact[k] = _paths_of_length(n, k, samples, rng)
        values = []
        for subset in subsets:
            chosen = set(subset)
            values.append(_magnitude(path_gradient(gated, value, probe, [i in chosen for i in range(n)])))
        magnitude[k] = float(np.mean(values))
        measured[k] = len(subsets)
        if progress is not None:
            progress(k + 1, n + 1)
    counts = np.array([math.comb(n, k) for k in range(n + 1)], dtype=float)
    carried = counts * magnitude
    share = carried / carried.sum() if carried.sum() > 0 else np.full(n + 1, np.nan)
    return PathDecomposition(gated.blocks, counts / counts.sum(), magnitude, share, measured, exact, total,
                             time.perf_counter() - start, {"samples": samples, "seed": seed,
                                                           "batch": int(inputs.shape[0])})


def paths_lens_result(decomposition: PathDecomposition, params: dict[str, Any] | None = None):
    """The decomposition as a run file's lens result (name "paths")."""
    from ..runfile.lenses import LensResult

    arrays = {"distribution": decomposition.distribution, "magnitude": decomposition.magnitude,
              "share": decomposition.share, "paths_measured": decomposition.paths_measured,
              "exact": decomposition.exact.astype(np.int8)}
    summary = {"blocks": decomposition.n, "peak_length": decomposition.peak_length,
               "mean_length": round(decomposition.mean_length, 3), "total_gradient": decomposition.total_gradient,
               "seconds": round(decomposition.seconds, 3)}
    return LensResult("paths", params={**decomposition.params, **(params or {}),
                                       "block_names": decomposition.blocks}, arrays=arrays, summary=summary)
