"""Sanity checks for attribution maps, which the usual tools do not ship.

- The model-parameter randomisation test (Adebayo et al. 2018, "Sanity Checks for Saliency
  Maps"): re-initialise the layers cascading from the output down to the input and compare
  each map with the original by Spearman rank correlation. A map that explains the model
  must change as the model is destroyed; one that stays put (guided backprop famously does)
  shows the image, not the model.
- Localisation on data with ground-truth masks (the shapes data set): the pointing game
  (Zhang et al. 2016: is the map's maximum on the object?) and the energy inside the mask
  (the share of the positive attribution that falls on the object; a uniform map scores the
  mask's area, shown beside it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import ResvizError
from ..graph.block_definition import model_blocks
from ..graph.hooks import forward_hooks
from .core import AttributionCancelled, CancelEvent, ProgressCallback, attribute, predict
from .inputs import as_batch, fit_inputs, model_input_shape
from .methods import get_method
from .prepare import shared_copy
from .render import check_sign, signed_values

# --- rank correlation --------------------------------------------------------------------------


def rank(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of a flat array, ties given their average rank (as scipy.stats.rankdata)."""
    values = np.asarray(values, dtype=np.float64).ravel()
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    boundaries = np.flatnonzero(np.diff(sorted_values)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [values.size]))
    average = (starts + ends + 1) / 2.0  # mean of ranks start+1 .. end
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.repeat(average, ends - starts)
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two maps; 0 when either is constant (no ranking to compare)."""
    ra, rb = rank(a), rank(b)
    if ra.size != rb.size:
        raise ResvizError(f"cannot correlate maps of {ra.size} and {rb.size} values")
    ra -= ra.mean()
    rb -= rb.mean()
    denominator = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / denominator) if denominator > 0 else 0.0


# --- cascading randomisation -----------------------------------------------------------------


def _parameterised_leaves(model: nn.Module) -> list[str]:
    return [name for name, module in model.named_modules()
            if name and not list(module.children()) and any(True for _ in module.parameters(recurse=False))]


def _forward_order(model: nn.Module, names: list[str], example: Tensor) -> list[str]:
    """``names`` in the order the forward pass first runs them (unused ones last)."""
    order: list[str] = []
    names_of: dict[int, list[str]] = {}
    for name in names:  # a module reused under several names runs as each of them
        names_of.setdefault(id(model.get_submodule(name)), []).append(name)

    def ran(module: nn.Module, *_: object) -> None:
        order.extend(name for name in names_of[id(module)] if name not in order)

    modules = {id(model.get_submodule(name)): model.get_submodule(name) for name in names}
    with forward_hooks(modules.values(), pre=lambda *_: None, post=ran, with_kwargs=False), torch.no_grad():
        model(example)
    return order + [n for n in names if n not in order]


def block_of(layer: str, blocks: Sequence[str]) -> str:
    """The block a layer belongs to: the innermost of ``blocks`` (``resviz.graph.model_blocks``)
    that contains it (``layer2.0.conv1`` -> ``layer2.0``); layers outside every block (``conv1``,
    ``fc``) are their own group."""
    inside = [block for block in blocks if layer == block or layer.startswith(block + ".")]
    return max(inside, key=len) if inside else layer


def randomisation_groups(model: nn.Module, example: Tensor, granularity: str = "blocks") -> list[tuple[str, list[str]]]:
    """The cascade of (label, layers) from the output to the input: by block (the graph's blocks,
    ``resviz.graph.model_blocks``, as the recorder watches them) or by single layer."""
    if granularity not in ("blocks", "layers"):
        raise ResvizError(f"granularity {granularity!r} is not 'blocks' or 'layers'")
    leaves = _parameterised_leaves(model)
    if not leaves:
        raise ResvizError("the model has no parameters to randomise")
    order = _forward_order(model, leaves, example)
    blocks = [] if granularity == "layers" else [block.name for block in model_blocks(model, example)]
    groups: dict[str, list[str]] = {}
    for name in order:
        key = name if granularity == "layers" else block_of(name, blocks)
        groups.setdefault(key, []).append(name)
    return list(reversed(list(groups.items())))


def _reinitialise(module: nn.Module, generator_seed: int) -> None:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(generator_seed)
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
        else:
            with torch.no_grad():
                for parameter in module.parameters(recurse=False):
                    parameter.normal_(0.0, 0.02)
        if hasattr(module, "reset_running_stats"):
            module.reset_running_stats()


@dataclass
class RandomisationResult:
    """Maps and scores of a cascading randomisation test."""

    method: str
    title: str
    steps: list[str]                 # "original", then the group randomised at each step ("fc", "layer3.2", ...)
    layers: list[list[str]]          # the layers each step re-initialised (empty for "original")
    maps: np.ndarray                 # (S + 1, N, H, W)
    spearman_abs: np.ndarray         # (S, N) rank correlation of |map| with the original |map|
    spearman_signed: np.ndarray      # (S, N) the same without the absolute value
    target: np.ndarray               # (N,)
    layer: str | None = None
    notes: list[str] = field(default_factory=list)

    def mean_scores(self) -> dict[str, list[float]]:
        return {"spearman_abs": self.spearman_abs.mean(1).tolist(),
                "spearman_signed": self.spearman_signed.mean(1).tolist()}

    def to_dict(self) -> dict[str, Any]:
        """The scores as JSON-able data."""
        means = self.mean_scores()
        return {
            "test": "cascading model-parameter randomisation (Adebayo et al. 2018)",
            "method": self.method,
            "layer": self.layer,
            "target": self.target.tolist(),
            "steps": [{"randomised_down_to": step, "layers": layers, "spearman_abs": means["spearman_abs"][i],
                       "spearman_signed": means["spearman_signed"][i],
                       "spearman_abs_per_input": self.spearman_abs[i].tolist()}
                      for i, (step, layers) in enumerate(zip(self.steps[1:], self.layers[1:]))],
            "notes": self.notes,
        }


def randomisation_test(model: nn.Module, inputs: Tensor | np.ndarray, method: str = "saliency", *,
                       target: Any = None, layer: str | None = None, granularity: str = "blocks",
                       seed: int = 0, progress: ProgressCallback | None = None, cancel: CancelEvent | None = None,
                       **method_options: Any) -> RandomisationResult:
    """Cascading randomisation from the output layer down (Adebayo et al. 2018).

    Step 0 is the trained model; step k re-initialises (with each layer's own
    ``reset_parameters``) the k topmost groups — blocks by default, single layers with
    ``granularity="layers"``. The class explained stays the trained model's prediction (or
    ``target``) throughout. The model itself is untouched: the test runs on a copy with its own
    weights. Cancel is honoured between and within steps.
    """
    info = get_method(method)
    x = as_batch(inputs)
    x, notes = fit_inputs(x, model_input_shape(model))
    copy = shared_copy(model, clone_tensors=True)
    copy.eval()
    device = next((p.device for p in copy.parameters()), torch.device("cpu"))
    groups = randomisation_groups(copy, x[:1].to(device), granularity)
    if target is None:
        target = predict(model, x)[0]
    total = len(groups) + 1
    maps = []
    first: dict[str, Any] = {}

    def run(step: int) -> np.ndarray:
        step_progress = None if progress is None else (lambda f: progress(min(1.0, (step + f) / total)))
        result = attribute(copy, x, target, info.name, layer=layer if info.needs_layer else None, cancel=cancel,
                           progress=step_progress, seed=seed if info.stochastic else None, **method_options)
        if not first:
            notes.extend(result.notes)
            first.update(target=result.target, layer=result.layer)
        return result.maps

    maps.append(run(0))
    for step, (_, layers) in enumerate(groups, start=1):
        if cancel is not None and cancel.is_set():
            raise AttributionCancelled("randomisation test cancelled")
        for offset, name in enumerate(layers):
            _reinitialise(copy.get_submodule(name), (seed * 100_003 + step * 1_009 + offset) % (1 << 63))
        maps.append(run(step))
    stacked = np.stack(maps)
    original = stacked[0]
    rho_abs = np.array([[spearman(np.abs(original[i]), np.abs(m[i])) for i in range(len(original))]
                        for m in stacked[1:]])
    rho_signed = np.array([[spearman(original[i], m[i]) for i in range(len(original))] for m in stacked[1:]])
    return RandomisationResult(info.name, info.title, ["original"] + [label for label, _ in groups],
                               [[]] + [layers for _, layers in groups], stacked, rho_abs, rho_signed,
                               first["target"], first["layer"], list(dict.fromkeys(notes)))


# --- localisation ------------------------------------------------------------------------------


@dataclass
class LocalisationScores:
    """Per input: did the maximum land on the object, and what share of the energy did."""

    pointing_hits: np.ndarray      # (N,) bool
    energy: np.ndarray             # (N,) share of the (signed-as-chosen) attribution inside the mask
    mask_fraction: np.ndarray      # (N,) the mask's share of the image: what a uniform map would score
    sign: str
    tolerance: int = 0

    @property
    def pointing_accuracy(self) -> float:
        return float(self.pointing_hits.mean()) if self.pointing_hits.size else float("nan")

    @property
    def mean_energy(self) -> float:
        return float(np.nanmean(self.energy)) if self.energy.size else float("nan")

    @property
    def mean_mask_fraction(self) -> float:
        return float(self.mask_fraction.mean()) if self.mask_fraction.size else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {"pointing_game": self.pointing_accuracy, "energy_in_mask": self.mean_energy,
                "uniform_map_energy": self.mean_mask_fraction, "inputs": int(self.pointing_hits.size),
                "sign": self.sign, "tolerance_px": self.tolerance}


def localisation_scores(maps: np.ndarray, masks: np.ndarray, sign: str = "positive",
                        tolerance: int = 0) -> LocalisationScores:
    """Pointing game and energy-in-mask of maps (N, H, W) against boolean masks (N, H, W).

    ``sign`` picks the evidence scored (positive by default: what speaks for the class).
    ``tolerance`` (pixels) widens the mask for the pointing game, as Zhang et al. allow 15 px on
    large images. A map with no evidence of that sign (all zero, or constant) misses and has NaN
    energy.
    """
    check_sign(sign)
    if tolerance < 0:
        raise ResvizError(f"pointing game tolerance {tolerance} must be 0 or more pixels")
    if sign == "all":
        raise ResvizError("localisation scores need one sign (positive, negative or absolute), not 'all'")
    maps = np.asarray(maps, dtype=np.float64)
    masks = np.asarray(masks).astype(bool)
    if maps.ndim == 2:
        maps, masks = maps[None], masks[None] if masks.ndim == 2 else masks
    if maps.shape != masks.shape:
        raise ResvizError(f"maps {maps.shape} and masks {masks.shape} differ in shape")
    values = signed_values(maps, sign).astype(np.float64)
    hits = np.zeros(len(values), dtype=bool)
    energy = np.full(len(values), np.nan)
    for i, (value, mask) in enumerate(zip(values, masks)):
        total = value.sum()
        peak = value.max()
        if not np.isfinite(total) or total <= 0 or np.all(value == peak):
            continue
        target_area = _dilate(mask, tolerance) if tolerance > 0 else mask
        hits[i] = bool(np.any(value[target_area] == peak))
        energy[i] = float(value[mask].sum() / total)
    fraction = masks.reshape(len(masks), -1).mean(1)
    return LocalisationScores(hits, energy, fraction, sign, tolerance)


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    out = mask.copy()
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            if dy * dy + dx * dx <= radius * radius:
                out[np.clip(ys + dy, 0, h - 1), np.clip(xs + dx, 0, w - 1)] = True
    return out


@dataclass
class LocalisationReport:
    method: str
    title: str
    scores: LocalisationScores
    maps: np.ndarray
    masks: np.ndarray
    target: np.ndarray
    labels: np.ndarray | None
    layer: str | None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = {"method": self.method, "layer": self.layer, **self.scores.to_dict()}
        if self.labels is not None:
            data["explained_true_class"] = bool(np.array_equal(self.labels, self.target))
        return data


def score_localisation(model: nn.Module, inputs: Tensor | np.ndarray, masks: np.ndarray | Tensor,
                       method: str = "grad_cam", *, target: Any = None, labels: Sequence[int] | None = None,
                       layer: str | None = None, sign: str = "positive", tolerance: int = 0, batch_size: int = 64,
                       seed: int | None = 0, progress: ProgressCallback | None = None,
                       cancel: CancelEvent | None = None, **method_options: Any) -> LocalisationReport:
    """Attribute each input to ``target`` (default: the true ``labels`` when given, else the
    prediction) and score the maps against the ground-truth masks."""
    info = get_method(method)
    x = as_batch(inputs)
    masks = masks.detach().cpu().numpy() if isinstance(masks, Tensor) else np.asarray(masks)
    if masks.shape[0] != x.shape[0]:
        raise ResvizError(f"{masks.shape[0]} masks for {x.shape[0]} inputs")
    if target is None and labels is not None:
        target = list(labels)
    maps, targets, notes, layer_used = [], [], [], None
    chunks = range(0, x.shape[0], batch_size)
    for k, start in enumerate(chunks):
        chunk_target = target
        if target is not None and not isinstance(target, (int, np.integer)):
            chunk_target = list(np.asarray(target).reshape(-1))[start:start + batch_size]
        chunk_progress = None if progress is None else (lambda f, k=k: progress(min(1.0, (k + f) / len(chunks))))
        result = attribute(model, x[start:start + batch_size], chunk_target, info.name,
                           layer=layer if info.needs_layer else None, progress=chunk_progress, cancel=cancel,
                           seed=seed if info.stochastic else None, **method_options)
        maps.append(result.maps)
        targets.append(result.target)
        notes.extend(result.notes)
        layer_used = result.layer
    maps_np = np.concatenate(maps)
    if maps_np.shape[1:] != masks.shape[1:]:
        raise ResvizError(f"the maps are {maps_np.shape[1]}x{maps_np.shape[2]} and the masks "
                          f"{masks.shape[1]}x{masks.shape[2]}; score images at the model's input size")
    scores = localisation_scores(maps_np, masks, sign, tolerance)
    return LocalisationReport(info.name, info.title, scores, maps_np, masks.astype(bool), np.concatenate(targets),
                              None if labels is None else np.asarray(labels), layer_used, list(dict.fromkeys(notes)))
