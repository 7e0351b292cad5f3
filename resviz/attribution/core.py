"""``attribute``: one function for every method, one result type, progress and cancel."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ResvizError
from ..limits import check_seed
from ..work import CancelEvent, ProgressCallback
from .inputs import as_batch, fit_inputs, model_device, model_input_shape
from .layer_choice import check_spatial, default_layer, find_layer
from .methods import MethodCall, MethodInfo, chunked_options, get_method
from .prepare import ModelAnalysis, PreparedModel, model_failure, prepare_model


class AttributionCancelled(ResvizError):
    """The caller's cancel event was set; raised between two forward passes."""





@dataclass
class AttributionResult:
    """What ``attribute`` returns: numpy only, ready to render or to send across threads.

    ``maps`` is the per-pixel map (N, H, W), the channels of ``raw`` summed; ``raw`` is Captum's
    attribution (N, C, H, W) (C = 1 for Grad-CAM, upsampled to the input). ``target`` holds the
    class explained for each input; ``delta`` Captum's convergence delta (N,) where it gives one
    (integrated gradients, DeepLift, GradientSHAP). ``notes`` says what was done to the inputs or
    model on the way (conversions, prepared call sites) and any caveat of the method.
    """

    maps: np.ndarray
    raw: np.ndarray
    method: str
    title: str
    target: np.ndarray
    layer: str | None
    seconds: float
    delta: np.ndarray | None = None
    options: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    default_sign: str = "all"

    def __len__(self) -> int:
        return int(self.maps.shape[0])

    @property
    def label(self) -> str:
        """A short caption, e.g. "Grad-CAM (layer3)"."""
        return f"{self.title} ({self.layer})" if self.layer else self.title


