"""Signal propagation across depth at initialisation: how a twin pair's forward activations,
backward gradients and input gradients change as the nets get deeper, with no training.

For one depth, both twins are built with the same seed (the zoo's twins differ only in their
skips, so with option-A shortcuts they hold the very same weights) and probed on one batch of
Gaussian inputs:

- **forward norms**: for every block (``resviz.graph`` blocks, in forward order), the root mean
  square over the batch of each sample's L2 norm of the block's output, sqrt(mean_i ||h_i||²);
- **backward norms**: the same of the gradient of the loss with respect to that output;
- **input gradient norm**: the same of the gradient with respect to the input;
- **shattering** (Balduzzi et al. 2017, "The Shattered Gradients Problem"): along a line of
  inputs x(s) = x0 + s v (x0 the batch's first sample, v a random unit direction, s evenly spaced
  in [-||x0||, ||x0||], ``line_points`` points), the derivative along the line of a scalar output
  d(s) = d<u, f(x(s))>/ds = <grad_x <u, f(x(s))>, v> (u a random unit vector over the outputs) is
  a 1-D signal; its normalised autocorrelation at lag k is
  rho(k) = sum_t (d_t - mean d)(d_{t+k} - mean d) / sum_t (d_t - mean d)².
  ``gradient_correlation`` is rho(1): about 0 when the input gradients of neighbouring inputs
  are unrelated (white noise, the deep plain nets), near 1 when they are structured.

The loss is the cross-entropy of random labels summed over the batch (so each sample's gradient
does not depend on the batch size), or with ``loss="projection"`` the sum of <u_i, f(x_i)> with
fixed random unit vectors u_i, whose output gradient does not depend on the weights (the
closed-form case of a deep linear net). Normalisation layers use the probe batch's statistics,
frozen: one forward pass in training mode computes them, then the net runs in evaluation mode,
so every sample's gradient is that of a fixed function of its input (the per-sample Jacobian the
theory speaks of) and the points of the line do not normalise one another away.

``signal_at_depth`` computes one depth (both twins); ``signal_across_depths`` runs a list of
depths one at a time with progress and cancel, and a cache the caller keeps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import ResvizError
from ..graph.block_definition import fallback_blocks, model_blocks

# Family names the command accepts besides a twin's own name, and the zoo model each stands for.
FAMILIES = {"cifar": "resnet20", "mlp": "mlp_residual", "preact": "preact_resnet20"}
# Options a family name implies (``-o`` overrides them): the CIFAR twins as the window's default
# shows them, without normalisation layers, where the plain net's gradient decays exponentially
# with depth. With batch norm (``-o norm=batch``) it explodes instead; the shattering shows either way.
FAMILY_OPTIONS = {"cifar": {"norm": "none"}, "preact": {"norm": "none"}}
LOSSES = ("cross_entropy", "projection")
SIDES = ("plain", "residual")


@dataclass
class SignalProfile:
    """One model's signal at initialisation (see the module's docstring for each measure)."""

    model: str
    depth: int
    residual: bool
    layers: list[str]
    forward_norms: np.ndarray
    backward_norms: np.ndarray
    input_gradient_norm: float
    autocorrelation: np.ndarray  # rho(0..K) of the derivative along the line; rho(0) = 1
    seconds: float = 0.0

    @property
    def gradient_correlation(self) -> float:
        """rho(1): the correlation of the input gradients of neighbouring inputs on the line."""
        return float(self.autocorrelation[1]) if len(self.autocorrelation) > 1 else float("nan")


@dataclass
class SignalAtDepth:
    """Both twins of a family at one depth."""

    family: str
    depth: int
    plain: SignalProfile
    residual: SignalProfile
    params: dict[str, Any] = field(default_factory=dict)

    def side(self, name: str) -> SignalProfile:
        return self.plain if name == "plain" else self.residual


def family_pair(family: str):
    """The twin pair a family name (``cifar``, ``mlp``, ``preact``) or a twin's name stands for."""
    from ..models.pairs import twin_pair
    from ..models.registry import list_models

    if family not in FAMILIES and family not in list_models():
        raise ResvizError(f"unknown family {family!r}: use {', '.join(FAMILIES)} or a zoo model with a twin "
                          "('resviz models' lists them)")
    return twin_pair(FAMILIES.get(family, family))


def parse_depths(text: str, option: str = "--depths") -> list[int]:
    """Comma-separated depths ("8,20,56,110"); anything else is one line naming ``option``."""
    depths = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < 1:
            raise ResvizError(f"{option}: {part!r} is not a whole number of at least 1 (give e.g. 8,20,56,110)")
        depths.append(int(part))
    return depths


