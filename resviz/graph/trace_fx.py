"""The first tracer: torch.fx's symbolic trace, then one pass of an interpreter for shapes."""

from __future__ import annotations

import operator
import threading
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx as fx
from torch import nn

from ..errors import one_line
from .execution import unbound_parameters
from .fast_meta import FastMetaMode
from .opgraph import ModuleInfo, OpGraphBuilder
from .ops import function_flops, is_leaf_module, module_flops, op_name, shape_of, tensors_in


class FxTraceFailed(Exception):
    """torch.fx could not trace the model; ``reason`` says why in one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Tracer(fx.Tracer):
    """fx's tracer with our leaf rule, and blind to other threads.

    While it traces, torch.fx patches ``nn.Module.__call__`` and ``__getattr__`` for the whole
    process; a model running in another thread meanwhile (attribution beside the window's
    trace) must run as usual, not end up in this graph.
    """

    def __init__(self) -> None:
        super().__init__()
        self._thread = threading.get_ident()

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return is_leaf_module(m)

    def call_module(self, m: nn.Module, forward: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if threading.get_ident() != self._thread:
            return forward(*args, **kwargs)
        return super().call_module(m, forward, args, kwargs)

    def getattr(self, attr: str, attr_val: Any, parameter_proxy_cache: dict[str, Any]) -> Any:
        if threading.get_ident() != self._thread:
            return attr_val
        return super().getattr(attr, attr_val, parameter_proxy_cache)


def symbolic_graph(model: nn.Module, n_args: int) -> fx.Graph:
    """torch.fx's graph of ``model`` with our leaf rule (its targets name the model's own modules);
    raises ``FxTraceFailed``."""
    tracer = _Tracer()
    concrete = unbound_parameters(model, n_args)
    try:
        return tracer.trace(model, concrete_args=concrete or None)
    except Exception as exc:  # noqa: BLE001 - any failure means: use the other tracer
        raise FxTraceFailed(f"torch.fx cannot trace {type(model).__name__}.forward: {one_line(exc)}") from exc


def symbolic_trace(model: nn.Module, n_args: int) -> fx.GraphModule:
    """``symbolic_graph`` as a runnable (and rewritable) GraphModule."""
    graph = symbolic_graph(model, n_args)
    return fx.GraphModule(model, graph, type(model).__name__)


@dataclass
class _Value:
    has_tensors: bool
    container: bool  # a tuple, list or dict (getitem on it picks an element, not a slice)
    shape: Any
    tensor_shapes: list[tuple[int, ...]]


class ShapeInterpreter(fx.Interpreter):
    """Runs the graph once and keeps each node's output shape (not its value)."""

    def __init__(self, root: nn.Module, graph: fx.Graph | None = None) -> None:
        super().__init__(root, graph=graph)
        self.values: dict[fx.Node, _Value] = {}
        self.failed_node: fx.Node | None = None

    def run_node(self, n: fx.Node) -> Any:
        try:
            result = super().run_node(n)
        except Exception:
            self.failed_node = n
            raise
        tensors = tensors_in(result)
        self.values[n] = _Value(bool(tensors), isinstance(result, (tuple, list, dict)), shape_of(result),
                                [tuple(int(d) for d in t.shape) for t in tensors])
        return result


def run_shapes(root: nn.Module, graph: fx.Graph | None, args: tuple[Any, ...], meta: bool) -> ShapeInterpreter:
    """Run ``graph`` (``root``'s own graph when None) over ``root``'s modules once, keeping shapes."""
    interpreter = ShapeInterpreter(root, graph)
    if meta:
        with FastMetaMode():
            interpreter.run(*args)
    else:
        interpreter.run(*args)
    return interpreter


def _scope(node: fx.Node) -> str:
    stack = node.meta.get("nn_module_stack")
    if not stack:
        return ""
    qualname = next(reversed(stack.values()))[0]
    return qualname if isinstance(qualname, str) else str(qualname)


