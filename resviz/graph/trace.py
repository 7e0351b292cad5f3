"""``trace_graph``: a model and an example input to an ``OpGraph``.

torch.fx first (exact, and the plain twin can rewrite its graph); where fx fails
(data-dependent control flow, untraceable user code) one forward pass watched by hooks and
a TorchFunctionMode. Both compute shapes on the meta device when the model allows it and
on the model's own device otherwise. A forward pass that fails is explained by the shape
doctor and raised as a ``ResvizError`` (``ShapeError`` for shape mismatches); a partial
graph is never returned.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ..errors import ResvizError
from .execution import eval_mode, example_args, model_device, swapped_tensors, to_device, to_meta
from .opgraph import OpGraph, collect_module_info
from .trace_fx import FxTraceFailed, build_opgraph, run_shapes, symbolic_graph
from .trace_hooks import ForwardRecorder

TRACERS = ("auto", "fx", "hooks")


def trace_graph(model: nn.Module, example_input: Any = None, *, tracer: str = "auto") -> OpGraph:
    """Trace ``model`` on ``example_input`` (a tensor, tuple of tensors, a shape, or None for the
    model's ``input_shape``). ``tracer`` forces "fx" or "hooks"; "auto" tries fx first."""
    if not isinstance(model, nn.Module):
        raise ResvizError(f"trace_graph needs a torch.nn.Module, got {type(model).__name__}")
    if tracer not in TRACERS:
        raise ResvizError(f"tracer {tracer!r} is not one of {', '.join(TRACERS)}")
    args = example_args(model, example_input)
    info = collect_module_info(model)
    model_type = type(model).__name__
    with eval_mode(model, info.modules.values()):
        reason: str | None = None
        if tracer in ("auto", "fx"):
            try:
                graph = symbolic_graph(model, len(args))
            except FxTraceFailed as exc:
                if tracer == "fx":
                    raise ResvizError(exc.reason) from exc
                reason = exc.reason
            else:
                interpreter, device = _shapes_with_fx(model, graph, args, list(info.modules.values()))
                return build_opgraph(graph, interpreter, info).build("fx", None, model_type, device)
        if reason is None:
            reason = "the forward-pass tracer was asked for"
        recorder, device = record_forward(model, args, info)
        return recorder.builder.build("hooks", reason, model_type, device)


def _shapes_with_fx(model: nn.Module, graph: Any, args: tuple[Any, ...],
                    modules: list[nn.Module]) -> tuple[Any, str]:
    try:
        with swapped_tensors(modules, "meta"):
            return run_shapes(model, graph, to_meta(args), meta=True), "meta"
    except Exception:  # noqa: BLE001 - not runnable on meta: run it for real below
        pass
    device = model_device(model)
    try:
        with swapped_tensors(modules, "buffers"):
            return run_shapes(model, graph, to_device(args, device), meta=False), str(device)
    except Exception as exc:  # noqa: BLE001 - explained by the shape doctor
        from .doctor import explain_forward_error

        raise explain_forward_error(model, args, exc).to_error() from exc


def record_forward(model: nn.Module, args: tuple[Any, ...], info: Any = None) -> tuple[ForwardRecorder, str]:
    """One recorded forward pass, on meta if it runs there, else on the model's device.

    Raises the shape doctor's error when the pass fails on the real device too.
    """
    info = info or collect_module_info(model)
    with eval_mode(model, info.modules.values()):
        return _record_forward(model, args, info)


def _record_forward(model: nn.Module, args: tuple[Any, ...], info: Any) -> tuple[ForwardRecorder, str]:
    modules = list(info.modules.values())
    try:
        with swapped_tensors(modules, "meta") as parameter_ids:
            recorder = ForwardRecorder(model, info, meta=True, param_ids=parameter_ids)
            recorder.run(to_meta(args), model)
        return recorder, "meta"
    except Exception:  # noqa: BLE001 - not runnable on meta: run it for real below
        pass
    device = model_device(model)
    with swapped_tensors(modules, "buffers") as parameter_ids:
        recorder = ForwardRecorder(model, info, meta=False, param_ids=parameter_ids)
        try:
            recorder.run(to_device(args, device), model)
        except Exception as exc:  # noqa: BLE001 - explained by the shape doctor
            from .doctor import report_failure

            raise report_failure(model, args, recorder, exc).to_error() from exc
    return recorder, str(device)
