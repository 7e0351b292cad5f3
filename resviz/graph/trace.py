"""``trace_graph``: a model and an example input to an ``OpGraph``.

torch.fx first (exact, and the plain twin can rewrite its graph); where fx fails
(data-dependent control flow, untraceable user code) one forward pass watched by hooks and
a TorchFunctionMode. Both run on a copy of the module tree (the model itself is never
touched, so other threads may use it meanwhile) and compute shapes on the meta device when
the model allows it, on the model's own device otherwise. A forward pass that fails is
explained by the shape doctor and raised as a ``ResvizError`` (``ShapeError`` for shape
mismatches); a partial graph is never returned. A model read from a file that holds its graph (an ONNX
file, a torch.export program: ``resviz_graph_source``) is not traced: its graph is read.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ..errors import ResvizError
from .doctor import explain_forward_error, record_forward
from .execution import eval_mode, example_args, model_device, to_device, to_meta, tracing_copy
from .opgraph import OpGraph, collect_module_info
from .trace_fx import FxTraceFailed, build_opgraph, run_shapes, symbolic_graph

TRACERS = ("auto", "fx", "hooks")


def trace_graph(model: nn.Module, example_input: Any = None, *, tracer: str = "auto") -> OpGraph:
    """Trace ``model`` on ``example_input`` (a tensor, tuple of tensors, a shape, or None for the
    model's ``input_shape``). ``tracer`` forces "fx" or "hooks"; "auto" tries fx first."""
    if not isinstance(model, nn.Module):
        raise ResvizError(f"trace_graph needs a torch.nn.Module, got {type(model).__name__}")
    if tracer not in TRACERS:
        raise ResvizError(f"tracer {tracer!r} is not one of {', '.join(TRACERS)}")
    source = getattr(model, "resviz_graph_source", None)
    if source is not None:  # a model read from a file that holds its graph (ONNX, torch.export)
        return read_file_graph(*source)
    args = example_args(model, example_input)
    model_type = type(model).__name__
    reason: str | None = None
    if tracer in ("auto", "fx"):
        with tracing_copy(model, "meta") as (copy, _):
            info = collect_module_info(copy)
            with eval_mode(copy, info.modules.values()):
                try:
                    graph = symbolic_graph(copy, len(args))
                except FxTraceFailed as exc:
                    if tracer == "fx":
                        raise ResvizError(exc.reason) from exc
                    reason = exc.reason
                else:
                    try:
                        interpreter = run_shapes(copy, graph, to_meta(args), meta=True)
                        return build_opgraph(graph, interpreter, info).build("fx", None, model_type, "meta")
                    except Exception:  # noqa: BLE001 - not runnable on meta: run it for real below
                        pass
        if reason is None:
            return _fx_on_device(model, args, model_type)
    recorder, device = record_forward(model, args)
    return recorder.builder.build("hooks", reason or "the forward-pass tracer was asked for", model_type, device)


def read_file_graph(kind: str, payload: Any) -> OpGraph:
    """The op graph a model file holds: ``("onnx", ModelProto)`` or ``("export", ExportedProgram)``."""
    if kind == "onnx":
        from .onnx_reader import read_onnx

        return read_onnx(payload)
    if kind == "export":
        from .export_reader import read_exported_program

        return read_exported_program(payload)
    raise ResvizError(f"unknown model file graph {kind!r}")


def _fx_on_device(model: nn.Module, args: tuple[Any, ...], model_type: str) -> OpGraph:
    device = model_device(model)
    with tracing_copy(model, "real") as (copy, _):
        info = collect_module_info(copy)
        with eval_mode(copy, info.modules.values()):
            graph = symbolic_graph(copy, len(args))
            try:
                interpreter = run_shapes(copy, graph, to_device(args, device), meta=False)
            except Exception as exc:  # noqa: BLE001 - explained by the shape doctor
                raise explain_forward_error(model, args, exc).to_error() from exc
            return build_opgraph(graph, interpreter, info).build("fx", None, model_type, str(device))
