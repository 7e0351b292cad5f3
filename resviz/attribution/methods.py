"""The registry of attribution methods: one entry per Captum algorithm, all called the same way.

Each entry knows its options (with defaults), whether it needs a layer, whether Captum finds
its nonlinearities by their modules (and so needs the prepared model), how to call Captum,
and how many input rows its forward passes will see (for progress).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from captum.attr import (
    Deconvolution,
    DeepLift,
    GradientShap,
    GuidedBackprop,
    GuidedGradCam,
    InputXGradient,
    IntegratedGradients,
    LayerAttribution,
    LayerGradCam,
    NoiseTunnel,
    Occlusion,
    Saliency,
)
from torch import Tensor, nn

from ..errors import ResvizError, did_you_mean
from .render import SIGNS  # noqa: E402 - one definition of the signs


@dataclass
class MethodCall:
    """Everything one Captum call needs; ``forward`` is the (prepared, observed) model."""

    forward: nn.Module
    inputs: Tensor
    target: Tensor
    options: dict[str, Any]
    baseline: Tensor | float | None = None
    layer: nn.Module | None = None


@dataclass(frozen=True)
class MethodInfo:
    """One attribution method: how it is named, called and shown."""

    name: str
    title: str
    captum: str
    description: str
    compute: Callable[[MethodCall], tuple[Tensor, Tensor | None]] = field(repr=False, compare=False)
    rows: Callable[[int, tuple[int, ...], dict[str, Any]], int] = field(repr=False, compare=False)
    options: dict[str, Any] = field(default_factory=dict)
    option_help: dict[str, str] = field(default_factory=dict)
    option_choices: dict[str, tuple[str, ...]] = field(default_factory=dict)  # the names a text option takes
    aliases: tuple[str, ...] = ()
    needs_layer: bool = False
    hooks_modules: bool = False        # Captum finds the nonlinearities by their modules
    hooks_relu_only: bool = False      # ... and only nn.ReLU (guided backprop, deconvolution)
    stochastic: bool = False
    uses_baseline: bool = False
    has_delta: bool = False
    default_sign: str = "all"
    input_gradients: bool = True       # differentiates with respect to the inputs

    def resolve_options(self, given: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(given) - set(self.options))
        if unknown:
            accepted = ", ".join(sorted(self.options)) or "none"
            raise ResvizError(f"{self.name}: unknown option {unknown[0]!r}{did_you_mean(unknown[0], self.options)}; "
                              f"its options are {accepted}")
        for key, value in given.items():
            _check_option(self.name, key, value, self.options[key])
        return {**self.options, **given}


# The names the text options take (Captum's), one definition for the checks and the window's choices.
INTEGRATIONS = ("gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right", "riemann_middle")
NOISE_TYPES = ("smoothgrad", "smoothgrad_sq", "vargrad")
GRAD_CAM_MODES = ("bilinear", "nearest", "bicubic", "area")

# Options whose default is None but that take a number when given (the pixel pairs are checked by ``_pair``).
OPTIONAL_COUNTS = ("internal_batch_size", "nt_samples_batch_size")
OPTIONAL_AMOUNTS = ("stdevs",)
OPTIONAL_SIZES = ("window", "stride")  # pixels, or a (height, width) pair; None: from the image size


def _check_option(method: str, key: str, value: Any, default: Any) -> None:
    """The type and range of a given option, judged by its default, before anything runs."""
    if key in OPTIONAL_COUNTS or (isinstance(default, int) and not isinstance(default, bool)):
        _positive_int(method, key, value, allow_none=key in OPTIONAL_COUNTS)
    elif key in OPTIONAL_AMOUNTS or isinstance(default, float):
        if value is None and key in OPTIONAL_AMOUNTS:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ResvizError(f"{method}: option {key}={value!r} must be a number of at least 0")
    elif isinstance(default, bool) and not isinstance(value, bool):
        raise ResvizError(f"{method}: option {key}={value!r} must be true or false")
    elif isinstance(default, str) and not isinstance(value, str):
        raise ResvizError(f"{method}: option {key}={value!r} must be a name")


def _positive_int(method: str, key: str, value: Any, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ResvizError(f"{method}: option {key}={value!r} must be a whole number of at least 1")
    return value


def _pair(method: str, key: str, value: Any) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)):
        raise ResvizError(f"{method}: option {key}={value!r} must be a size in pixels, or a pair (height, width)")
    return int(value[0]), int(value[1])


def _choice(method: str, key: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ResvizError(f"{method}: option {key}={value!r} is not one of {', '.join(choices)}")
    return value


# --- the Captum calls ----------------------------------------------------------------------


def _saliency(call: MethodCall):
    return Saliency(call.forward).attribute(call.inputs, target=call.target, abs=bool(call.options["abs"])), None


def _input_x_gradient(call: MethodCall):
    return InputXGradient(call.forward).attribute(call.inputs, target=call.target), None


def _integrated_gradients(call: MethodCall):
    o = call.options
    _positive_int("integrated_gradients", "n_steps", o["n_steps"])
    _positive_int("integrated_gradients", "internal_batch_size", o["internal_batch_size"], allow_none=True)
    _choice("integrated_gradients", "integration", o["integration"], INTEGRATIONS)
    ig = IntegratedGradients(call.forward, multiply_by_inputs=True)
    return ig.attribute(call.inputs, baselines=call.baseline, target=call.target, n_steps=o["n_steps"],
                        method=o["integration"], internal_batch_size=o["internal_batch_size"],
                        return_convergence_delta=True)


def default_stdevs(inputs: Tensor) -> float:
    """SmoothGrad's noise: 15% of the inputs' range (Smilkov et al. 2017 found 10-20% best)."""
    span = float(inputs.detach().max() - inputs.detach().min())
    return 0.15 * span if span > 0 else 0.15


def _smoothgrad(call: MethodCall):
    o = call.options
    _positive_int("smoothgrad", "nt_samples", o["nt_samples"])
    _positive_int("smoothgrad", "nt_samples_batch_size", o["nt_samples_batch_size"], allow_none=True)
    _choice("smoothgrad", "nt_type", o["nt_type"], NOISE_TYPES)
    stdevs = default_stdevs(call.inputs) if o["stdevs"] is None else float(o["stdevs"])
    tunnel = NoiseTunnel(Saliency(call.forward))
    return tunnel.attribute(call.inputs, nt_type=o["nt_type"], nt_samples=o["nt_samples"],
                            nt_samples_batch_size=o["nt_samples_batch_size"], stdevs=stdevs, target=call.target,
                            abs=bool(o["abs"])), None


def _gradient_shap(call: MethodCall):
    o = call.options
    n_samples = _positive_int("gradient_shap", "n_samples", o["n_samples"])
    baselines = call.baseline if isinstance(call.baseline, Tensor) else torch.zeros_like(call.inputs[:1]) + (
        call.baseline or 0.0)
    attributions, delta = GradientShap(call.forward).attribute(
        call.inputs, baselines=baselines, n_samples=n_samples, stdevs=float(o["stdevs"]), target=call.target,
        return_convergence_delta=True)
    # Captum gives one delta per (input, sample), samples of an input adjacent: average per input.
    return attributions, delta.reshape(call.inputs.shape[0], n_samples).mean(1)


def _deeplift(call: MethodCall):
    return DeepLift(call.forward, multiply_by_inputs=True).attribute(
        call.inputs, baselines=call.baseline, target=call.target, return_convergence_delta=True)


def _guided_backprop(call: MethodCall):
    return GuidedBackprop(call.forward).attribute(call.inputs, target=call.target), None


def _deconvolution(call: MethodCall):
    return Deconvolution(call.forward).attribute(call.inputs, target=call.target), None


def _grad_cam(call: MethodCall):
    o = call.options
    mode = _choice("grad_cam", "interpolate_mode", o["interpolate_mode"], GRAD_CAM_MODES)
    layer_map = LayerGradCam(call.forward, call.layer).attribute(
        call.inputs, target=call.target, relu_attributions=bool(o["relu_attributions"]))
    return LayerAttribution.interpolate(layer_map, tuple(call.inputs.shape[-2:]), interpolate_mode=mode), None


def _guided_grad_cam(call: MethodCall):
    mode = _choice("guided_grad_cam", "interpolate_mode", call.options["interpolate_mode"], GRAD_CAM_MODES)
    return GuidedGradCam(call.forward, call.layer).attribute(call.inputs, target=call.target,
                                                             interpolate_mode=mode), None


def occlusion_geometry(options: dict[str, Any], image_hw: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
    """Window and stride in pixels; by default a quarter of the image and half a window."""
    h, w = image_hw
    window = options.get("window")
    window = (max(1, h // 4), max(1, w // 4)) if window is None else _pair("occlusion", "window", window)
    if window[0] > h or window[1] > w:
        raise ResvizError(f"occlusion: window {window[0]}x{window[1]} is larger than the {h}x{w} image")
    stride = options.get("stride")
    stride = (max(1, window[0] // 2), max(1, window[1] // 2)) if stride is None else _pair("occlusion", "stride", stride)
    return window, stride


def _occlusion(call: MethodCall):
    o = call.options
    _positive_int("occlusion", "perturbations_per_eval", o["perturbations_per_eval"])
    channels = call.inputs.shape[1]
    window, stride = occlusion_geometry(o, tuple(call.inputs.shape[-2:]))
    baselines = 0.0 if call.baseline is None else call.baseline
    return Occlusion(call.forward).attribute(
        call.inputs, sliding_window_shapes=(channels, *window), strides=(1, *stride), baselines=baselines,
        target=call.target, perturbations_per_eval=o["perturbations_per_eval"]), None


# --- forward rows, for progress ------------------------------------------------------------


def _occlusion_rows(n: int, shape: tuple[int, ...], options: dict[str, Any]) -> int:
    (wh, ww), (sh, sw) = occlusion_geometry(options, (shape[-2], shape[-1]))
    windows = ((shape[-2] - wh) // sh + 1) * ((shape[-1] - ww) // sw + 1)
    return n + n * windows


METHODS: dict[str, MethodInfo] = {}


def register_method(info: MethodInfo) -> None:
    if info.name in METHODS:
        raise ValueError(f"attribution method {info.name!r} registered twice")
    if info.default_sign not in SIGNS:
        raise ValueError(f"{info.name}: default_sign {info.default_sign!r} is not one of {SIGNS}")
    METHODS[info.name] = info


register_method(MethodInfo(
    "saliency", "Saliency", "Saliency", "absolute input gradient of the target score (Simonyan et al. 2014)",
    _saliency, lambda n, s, o: n, options={"abs": True}, option_help={"abs": "absolute value of the gradient"},
    aliases=("gradient", "grad", "vanilla_gradient"), default_sign="positive"))
register_method(MethodInfo(
    "input_x_gradient", "Input x Gradient", "InputXGradient", "input times its gradient",
    _input_x_gradient, lambda n, s, o: n, aliases=("ixg", "input_x_grad", "gradient_x_input")))
register_method(MethodInfo(
    "integrated_gradients", "Integrated Gradients", "IntegratedGradients",
    "gradients integrated along the straight path from the baseline to the input (Sundararajan et al. 2017)",
    _integrated_gradients, lambda n, s, o: n * o["n_steps"] + 2 * n,
    # Captum's ``method`` is ``integration`` here: ``attribute(..., method=...)`` names the attribution method.
    options={"n_steps": 50, "integration": "gausslegendre", "internal_batch_size": None},
    option_help={"n_steps": "steps along the path", "integration": "integral approximation",
                 "internal_batch_size": "path points per forward pass (None: all at once)"},
    option_choices={"integration": INTEGRATIONS},
    aliases=("ig", "integrated_gradient"), uses_baseline=True, has_delta=True))
register_method(MethodInfo(
    "smoothgrad", "SmoothGrad", "NoiseTunnel(Saliency)",
    "saliency averaged over noisy copies of the input (Smilkov et al. 2017)",
    _smoothgrad, lambda n, s, o: n * o["nt_samples"],
    options={"nt_samples": 10, "stdevs": None, "nt_type": "smoothgrad", "nt_samples_batch_size": None, "abs": True},
    option_help={"nt_samples": "noisy samples per input", "stdevs": "noise std (None: 15% of the input range)",
                 "nt_type": "smoothgrad, smoothgrad_sq or vargrad", "nt_samples_batch_size": "samples per pass",
                 "abs": "absolute gradients"},
    option_choices={"nt_type": NOISE_TYPES},
    aliases=("noise_tunnel", "nt", "smooth_grad"), stochastic=True, default_sign="positive"))
register_method(MethodInfo(
    "gradient_shap", "GradientSHAP", "GradientShap",
    "expected gradients between random points on the baseline-input path (Lundberg & Lee 2017)",
    _gradient_shap, lambda n, s, o: n * o["n_samples"] * 3,
    options={"n_samples": 5, "stdevs": 0.0},
    option_help={"n_samples": "random path points per input", "stdevs": "noise added to each sample"},
    aliases=("gradshap", "shap"), stochastic=True, uses_baseline=True, has_delta=True))
register_method(MethodInfo(
    "deeplift", "DeepLIFT", "DeepLift", "contributions relative to the baseline by the rescale rule (Shrikumar et al. 2017)",
    _deeplift, lambda n, s, o: 4 * n, aliases=("deep_lift", "dl"), hooks_modules=True, uses_baseline=True,
    has_delta=True))
register_method(MethodInfo(
    "guided_backprop", "Guided Backprop", "GuidedBackprop",
    "gradient with negative signals cut at every ReLU (Springenberg et al. 2015)",
    _guided_backprop, lambda n, s, o: n, aliases=("guided_backpropagation", "gbp"), hooks_modules=True,
    hooks_relu_only=True))
register_method(MethodInfo(
    "deconvolution", "Deconvolution", "Deconvolution", "deconvnet: ReLUs applied to the backward signal (Zeiler & Fergus 2014)",
    _deconvolution, lambda n, s, o: n, aliases=("deconv", "deconvnet"), hooks_modules=True, hooks_relu_only=True))
register_method(MethodInfo(
    "grad_cam", "Grad-CAM", "LayerGradCam",
    "a layer's activations weighted by their mean gradient, upsampled to the input (Selvaraju et al. 2017)",
    _grad_cam, lambda n, s, o: n, options={"relu_attributions": True, "interpolate_mode": "bilinear"},
    option_help={"relu_attributions": "keep only positive evidence", "interpolate_mode": "upsampling mode"},
    option_choices={"interpolate_mode": GRAD_CAM_MODES},
    aliases=("gradcam", "layer_grad_cam", "cam"), needs_layer=True, default_sign="positive", input_gradients=False))
register_method(MethodInfo(
    "guided_grad_cam", "Guided Grad-CAM", "GuidedGradCam", "guided backprop times the Grad-CAM map",
    _guided_grad_cam, lambda n, s, o: 2 * n, options={"interpolate_mode": "nearest"},
    option_help={"interpolate_mode": "upsampling mode of the Grad-CAM map"},
    option_choices={"interpolate_mode": GRAD_CAM_MODES},
    aliases=("guided_gradcam", "ggc"), needs_layer=True, hooks_modules=True, hooks_relu_only=True))
register_method(MethodInfo(
    "occlusion", "Occlusion", "Occlusion", "drop in the target score when a window of the input is blanked out",
    _occlusion, _occlusion_rows, options={"window": None, "stride": None, "perturbations_per_eval": 16},
    option_help={"window": "window in pixels (None: a quarter of the image)",
                 "stride": "step in pixels (None: half a window)", "perturbations_per_eval": "windows per pass"},
    aliases=("occ", "sliding_window"), uses_baseline=True, input_gradients=False))

_ALIASES = {alias: info.name for info in METHODS.values() for alias in (info.name, *info.aliases)}


def list_methods() -> list[str]:
    """The registered methods' names, in registry order."""
    return list(METHODS)


def get_method(name: str) -> MethodInfo:
    """A method by its name or an alias (``ig``, ``gradcam``); ResvizError with the nearest names otherwise."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    if key in _ALIASES:
        return METHODS[_ALIASES[key]]
    raise ResvizError(f"unknown attribution method {name!r}{did_you_mean(key, _ALIASES)}; "
                      f"methods are {', '.join(METHODS)}")


def chunked_options(info: MethodInfo, options: dict[str, Any], n: int, chunks: int = 10) -> dict[str, Any]:
    """Split a long method into about ``chunks`` forward passes (when the caller did not choose a size),
    so progress can be reported and a cancel honoured between them."""
    options = dict(options)
    if info.name == "integrated_gradients" and options["internal_batch_size"] is None:
        options["internal_batch_size"] = n * max(1, math.ceil(options["n_steps"] / chunks))
    elif info.name == "smoothgrad" and options["nt_samples_batch_size"] is None:
        options["nt_samples_batch_size"] = max(1, math.ceil(options["nt_samples"] / chunks))
    return options
