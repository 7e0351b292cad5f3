"""The loss landscape (Li et al. 2018, "Visualizing the Loss Landscape of Neural Nets"): the loss
around a checkpoint along one or two random directions, each *filter-normalised*.

A direction ``d`` is drawn from a standard normal with the shape of the parameters (from a
``torch.Generator`` seeded by the user, on the CPU, so the same seed gives the same directions
on any device); then each filter of each weight (a conv's output channel, a linear layer's row)
is rescaled to the norm of the same filter of the checkpoint: ``d_f <- d_f / |d_f| * |theta_f|``.
So a step of 1 along ``d`` moves every filter by its own size, and nets whose weights differ
in scale (BatchNorm makes a net invariant to it) can be compared. Parameters with one
dimension or none (biases, BatchNorm's scale and shift) get zero in every direction, as in the
paper: they stay at the checkpoint's values. The model is evaluated in eval mode, so BatchNorm
uses the checkpoint's running statistics, which stay fixed too.

The surface is ``L(a, b) = loss(theta + a d1 + b d2)`` on a ``grid x grid`` lattice of
``[-span, span]^2``, over the samples given (the user's data subset). Each grid point is one
pass over those samples. Grid points are evaluated one after another, the weights written in
place, by default on a CPU; ``points_per_batch > 1`` evaluates several grid points in one
call through ``torch.func.vmap`` over stacked weights (each convolution becomes a grouped one,
and the activations are held once per grid point). On a busy 2-core CPU, five grid points per
call took 1.3 times as long as one at a time (``resviz.benchmarks.lens_landscape`` measures
both), so the CPU keeps the lighter one. On a GPU a small data subset leaves the device mostly
idle, so there 8 grid points go in each call by default (a choice not yet timed on a GPU).

Roughness (``roughness``): how many bumps the surface has that a bowl does not. Along every row
and column of the grid (the one line of a 1-D landscape), a bump is a turn from rising to falling:
a local maximum that the line climbs to from its last low and then falls from, both moves by more
than ``ROUGHNESS_RTOL`` (1e-4) of the larger loss they join, so float noise on a flat stretch is
no bump. The roughness is the mean number of bumps per line: 0 when every line is unimodal (falls,
then rises: a quadratic bowl, any convex surface, a slope), 1 when the lines have one bump each on
average (``1 0 1 0 1``: a maximum between two valleys). It counts bumps, not their height: the
walls of a filter-normalised landscape grow about exponentially with the step, so a measure
weighted by height is mostly wall, while the chaotic surfaces of plain nets in Li et al. (Fig. 5)
show, on small budgets, as lines that wobble on their way down and up. In tests/lenses/
test_landscape_claim.py (Plain-32 and ResNet-32 of width 4, 150 steps on 8x8 shapes; six 1-D lines
of 61 points over [-1, 1] each, 64 test images) the plain net's lines have 0.8 to 3.3 bumps each
on average, the residual net's 0 to 0.5, over ten seeds. An earlier measure, the lines' total
variation over that of a unimodal curve with the same ends and minimum, was about 0 for both
twins on such budgets: the bumps are small next to the walls.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import ResvizError
from ..runfile import LensResult
from .progress import CancelEvent, Progress, ProgressCallback

LOSSES = ("cross_entropy", "mse")
MAX_GRID = 201
ROUGHNESS_RTOL = 1e-4   # a bump must rise and fall by more than this share of the loss


@dataclass
class Landscape:
    """A computed landscape. ``loss[j, i]`` is the loss at ``(alphas[i], betas[j])`` (rows follow
    the second direction, as ``contour(alphas, betas, loss)`` expects); ``loss_1d[i]`` the loss at
    ``alphas[i]`` along the first direction alone. 1-D landscapes have ``betas`` and ``loss`` None."""

    alphas: np.ndarray
    betas: np.ndarray | None
    loss: np.ndarray | None
    accuracy: np.ndarray | None
    loss_1d: np.ndarray
    accuracy_1d: np.ndarray
    samples: int
    seed: int
    span: float
    loss_name: str = "cross_entropy"
    params: dict[str, Any] = field(default_factory=dict)   # what the caller adds: run, step, split...

    @property
    def centre_loss(self) -> float:
        return float(np.interp(0.0, self.alphas, self.loss_1d))

    @property
    def roughness(self) -> float:
        return roughness(self.loss if self.loss is not None else self.loss_1d)

    def summary(self) -> dict[str, Any]:
        surface = self.loss if self.loss is not None else self.loss_1d
        return {"roughness": self.roughness, "roughness_1d": roughness(self.loss_1d),
                "centre_loss": self.centre_loss, "min_loss": float(np.nanmin(surface)),
                "max_loss": float(np.nanmax(surface))}

    def to_lens_result(self) -> LensResult:
        arrays = {"alphas": self.alphas, "loss_1d": self.loss_1d, "accuracy_1d": self.accuracy_1d}
        if self.loss is not None:
            arrays.update(betas=self.betas, loss=self.loss, accuracy=self.accuracy)
        params = {"grid": len(self.alphas), "dims": 1 if self.loss is None else 2, "span": self.span,
                  "seed": self.seed, "samples": self.samples, "loss": self.loss_name,
                  "directions": "filter-normalised; biases and BatchNorm parameters fixed", **self.params}
        return LensResult("landscape", params=params, arrays=arrays, summary=self.summary())

    @classmethod
    def from_lens_result(cls, result: LensResult) -> Landscape:
        arrays, params = result.arrays, dict(result.params)
        known = {"grid", "dims", "span", "seed", "samples", "loss", "directions"}
        return cls(arrays["alphas"], arrays.get("betas"), arrays.get("loss"), arrays.get("accuracy"),
                   arrays["loss_1d"], arrays["accuracy_1d"], int(params.get("samples", 0)),
                   int(params.get("seed", 0)), float(params.get("span", 1.0)), str(params.get("loss", "cross_entropy")),
                   {k: v for k, v in params.items() if k not in known})


def _bumps(line: np.ndarray, rtol: float) -> int:
    """The turns from rising to falling of one line, each leg by more than ``rtol`` of the larger
    of the two losses it joins (a zigzag scan: small wiggles below that are not turns)."""
    def moved(a: float, b: float) -> bool:
        return abs(a - b) > rtol * max(abs(a), abs(b))

    bumps, direction, extreme = 0, 0, float(line[0])   # direction: 1 rising, -1 falling, 0 not yet known
    for value in map(float, line[1:]):
        if direction == 0:
            if moved(value, extreme):
                direction, extreme = (1 if value > extreme else -1), value
        elif direction == 1:
            if value >= extreme:
                extreme = value
            elif moved(value, extreme):
                bumps, direction, extreme = bumps + 1, -1, value
        elif value <= extreme:
            extreme = value
        elif moved(value, extreme):
            direction, extreme = 1, value
    return bumps


def roughness(surface: np.ndarray, rtol: float = ROUGHNESS_RTOL) -> float:
    """The mean number of bumps (local maxima, each rise and fall beyond ``rtol`` of the loss) per
    row and column of a 2-D loss surface, or along a 1-D one (see the module's docstring): 0 for a
    bowl, larger for a more chaotic surface. Non-finite losses (a diverged grid point) are clipped
    to the largest finite one."""
    values = np.asarray(surface, dtype=np.float64)
    if values.ndim not in (1, 2) or values.shape[-1] < 2:
        raise ValueError(f"roughness needs a 1-D or 2-D surface of at least 2 points, not shape {values.shape}")
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return math.nan
    values = np.where(np.isfinite(values), values, finite.max())
    lines = [values] if values.ndim == 1 else [*values, *values.T]
    return float(np.mean([_bumps(line, rtol) for line in lines]))


# ------------------------------------------------------------------------------ directions


def _perturbed(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    return [(name, p) for name, p in model.named_parameters()]


def filter_normalised_direction(model: nn.Module, generator: torch.Generator) -> list[Tensor]:
    """One random direction, a tensor per parameter of ``model`` (in ``named_parameters`` order,
    on the CPU): Gaussian, each filter rescaled to its weight's filter norm; zero for parameters
    of one dimension or none (biases, BatchNorm)."""
    direction = []
    for _, parameter in _perturbed(model):
        weight = parameter.detach().to("cpu", torch.float32)
        if weight.dim() <= 1:
            direction.append(torch.zeros_like(weight))
            continue
        d = torch.randn(weight.shape, generator=generator, dtype=torch.float32)
        d_norm = d.flatten(1).norm(dim=1).clamp_min(1e-12)
        w_norm = weight.flatten(1).norm(dim=1)
        direction.append(d * (w_norm / d_norm).view(-1, *([1] * (weight.dim() - 1))))
    return direction


def directions(model: nn.Module, seed: int, count: int = 2) -> list[list[Tensor]]:
    """``count`` filter-normalised directions drawn from ``seed`` (the same on every device)."""
    generator = torch.Generator().manual_seed(int(seed))
    return [filter_normalised_direction(model, generator) for _ in range(count)]


# ------------------------------------------------------------------------------ evaluation


def _per_sample_loss(name: str) -> Callable[[Tensor, Tensor], Tensor]:
    if name == "cross_entropy":
        return lambda outputs, labels: nn.functional.cross_entropy(outputs, labels, reduction="none")
    if name == "mse":
        return lambda outputs, targets: ((outputs - targets) ** 2).flatten(1).mean(1)
    raise ResvizError(f"landscape loss {name!r} is not one of {', '.join(LOSSES)}")


def _batches(inputs: Tensor, labels: Tensor, batch_size: int, device: torch.device) -> list[tuple[Tensor, Tensor]]:
    return [(inputs[i:i + batch_size].to(device), labels[i:i + batch_size].to(device))
            for i in range(0, len(inputs), batch_size)]


class _Evaluator:
    """The loss and accuracy of one model over fixed batches at ``theta + a d1 + b d2``."""

    def __init__(self, model: nn.Module, dirs: list[list[Tensor]], batches: list[tuple[Tensor, Tensor]],
                 loss_name: str, device: torch.device) -> None:
        self.model, self.batches, self.loss_name = model, batches, loss_name
        self.loss_fn = _per_sample_loss(loss_name)
        self.names = [name for name, _ in _perturbed(model)]
        self.params = [p for _, p in _perturbed(model)]
        self.origin = [p.detach().clone() for p in self.params]
        self.dirs = [[d.to(device, p.dtype) for d, p in zip(direction, self.params)] for direction in dirs]
        self.samples = sum(len(labels) for _, labels in batches)
        self._batched_model: nn.Module | None = None

    def _score(self, outputs: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        loss = self.loss_fn(outputs, labels).sum()
        if self.loss_name == "cross_entropy":
            correct = (outputs.argmax(-1) == labels).sum()
        else:
            correct = torch.tensor(math.nan)
        return loss, correct

    @torch.no_grad()
    def one(self, coefficients: tuple[float, ...]) -> tuple[float, float]:
        for p, origin, *steps in zip(self.params, self.origin, *self.dirs):
            p.copy_(origin)
            for c, step in zip(coefficients, steps):
                if c:
                    p.add_(step, alpha=float(c))
        total = torch.zeros((), dtype=torch.float64)
        correct = torch.zeros((), dtype=torch.float64)
        for inputs, labels in self.batches:
            loss, right = self._score(self.model(inputs), labels)
            total += loss.double().cpu()
            correct += right.double().cpu()
        return float(total) / self.samples, float(correct) / self.samples

    @torch.no_grad()
    def many(self, points: list[tuple[float, ...]]) -> list[tuple[float, float]]:
        """Several grid points in one batched call: ``vmap`` over stacked parameter sets."""
        from torch.func import functional_call, vmap

        coefficients = torch.tensor(points, dtype=self.origin[0].dtype, device=self.origin[0].device)
        stacked = {}
        for k, (name, origin) in enumerate(zip(self.names, self.origin)):
            value = origin.unsqueeze(0).expand(len(points), *origin.shape).clone()
            for axis in range(coefficients.shape[1]):
                step = self.dirs[axis][k]
                shape = (len(points),) + (1,) * origin.dim()
                value = value + coefficients[:, axis].view(shape) * step.unsqueeze(0)
            stacked[name] = value
        if self._batched_model is None:
            # A copy of its own: functional_call under vmap does not restore the weights of a
            # module registered under two names (a block's ``branch_last_norm`` alias of its
            # last norm), which would leave ``one``'s model holding escaped batched tensors.
            self._batched_model = copy.deepcopy(self.model)
        batched_model = self._batched_model
        buffers = dict(batched_model.named_buffers())

        def forward(params: dict[str, Tensor], x: Tensor) -> Tensor:
            return functional_call(batched_model, {**params, **buffers}, (x,))

        totals = torch.zeros(len(points), dtype=torch.float64)
        correct = torch.zeros(len(points), dtype=torch.float64)
        for inputs, labels in self.batches:
            outputs = vmap(forward, in_dims=(0, None))(stacked, inputs)   # (P, N, classes)
            totals += self.loss_fn(outputs.flatten(0, 1), labels.repeat(len(points)) if labels.dim() == 1
                                   else labels.repeat(len(points), *([1] * (labels.dim() - 1)))
                                   ).view(len(points), -1).sum(1).double().cpu()
            if self.loss_name == "cross_entropy":
                correct += (outputs.argmax(-1) == labels.unsqueeze(0)).sum(1).double().cpu()
            else:
                correct += math.nan
        return [(float(t) / self.samples, float(c) / self.samples) for t, c in zip(totals, correct)]

    def restore(self) -> None:
        with torch.no_grad():
            for p, origin in zip(self.params, self.origin):
                p.copy_(origin)


def default_points_per_batch(device: torch.device) -> int:
    """Grid points evaluated per call: one on a CPU (batching them was slower there), several on a GPU."""
    return 8 if device.type == "cuda" else 1


def loss_landscape(model: nn.Module, inputs: Tensor, labels: Tensor, *, grid: int = 25, span: float = 1.0,
                   seed: int = 0, dims: int = 2, loss: str = "cross_entropy", batch_size: int = 256,
                   device: str | torch.device | None = None, points_per_batch: int | None = None,
                   progress: ProgressCallback | None = None, cancel: CancelEvent | None = None) -> Landscape:
    """The loss of ``model`` on ``(inputs, labels)`` around its weights along ``dims`` (1 or 2)
    filter-normalised directions drawn from ``seed``, on a ``grid``-point lattice of
    ``[-span, span]`` per direction. ``model`` itself is left untouched (a copy is perturbed).
    ``progress(fraction)`` is called after each grid point; setting ``cancel`` stops the
    computation between two points with ``LensCancelled``."""
    if dims not in (1, 2):
        raise ResvizError(f"landscape dimensions must be 1 or 2, not {dims}")
    if not 3 <= int(grid) <= MAX_GRID:
        raise ResvizError(f"landscape grid {grid} must be between 3 and {MAX_GRID} points per direction")
    if not (math.isfinite(span) and span > 0):
        raise ResvizError(f"landscape span {span} must be a positive number")
    if len(inputs) == 0 or len(inputs) != len(labels):
        raise ResvizError(f"landscape data: {len(inputs)} inputs and {len(labels)} labels (need the same, at least 1)")
    _per_sample_loss(loss)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    work = copy.deepcopy(model).to(device).eval()
    evaluator = _Evaluator(work, directions(work, seed, dims), _batches(inputs, labels, batch_size, device),
                           loss, device)
    alphas = np.linspace(-span, span, int(grid))
    points: list[tuple[float, ...]] = ([(float(a),) for a in alphas] if dims == 1 else
                                       [(float(a), float(b)) for b in alphas for a in alphas])
    line_in_grid = dims == 2 and grid % 2 == 1   # the middle row is then b = 0: the 1-D slice comes free
    extra = [] if dims == 1 or line_in_grid else [(float(a), 0.0) for a in alphas]
    todo = points + extra
    tracker = Progress(len(todo), "loss landscape", progress, cancel)
    tracker.check()
    per_call = max(1, int(points_per_batch or default_points_per_batch(device)))
    results: list[tuple[float, float]] = []
    try:
        for start in range(0, len(todo), per_call):
            chunk = todo[start:start + per_call]
            results.extend([evaluator.one(chunk[0])] if len(chunk) == 1 else evaluator.many(chunk))
            tracker.advance(len(chunk))
    finally:
        evaluator.restore()
    values = np.array(results, dtype=np.float64)
    if dims == 1:
        return Landscape(alphas, None, None, None, values[:, 0], values[:, 1], evaluator.samples, seed, span, loss)
    surface = values[:len(points), 0].reshape(grid, grid)
    accuracy = values[:len(points), 1].reshape(grid, grid)
    if line_in_grid:
        loss_1d, accuracy_1d = surface[grid // 2].copy(), accuracy[grid // 2].copy()
    else:
        loss_1d, accuracy_1d = values[len(points):, 0], values[len(points):, 1]
    return Landscape(alphas, alphas.copy(), surface, accuracy, loss_1d, accuracy_1d, evaluator.samples, seed, span,
                     loss)