def check_depths(family: str, depths: Sequence[int], options: dict[str, Any] | None = None) -> None:
    """Refuse, in one line and before anything is computed, a depth the family cannot build.

    Each twin is built on the meta device (shapes only, no memory, no time to speak of).
    """
    from ..models.registry import get_model

    pair = family_pair(family)
    if not depths:
        raise ResvizError(f"{family}: no depth given")
    for depth in depths:
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise ResvizError(f"{family}: depth {depth!r} is not a whole number of at least 1")
        with torch.device("meta"):
            get_model(pair.residual, **{**pair.options, **FAMILY_OPTIONS.get(family, {}), **(options or {}),
                                        "depth": depth})


def freeze_batch_statistics(model: nn.Module, inputs: Tensor) -> None:
    """Give every batch norm the statistics of ``inputs`` and put the model in evaluation mode,
    so that it is then a fixed function of each input (see the module's docstring)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if norms:
        saved = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # a cumulative average: after one batch, exactly its statistics
        model.train()
        with torch.no_grad():
            model(inputs)
        for m, momentum in zip(norms, saved):
            m.momentum = momentum
    model.eval()


def autocorrelation(signal: Tensor, lags: int) -> np.ndarray:
    """The normalised autocorrelation rho(0..lags) of a 1-D signal (NaN where it is constant)."""
    centred = signal.double() - signal.double().mean()
    energy = float((centred * centred).sum())
    if energy <= 0.0:
        return np.full(lags + 1, np.nan)
    n = centred.numel()
    return np.array([float((centred[: n - k] * centred[k:]).sum()) / energy for k in range(lags + 1)])


def _rms_norm(tensor: Tensor) -> Tensor:
    """sqrt(mean_i ||t_i||²) over the batch dimension, left on the device."""
    return tensor.detach().flatten(1).double().pow(2).sum(1).mean().sqrt()


def _unit(generator: torch.Generator, shape: Sequence[int], device: torch.device) -> Tensor:
    vector = torch.randn(tuple(shape), generator=generator).to(device)
    return vector / vector.norm()


def measure_signal(model: nn.Module, inputs: Tensor, *, layers: Sequence[str] | None = None,
                   loss: str = "cross_entropy", line_points: int = 64, seed: int = 0,
                   name: str = "model", depth: int = 0, residual: bool = False) -> SignalProfile:
    """Probe one model at ``inputs`` (on the model's device). The model's batch norms take the
    batch's statistics and it is left in evaluation mode; copy it first to keep it as it is.

    ``layers`` are qualified module names whose outputs are measured (default: the model's blocks).
    """
    if loss not in LOSSES:
        raise ResvizError(f"loss {loss!r} is not one of {', '.join(LOSSES)}")
    if line_points < 4:
        raise ResvizError(f"line points {line_points} must be at least 4")
    start = time.perf_counter()
    names = list(layers) if layers is not None else _block_names(model, inputs)
    modules = dict(model.named_modules())
    missing = [n for n in names if n not in modules]
    if missing:
        raise ResvizError(f"{name}: no module {missing[0]!r} to measure")
    freeze_batch_statistics(model, inputs)
    generator = torch.Generator().manual_seed(seed)

    forward: dict[str, Tensor] = {}
    backward: dict[str, Tensor] = {}

    def record(layer: str) -> Callable[..., None]:
        def hook(_module: nn.Module, _args: Any, output: Any) -> None:
            if isinstance(output, Tensor) and output.requires_grad:
                forward[layer] = _rms_norm(output)
                output.register_hook(lambda grad: backward.__setitem__(layer, _rms_norm(grad)))
        return hook

    handles = [modules[n].register_forward_hook(record(n)) for n in names]
    try:
        probe = inputs.detach().clone().requires_grad_(True)
        outputs = model(probe)
        objective = _loss(outputs, loss, generator)
        (gradient,) = torch.autograd.grad(objective, [probe])
    finally:
        for handle in handles:
            handle.remove()
    input_norm = _rms_norm(gradient)

    # The line of inputs, probed without hooks: only the derivative along it is wanted.
    x0 = inputs[:1].detach()
    direction = _unit(generator, x0.shape[1:], x0.device)
    radius = float(x0.norm())
    steps = torch.linspace(-radius, radius, line_points, dtype=x0.dtype).to(x0.device)
    line = (x0 + steps.view(-1, *([1] * (x0.dim() - 1))) * direction).requires_grad_(True)
    outputs = model(line)
    projection = _unit(generator, outputs.shape[1:], outputs.device)
    (line_gradient,) = torch.autograd.grad((outputs * projection).sum(), [line])
    along = line_gradient.flatten(1) @ direction.flatten()

    missing_grad = [n for n in names if n not in backward]
    if missing_grad:
        raise ResvizError(f"{name}: the output of {missing_grad[0]!r} takes no part in the loss's gradient")
    return SignalProfile(
        model=name, depth=depth, residual=residual, layers=names,
        forward_norms=np.array([float(forward[n]) for n in names]),
        backward_norms=np.array([float(backward[n]) for n in names]),
        input_gradient_norm=float(input_norm),
        autocorrelation=autocorrelation(along.detach().cpu(), max(1, line_points // 4)),
        seconds=time.perf_counter() - start)


def _loss(outputs: Tensor, kind: str, generator: torch.Generator) -> Tensor:
    flat = outputs.flatten(1)
    if kind == "projection":
        vectors = torch.randn(flat.shape, generator=generator).to(flat.device, flat.dtype)
        vectors = vectors / vectors.norm(dim=1, keepdim=True)
        return (flat * vectors).sum()
    labels = torch.randint(0, flat.shape[1], (flat.shape[0],), generator=generator).to(flat.device)
    return nn.functional.cross_entropy(flat, labels, reduction="sum")


def _block_names(model: nn.Module, inputs: Tensor) -> list[str]:
    """The model's blocks: the module tree's definition for the zoo's models (which it finds the
    same, without tracing), the traced one for any other model."""
    if getattr(model, "resviz_spec", None) is not None:
        names = fallback_blocks(model)
        if names:
            return names
    return [block.name for block in model_blocks(model, inputs[:1].detach()) if block.name]


def signal_at_depth(family: str, depth: int, *, batch: int = 16, line_points: int = 64, seed: int = 0,
                    loss: str = "cross_entropy", device: str | torch.device = "cpu",
                    options: dict[str, Any] | None = None) -> SignalAtDepth:
    """Both twins of ``family`` (a name of ``FAMILIES`` or a twin's zoo name) at ``depth`` (their
    ``depth`` option), at initialisation with ``seed``, probed on ``batch`` Gaussian inputs."""
    from ..models.registry import get_model

    if batch < 1:
        raise ResvizError(f"batch {batch} must be at least 1")
    pair = family_pair(family)
    device = torch.device(device)
    shared = {**pair.options, **FAMILY_OPTIONS.get(family, {}), **(options or {}), "depth": depth}
    profiles = {}
    for side, model_name in (("plain", pair.plain), ("residual", pair.residual)):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = get_model(model_name, **shared)
        model.to(device)
        generator = torch.Generator().manual_seed(seed + 1)
        inputs = torch.randn((batch, *model.input_shape), generator=generator).to(device)
        profiles[side] = measure_signal(model, inputs, loss=loss, line_points=line_points, seed=seed + 2,
                                        name=model_name, depth=depth, residual=side == "residual")
    params = {"batch": batch, "line_points": line_points, "seed": seed, "loss": loss, "device": str(device),
              "options": dict(options or {})}
    return SignalAtDepth(family, depth, profiles["plain"], profiles["residual"], params)


def signal_across_depths(family: str, depths: Sequence[int], *,
                         progress: Callable[[int, int, SignalAtDepth], None] | None = None,
                         cancelled: Callable[[], bool] | None = None,
                         cache: MutableMapping[Any, SignalAtDepth] | None = None,
                         **kwargs: Any) -> list[SignalAtDepth]:
    """``signal_at_depth`` for each depth in turn; ``progress(done, total, result)`` after each,
    and ``cancelled()`` asked before each: when it answers True the depths done so far are
    returned. A ``cache`` (any mapping the caller keeps) answers the depths it already holds."""
    check_depths(family, depths, kwargs.get("options"))
    results: list[SignalAtDepth] = []
    for index, depth in enumerate(depths):
        if cancelled is not None and cancelled():
            break
        key = (family, depth, repr(sorted(kwargs.items(), key=lambda item: item[0])))
        result = cache.get(key) if cache is not None else None
        if result is None:
            result = signal_at_depth(family, depth, **kwargs)
            if cache is not None:
                cache[key] = result
        results.append(result)
        if progress is not None:
            progress(index + 1, len(depths), result)
    return results
