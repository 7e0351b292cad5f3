"""Choosing the layer of a layer method (Grad-CAM) by its module qualified name."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from torch import nn

from ..errors import ResvizError, nearest_names
from .prepare import CallSites, ModelAnalysis, PreparedModel


def layer_names(model: nn.Module) -> list[str]:
    """Every module's qualified name, as the graph and the recorder name them."""
    return [name for name, _ in model.named_modules() if name]


@dataclass(frozen=True)
class ResolvedLayer:
    module: nn.Module
    analysis_name: str       # the name the probe recorded it under (a call site of a reused module)
    note: str | None = None


_CALL = re.compile(r"^(?P<base>.*):(?P<index>\d+)$")


def find_layer(prepared: PreparedModel, name: str, analysis: ModelAnalysis) -> ResolvedLayer:
    """The prepared model's module called ``name``, or a clear error.

    Names are the graph's node ids: a module's qualified name (its first call, when the forward
    pass calls it several times) or ``name:k`` for its call k (counted from 0), as the graph
    names the later calls of a reused module.
    """
    match = _CALL.match(name)
    base, index = (match["base"], int(match["index"])) if match else (name, None)
    module = _lookup(prepared, base, name)
    if isinstance(module, CallSites):
        k = 0 if index is None else index
        if k >= module.count:
            raise ResvizError(f"layer {base!r} runs {module.count} times per forward pass; calls are "
                              f"{', '.join(f'{base}:{i}' for i in range(module.count))}")
        note = None
        if index is None:
            note = (f"{base} runs {module.count} times per forward pass (a reused module): explained its first "
                    f"call; {base}:1 names the next")
        return ResolvedLayer(getattr(module, f"call{k + 1}"), f"{base}.call{k + 1}", note)
    if index not in (None, 0):
        raise ResvizError(f"layer {base!r} runs once per forward pass; there is no call {name!r}")
    if analysis.calls.get(base, 0) == 0 and base:
        raise ResvizError(f"layer {base!r} is not used in the model's forward pass")
    return ResolvedLayer(module, base)


def _lookup(prepared: PreparedModel, base: str, name: str) -> nn.Module:
    try:
        return prepared.model.get_submodule(base) if base else prepared.model
    except AttributeError:
        pass
    candidates = [n for n, m in prepared.model.named_modules() if n and not isinstance(m, CallSites)
                  and ".call" not in n.rsplit(".", 1)[-1][:5]]
    close = nearest_names(name, candidates, n=5)
    hint = f"; nearest: {', '.join(close)}" if close else f"; layers include {', '.join(candidates[:6])}"
    scope, _, last = base.rpartition(".")
    if last and re.fullmatch(r"[a-z_]+(_\d+)?", last) and _is_module(prepared.model, scope) and not difflib.get_close_matches(
            last, list(_module_or_none(prepared.model, scope)._modules), n=1, cutoff=0.8):
        # The graph also shows functions (``layer1.0.add``); layer methods hook modules.
        where = f"in {scope}" if scope else "in the model's forward"
        raise ResvizError(f"{name!r} is not a module of the model (a function applied {where}?); layer methods "
                          f"need a module{f', such as {scope} itself' if scope else ''}{hint}")
    raise ResvizError(f"the model has no layer {name!r}{hint}")


def _module_or_none(model: nn.Module, name: str) -> nn.Module | None:
    try:
        return model.get_submodule(name) if name else model
    except AttributeError:
        return None


def _is_module(model: nn.Module, name: str) -> bool:
    try:
        model.get_submodule(name)
        return True
    except AttributeError:
        return False


def check_spatial(analysis: ModelAnalysis, name: str, method_title: str, shown: str | None = None) -> tuple[int, ...]:
    """The layer's output shape, or ResvizError when it has no spatial map to localise with."""
    shape = analysis.output_shapes.get(name)
    name = shown or name
    if shape is not None and len(shape) == 4 and shape[2] * shape[3] > 1:
        return shape
    suggestion = _suggest(analysis)
    if shape is None:
        raise ResvizError(f"{method_title} needs a layer whose output is one (N, C, H, W) tensor; {name!r} returns "
                          f"something else{suggestion}")
    if len(shape) != 4:
        shown = "(N, " + ", ".join(map(str, shape[1:])) + ")"
        raise ResvizError(f"{method_title} needs a layer with spatial output (N, C, H, W); {name!r} has no spatial "
                          f"output: it gives {shown}{suggestion}")
    if shape[2] * shape[3] <= 1:
        raise ResvizError(f"{method_title} needs a layer with spatial output; {name!r} gives (N, {shape[1]}, 1, 1), "
                          f"a single position with nothing to localise{suggestion}")
    return shape


def default_layer(analysis: ModelAnalysis, method_title: str = "Grad-CAM") -> str:
    """The last module with a spatial output: for ResNets the last stage (``layer3``, ``layer4``)."""
    spatial = [name for name in analysis.spatial_layers() if name]
    if not spatial:
        raise ResvizError(f"{method_title} needs a layer with spatial output (N, C, H, W) and this model has none")
    return spatial[-1]


def _suggest(analysis: ModelAnalysis) -> str:
    spatial = [name for name in analysis.spatial_layers() if name]
    return f"; try {spatial[-1]} (the last layer with a spatial output)" if spatial else ""


def grad_cam_layers(model: nn.Module, input_shape: tuple[int, ...] | None = None) -> list[str]:
    """The layers Grad-CAM can use (a spatial (N, C, H, W) output larger than 1x1), in forward order;
    the last one is the default. Found with one probe forward pass (cached). ``nn.Identity`` modules
    (a norm layer switched off, ``norm="none"``) are left out: they only pass on the layer before them."""
    analysis = _analysis(model, input_shape)
    modules = dict(model.named_modules())
    return [name for name in analysis.spatial_layers()
            if name and not isinstance(modules.get(name), nn.Identity)]


def validate_layer(model: nn.Module, name: str, method: str = "grad_cam",
                   input_shape: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """The layer's output shape when ``method`` can use it; the same ResvizError ``attribute`` would
    raise otherwise (unknown name with the nearest ones, reused module, no spatial output)."""
    from .methods import get_method
    from .prepare import prepare_model

    info = get_method(method)
    analysis = _analysis(model, input_shape)
    resolved = find_layer(prepare_model(model), name, analysis)
    return check_spatial(analysis, resolved.analysis_name, info.title, shown=name)


def _analysis(model: nn.Module, input_shape: tuple[int, ...] | None) -> ModelAnalysis:
    import torch

    from .inputs import model_device, model_input_shape
    from .prepare import prepare_model

    shape = input_shape or model_input_shape(model)
    if shape is None:
        raise ResvizError("the model declares no input_shape; give the (C, H, W) of its inputs")
    example = torch.zeros(1, *shape, device=model_device(model))
    return prepare_model(model).analyse(example)