def _is_inplace(node: fx.Node) -> bool:
    if node.op == "call_method":
        name = str(node.target)
        return name.endswith("_") and not name.startswith("__")
    return node.op == "call_function" and node.target in (operator.iadd, operator.isub, operator.imul)


def build_opgraph(graph: fx.Graph, interpreter: ShapeInterpreter, info: ModuleInfo,
                  ids: dict[fx.Node, str | None] | None = None,
                  arg_ids: dict[fx.Node, dict[fx.Node, str | None]] | None = None) -> OpGraphBuilder:
    """The op graph of a traced and interpreted fx graph over the model ``info`` describes.

    ``ids`` (if given) receives each fx node's op node id (None for sizes and other metadata);
    ``arg_ids`` the op node ids each fx node's inputs had when it ran (an in-place op changes
    what later readers of its input read).
    """
    builder = OpGraphBuilder(info)
    values = interpreter.values
    parameter_names = {f"{module}.{name}" if module else name
                       for module, m in info.modules.items() for name, _ in m.named_parameters(recurse=False)}
    ids = {} if ids is None else ids
    param_shapes: dict[fx.Node, tuple[int, ...]] = {}
    # fx nodes that are one tensor (an Identity hands back its input): an in-place op on one
    # changes what readers of all of them read, as the forward-pass tracer sees it.
    aliases: dict[fx.Node, list[fx.Node]] = {}

    def sources_of(node: fx.Node) -> tuple[list[str], list[tuple[int, ...]], list[tuple[int, ...]]]:
        sources, shapes, params = [], [], []
        for arg in node.all_input_nodes:
            if arg in param_shapes:
                params.append(param_shapes[arg])
                continue
            source = ids.get(arg)
            if source is None:
                continue
            sources.append(source)
            shapes.extend(values[arg].tensor_shapes if arg in values else [])
        return sources, shapes, params

    for node in graph.nodes:
        if arg_ids is not None:
            arg_ids[node] = {arg: ids.get(arg) for arg in node.all_input_nodes}
        value = values.get(node)
        if node.op == "placeholder":
            ids[node] = builder.add_input(value.shape) if value is not None and value.has_tensors else None
        elif node.op == "get_attr":
            ids[node] = None
            if node.target in parameter_names and value is not None and value.tensor_shapes:
                param_shapes[node] = value.tensor_shapes[0]
        elif node.op == "output":
            sources, _, _ = sources_of(node)
            builder.add_output(sources, value.shape if value is not None else None)
        elif value is None or not value.has_tensors:
            ids[node] = None  # sizes, dtypes, flags: metadata, not data flow
        elif node.op == "call_module" and str(node.target) in info.no_ops:
            source = node.args[0] if node.args else next(iter(node.kwargs.values()), None)
            ids[node] = ids.get(source) if isinstance(source, fx.Node) else None
            if isinstance(source, fx.Node):
                group = aliases.setdefault(source, [source])
                group.append(node)
                aliases[node] = group
        elif node.op == "call_module":
            sources, in_shapes, _ = sources_of(node)
            module = info.modules[str(node.target)]
            flops = module_flops(module, in_shapes, value.shape)
            ids[node] = builder.add_module_call(str(node.target), sources, value.shape, flops, fx_name=node.name)
        else:
            op = op_name(node.target)
            first = node.all_input_nodes[0] if node.all_input_nodes else None
            if op == "getitem" and first is not None and first in values and values[first].container:
                ids[node] = ids.get(first)  # picking an element of a tuple or dict: the same data
                continue
            sources, in_shapes, params = sources_of(node)
            param_count = sum(int(torch.Size(s).numel()) for s in params)
            flops = function_flops(op, in_shapes, value.shape, params)
            ids[node] = builder.add_function(_scope(node), op, sources, value.shape, param_count, flops,
                                             fx_name=node.name)
            if _is_inplace(node) and node.args and isinstance(node.args[0], fx.Node):
                for mutated in aliases.get(node.args[0], [node.args[0]]):
                    ids[mutated] = ids[node]  # later readers of the mutated tensor read this op's result
    return builder
