"""Choosing the layer of a layer method (Grad-CAM) by its module qualified name."""

from __future__ import annotations

from torch import nn

from ..errors import ResvizError, nearest_names
from .prepare import CallSites, ModelAnalysis, PreparedModel


def layer_names(model: nn.Module) -> list[str]:
    """Every module's qualified name, as the graph and the recorder name them."""
    return [name for name, _ in model.named_modules() if name]


def find_layer(prepared: PreparedModel, name: str, analysis: ModelAnalysis) -> nn.Module:
    """The prepared model's module called ``name``; a clear error when there is none or it is ambiguous."""
    try:
        module = prepared.model.get_submodule(name) if name else prepared.model
    except AttributeError:
        candidates = [n for n in layer_names(prepared.model) if not isinstance(prepared.model.get_submodule(n), CallSites)]
        close = nearest_names(name, candidates, n=5)
        hint = f"; nearest: {', '.join(close)}" if close else f"; layers include {', '.join(candidates[:6])}"
        raise ResvizError(f"the model has no layer {name!r}{hint}") from None
    if isinstance(module, CallSites):
        raise ResvizError(f"layer {name!r} runs {module.count} times per forward pass (one module reused), so a "
                          f"layer method cannot tell its calls apart; choose one call: {', '.join(module.call_names())}")
    if analysis.calls.get(name, 0) == 0 and name:
        raise ResvizError(f"layer {name!r} is not used in the model's forward pass")
    return module


def check_spatial(analysis: ModelAnalysis, name: str, method_title: str) -> tuple[int, ...]:
    """The layer's output shape, or ResvizError when it has no spatial map to localise with."""
    shape = analysis.output_shapes.get(name)
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
    the last one is the default. Found with one probe forward pass (cached)."""
    analysis = _analysis(model, input_shape)
    return [name for name in analysis.spatial_layers() if name]


def validate_layer(model: nn.Module, name: str, method: str = "grad_cam",
                   input_shape: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """The layer's output shape when ``method`` can use it; the same ResvizError ``attribute`` would
    raise otherwise (unknown name with the nearest ones, reused module, no spatial output)."""
    from .methods import get_method
    from .prepare import prepare_model

    info = get_method(method)
    analysis = _analysis(model, input_shape)
    find_layer(prepare_model(model), name, analysis)
    return check_spatial(analysis, name, info.title)


def _analysis(model: nn.Module, input_shape: tuple[int, ...] | None) -> ModelAnalysis:
    import torch

    from .inputs import model_device, model_input_shape
    from .prepare import prepare_model

    shape = input_shape or model_input_shape(model)
    if shape is None:
        raise ResvizError("the model declares no input_shape; give the (C, H, W) of its inputs")
    example = torch.zeros(1, *shape, device=model_device(model))
    return prepare_model(model).analyse(example)