class _Progress:
    """Counts the rows the forward passes see and reports them as a fraction; raises on cancel."""

    def __init__(self, total_rows: int, progress: ProgressCallback | None, cancel: CancelEvent | None) -> None:
        self.total = max(1, total_rows)
        self.done = 0
        self.progress = progress
        self.cancel = cancel

    def check(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise AttributionCancelled("attribution cancelled")

    def before_forward(self, rows: int) -> None:
        self.check()
        if self.progress is not None:
            self.progress(min(0.99, self.done / self.total))
        self.done += rows

    def finish(self) -> None:
        if self.progress is not None:
            self.progress(1.0)


class ObservedForward(nn.Module):
    """The model as Captum sees it: each forward pass checks cancel, reports progress, and runs
    through the prepared model's call sites. Extra modules (functional-site stand-ins) are
    children here so that Captum's hooks reach them."""

    def __init__(self, model: nn.Module, extra: Sequence[nn.Module] = ()) -> None:
        super().__init__()
        self.model = model
        self.extra = nn.ModuleList(list(extra))
        self._run: Callable[[Callable[[], Any]], Any] = lambda forward: forward()
        self._tracker: _Progress | None = None

    def bind(self, run: Callable[[Callable[[], Any]], Any], tracker: _Progress) -> ObservedForward:
        """Attach one attribution's runner and progress (the prepared model's lock is held meanwhile)."""
        self._run, self._tracker = run, tracker
        return self

    def unbind(self) -> None:
        self._run, self._tracker = (lambda forward: forward()), None

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        first = args[0] if args else None
        if self._tracker is not None:
            self._tracker.before_forward(int(first.shape[0]) if isinstance(first, Tensor) and first.dim() else 1)
        return self._run(lambda: self.model(*args, **kwargs))


def _targets(target: Any, n: int, device: torch.device) -> Tensor | None:
    if target is None:
        return None
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        return torch.full((n,), int(target), dtype=torch.long, device=device)
    if isinstance(target, Tensor) and not target.is_floating_point() and target.dim() <= 1:
        target = target.detach().to(device=device, dtype=torch.long).reshape(-1)
        if target.numel() == 1:
            return target.expand(n).clone()
        if target.numel() != n:
            raise ResvizError(f"target must be one class index or one per input ({n}); got {target.numel()}")
        return target
    if isinstance(target, Tensor):
        values = target.detach().cpu().reshape(-1).tolist()
    elif isinstance(target, (Sequence, np.ndarray)) and not isinstance(target, str):
        values = list(np.asarray(target).reshape(-1).tolist())
    else:
        raise ResvizError(f"target {target!r} is not a class index or a sequence of class indices")
    if len(values) == 1:
        values = values * n
    if len(values) != n or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise ResvizError(f"target must be one class index or one per input ({n}); got {target!r}")
    return torch.tensor(values, dtype=torch.long, device=device)


def _check_targets(targets: Tensor, num_outputs: int | None) -> None:
    """Every target a class index the model's output has (no negative index from the end)."""
    values = targets.tolist()
    bad = [t for t in values if t < 0 or (num_outputs is not None and t >= num_outputs)]
    if not bad:
        return
    if num_outputs is None:
        raise ResvizError(f"target class {bad[0]} is out of range: class indices start at 0")
    raise ResvizError(f"target class {bad[0]} is out of range: the model has {num_outputs} outputs "
                      f"(0 to {num_outputs - 1})")


def _predict(forward: nn.Module, x: Tensor) -> Tensor:
    with torch.no_grad():
        out = forward(x)
    if not isinstance(out, Tensor) or out.dim() != 2:
        shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ResvizError(f"the model's output {shape} is not (N, classes); give the target explicitly")
    return out.argmax(1)


def gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    radius = max(1, int(round(3 * sigma)))
    grid = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (grid / sigma) ** 2)
    kernel = kernel / kernel.sum()
    channels = x.shape[1]
    padded = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    out = F.conv2d(padded, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    return F.conv2d(out, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


def _baseline(baseline: Any, x: Tensor, info: MethodInfo) -> Tensor | float | None:
    """Captum baselines from what the caller gave: None/"zeros" (zero), a number, "blur", or images."""
    if baseline is None or (isinstance(baseline, str) and baseline == "zeros"):
        return None
    if isinstance(baseline, str):
        if baseline == "blur":
            return gaussian_blur(x, sigma=max(1.0, x.shape[-1] / 16)).detach()
        raise ResvizError(f"baseline {baseline!r} is not 'zeros', 'blur', a number or an image tensor")
    if isinstance(baseline, (int, float)) and not isinstance(baseline, bool):
        return float(baseline)
    tensor = torch.as_tensor(np.asarray(baseline) if isinstance(baseline, np.ndarray) else baseline)
    tensor = tensor.to(device=x.device, dtype=x.dtype)
    if tensor.dim() == 3:
        tensor = tensor[None]
    if tensor.dim() != 4 or tuple(tensor.shape[1:]) != tuple(x.shape[1:]):
        raise ResvizError(f"baseline of shape {tuple(tensor.shape)} does not match the inputs {tuple(x.shape[1:])}")
    if info.name != "gradient_shap" and tensor.shape[0] not in (1, x.shape[0]):
        raise ResvizError(f"baseline batch of {tensor.shape[0]} must be 1 or one per input ({x.shape[0]})")
    return tensor


@contextmanager
def _quiet(enabled: bool):
    """Without Captum's notices that it hooks the model's modules (the hook-based methods only)."""
    if not enabled:
        yield
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_CAPTUM_NOTICES)
        yield


@contextmanager
def _seeded(seed: int | None, device: torch.device):
    if seed is None:
        yield
        return
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(check_seed(seed))
        yield


def _method_notes(info: MethodInfo, analysis: ModelAnalysis | None) -> list[str]:
    if analysis is None or not info.hooks_modules:
        return []
    notes = []
    if analysis.reused:
        notes.append("each call of a reused module got its own copy: "
                     + ", ".join(f"{name} ({count} calls)" for name, count in analysis.reused.items()))
    relevant = [s for s in analysis.functional_sites if not info.hooks_relu_only or s.kind == "relu"]
    if relevant:
        notes.append(f"{len(relevant)} functional nonlinearities given their own modules (e.g. {relevant[0].describe()})")
    if analysis.inplace_modules:
        notes.append(f"in-place switched off for {len(analysis.inplace_modules)} modules")
    if info.name == "deeplift" and analysis.unruled_nonlinear:
        notes.append("DeepLIFT has no rule for " + ", ".join(analysis.unruled_nonlinear[:3])
                     + (" ..." if len(analysis.unruled_nonlinear) > 3 else "")
                     + ": it passes their plain gradient, so the map is approximate there (see the delta)")
    return notes


def _check_sites(info: MethodInfo, analysis: ModelAnalysis) -> None:
    relevant = [s for s in analysis.functional_sites if (not info.hooks_relu_only or s.kind == "relu")]
    stuck = [s for s in relevant if not s.replaceable]
    if stuck:
        raise ResvizError(f"{info.name}: the model applies {stuck[0].describe()} in a form that cannot be given a "
                          f"module, so {info.title} would silently skip it; use an nn module for it or choose "
                          f"saliency or integrated_gradients")


# Captum's notices about what it does to the inputs and modules: expected here, noise for users.
_CAPTUM_NOTICES = (r"(Setting backward hooks on ReLU activations|Input Tensor \d+ did not already require gradients"
                   r"|Setting forward, backward hooks and attributes on non-linear)")


def attribute(model: nn.Module, inputs: Tensor | np.ndarray, target: Any = None, method: str = "saliency", *,
              layer: str | None = None, baseline: Any = None, progress: ProgressCallback | None = None,
              cancel: CancelEvent | None = None, seed: int | None = None, convert: bool = True,
              **method_options: Any) -> AttributionResult:
    """Attribute ``model``'s score for ``target`` to the pixels of ``inputs`` with one Captum method.

    - ``inputs``: float images as the model sees them, (N, C, H, W), (C, H, W) or (H, W); images of
      another size or channel count are converted to the model's ``input_shape`` (noted in
      ``result.notes``) or, with ``convert=False``, refused.
    - ``target``: a class index, one per input, or None for the predicted class.
    - ``method``: a name of ``list_methods()`` or an alias (``ig``, ``gradcam``, ``smoothgrad`` ...).
    - ``layer``: for Grad-CAM / guided Grad-CAM, a module qualified name as the graph's node ids
      give them (``layer2.0``, ``layer2.0.conv1``; ``relu:1`` for the second call of a reused
      module); default: the last layer with a spatial output (``grad_cam_layers`` lists them).
    - ``baseline``: None or "zeros", a number, "blur" (a blurred copy of each input), or images.
    - ``progress(fraction)`` is called before each forward pass and with 1.0 at the end; a set
      ``cancel`` event stops the work before the next forward pass (``AttributionCancelled``). With
      either, long methods run in about ten chunks unless a batch size option was given.
    - ``seed`` makes the stochastic methods (smoothgrad, gradient_shap) repeatable without
      touching the global random state.
    - ``method_options``: the method's own options (``METHODS[name].options``).

    The model runs on an eval-mode copy that shares its weights; the model itself is never put
    into eval mode or hooked.
    """
    started = time.perf_counter()
    info = get_method(method)
    options = info.resolve_options(method_options)
    if layer is not None and not info.needs_layer:
        raise ResvizError(f"{info.name} takes no layer; layer methods are grad_cam and guided_grad_cam")
    if baseline is not None and not info.uses_baseline:
        raise ResvizError(f"{info.name} takes no baseline; methods with one are "
                          f"integrated_gradients, gradient_shap, deeplift and occlusion")
    if not isinstance(model, nn.Module):
        raise ResvizError(f"model must be a torch.nn.Module, not {type(model).__name__}")
    x = as_batch(inputs)
    x, notes = fit_inputs(x, model_input_shape(model), convert=convert)
    device = model_device(model)
    x = x.to(device).detach()
    n = int(x.shape[0])
    targets = _targets(target, n, device)
    if progress is not None or cancel is not None:
        options = chunked_options(info, options, n)
    tracker = _Progress(info.rows(n, tuple(x.shape), options) + (n if targets is None else 0), progress, cancel)
    tracker.check()

    prepared: PreparedModel = prepare_model(model)
    analysis = prepared.analyse(x) if (info.hooks_modules or info.needs_layer) else None
    layer_name = None
    layer_module = None
    if info.needs_layer:
        layer_name = layer if layer is not None else default_layer(analysis, info.title)
        resolved = find_layer(prepared, layer_name, analysis)
        check_spatial(analysis, resolved.analysis_name, info.title, shown=layer_name)
        layer_module = resolved.module
        if resolved.note:
            notes.append(resolved.note)
    if info.hooks_modules:
        _check_sites(info, analysis)
    notes += _method_notes(info, analysis)
    captum_baseline = _baseline(baseline, x, info) if info.uses_baseline else None

    with prepared.running(analysis if info.hooks_modules else None, x) as run:
        sites = prepared.site_modules(x) if (info.hooks_modules and analysis is not None) else []
        forward = prepared.observed(ObservedForward, run, tracker, sites)
        try:
            if targets is not None:  # before any method runs: its own failure would hide the cause
                _check_targets(targets, prepared.num_outputs(x, run))
            else:
                targets = _predict(forward, x)
            # Inputs that already require gradients spare Captum's notice that it set the flag.
            call = MethodCall(forward, x.requires_grad_(info.input_gradients), targets, options, captum_baseline,
                              layer_module)
            with _quiet(info.hooks_modules), _seeded(seed, device):
                raw, delta = info.compute(call)
        except (ResvizError, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001 - the model's own failure becomes one line; others pass
            failure = model_failure(prepared.model, exc, tuple(x.shape))
            if failure is None:
                raise
            raise failure from exc
        finally:
            forward.unbind()  # drop the caller's callbacks
    raw = raw.detach()
    tracker.finish()
    raw_np = raw.float().cpu().numpy()
    return AttributionResult(
        maps=raw_np.sum(axis=1),
        raw=raw_np,
        method=info.name,
        title=info.title,
        target=targets.cpu().numpy().astype(np.int64),
        layer=layer_name,
        seconds=time.perf_counter() - started,
        delta=None if delta is None else delta.detach().float().cpu().numpy().reshape(-1),
        options=options,
        notes=notes,
        default_sign=info.default_sign,
    )


def predict(model: nn.Module, inputs: Tensor | np.ndarray, *, convert: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The model's predicted class and its softmax probability for each input (eval mode, on the
    same prepared copy ``attribute`` uses)."""
    x = as_batch(inputs)
    x, _ = fit_inputs(x, model_input_shape(model), convert=convert)
    x = x.to(model_device(model))
    prepared = prepare_model(model)
    with prepared.running(None, None) as run, torch.no_grad():
        try:
            out = run(lambda: prepared.model(x))
        except (ResvizError, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001
            failure = model_failure(prepared.model, exc, tuple(x.shape))
            if failure is None:
                raise
            raise failure from exc
    if not isinstance(out, Tensor) or out.dim() != 2:
        raise ResvizError("the model's output is not (N, classes), so it has no predicted class")
    probabilities = torch.softmax(out.float(), dim=1)
    best, classes = probabilities.max(1)
    return classes.cpu().numpy().astype(np.int64), best.cpu().numpy()
