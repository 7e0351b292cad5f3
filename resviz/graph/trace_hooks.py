"""The fallback tracer: one real forward pass watched by module hooks and a TorchFunctionMode.

Hooks tell which module is running and record leaf-module calls; the function mode sees the
functions and tensor methods called between them (``out + x``, ``torch.cat``, ``F.pad``).
Tensors are followed by identity, so data-dependent control flow, which torch.fx cannot
trace, is simply the branch this input took. The same pass tells the shape doctor where a
forward pass failed (``failure``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils import _pytree as pytree

from .fast_meta import NOT_HANDLED, fast_meta_result
from .hooks import forward_hooks
from .opgraph import ModuleInfo, OpGraphBuilder
from .ops import CONCAT_OPS, function_flops, module_flops, op_name, shape_of, tensors_in

_IN_PLACE_NAMES = frozenset({"setitem", "iadd", "isub", "imul", "itruediv"})


@dataclass
class CallFrame:
    """A module whose forward is running."""

    name: str
    sources: list[str | None]  # node ids of the tensors passed in
    shapes: list[tuple[int, ...]]


@dataclass
class FailurePoint:
    """Where a forward pass raised: the innermost running module and the op that raised."""

    module: str
    module_type: str
    op: str | None  # None when Python code raised rather than a torch op
    shapes: list[tuple[int, ...]]  # shapes of the op's tensor arguments
    sources: list[str | None]  # the nodes that produced them
    frames: list[CallFrame] = field(default_factory=list)  # running modules, outermost first
    exception: BaseException | None = None
    leaf: bool = False  # the op ran inside a leaf module (conv, linear, ...)
    details: dict[str, Any] = field(default_factory=dict)  # for cat: the dim


def _func_name(func: Any) -> str:
    if getattr(func, "__name__", "") == "__get__":  # a tensor property such as .T or .data
        owner = getattr(func, "__self__", None)
        return getattr(owner, "__name__", "get")
    return op_name(func)


def _shape(t: torch.Tensor) -> tuple[int, ...]:
    return tuple(int(d) for d in t.shape)


class ForwardRecorder:
    """Builds an op graph while ``model`` runs once; use ``run``."""

    def __init__(self, model: nn.Module, info: ModuleInfo, *, meta: bool, param_ids: set[int]) -> None:
        self.model = model
        self.info = info
        self.meta = meta
        self.param_ids = param_ids
        self.builder = OpGraphBuilder(info)
        self.producers: dict[int, tuple[torch.Tensor, str]] = {}  # the tensor is kept so its id stays unique
        self.frames: list[CallFrame] = []
        self.leaf_depth = 0
        self.internal = False  # set while our own code runs, so its tensor calls are not recorded
        self.failure: FailurePoint | None = None

    # -- tensors ---------------------------------------------------------------------------
    def source_of(self, tensor: torch.Tensor) -> str | None:
        entry = self.producers.get(id(tensor))
        return entry[1] if entry is not None else None

    def produce(self, value: Any, node: str) -> None:
        for tensor in tensors_in(value):
            self.producers[id(tensor)] = (tensor, node)

    def _inputs(self, args: Any, kwargs: Any) -> tuple[list[str], list[tuple[int, ...]], list[tuple[int, ...]]]:
        sources: list[str] = []
        shapes: list[tuple[int, ...]] = []
        params: list[tuple[int, ...]] = []
        for tensor in tensors_in((args, kwargs)):
            if id(tensor) in self.param_ids:
                params.append(_shape(tensor))
                continue
            source = self.source_of(tensor)
            if source is not None:
                sources.append(source)
                shapes.append(_shape(tensor))
        return sources, shapes, params

    # -- hooks -----------------------------------------------------------------------------
    def pre_hook(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        self.internal = True
        try:
            name = self.info.names.get(id(module), "?")
            tensors = tensors_in((args, kwargs))
            self.frames.append(CallFrame(name, [self.source_of(t) for t in tensors], [_shape(t) for t in tensors]))
            if name in self.info.leaves:
                self.leaf_depth += 1
        finally:
            self.internal = False

    def post_hook(self, module: nn.Module, args: tuple, kwargs: dict, output: Any) -> Any:
        self.internal = True
        try:
            frame = self.frames.pop()
            if frame.name not in self.info.leaves:
                return None
            self.leaf_depth -= 1
            if self.leaf_depth > 0:
                return None  # a layer inside a layer (MultiheadAttention's out_proj): part of the outer one
            sources, in_shapes, _ = self._inputs(args, kwargs)
            if frame.name in self.info.no_ops:
                # No node: the output is its input (the same tensor), read from the input's producer.
                for tensor in tensors_in(output):
                    if self.source_of(tensor) is None and sources:
                        self.producers[id(tensor)] = (tensor, sources[0])
                return None
            replaced = None
            if not getattr(module, "inplace", False):
                # A layer that hands back its input object (eval Dropout) still makes a new
                # value in the graph; give it its own tensor so earlier readers keep their source.
                inputs = {id(t) for t in tensors_in((args, kwargs))}
                if any(id(t) in inputs for t in tensors_in(output)):
                    replaced = pytree.tree_map(
                        lambda v: v.view_as(v) if isinstance(v, torch.Tensor) and id(v) in inputs else v, output)
                    output = replaced
            shape = shape_of(output)
            node = self.builder.add_module_call(frame.name, sources, shape, module_flops(module, in_shapes, shape))
            self.produce(output, node)
            return replaced
        finally:
            self.internal = False

    # -- functions -------------------------------------------------------------------------
    def call_function(self, func: Any, args: tuple, kwargs: dict) -> Any:
        if self.internal:
            return func(*args, **kwargs)
        try:
            result = NOT_HANDLED
            if self.meta:
                result = fast_meta_result(func, args, kwargs)
            if result is NOT_HANDLED:
                result = func(*args, **kwargs)
        except Exception as exc:
            self._note_failure(func, args, kwargs, exc)
            raise
        if self.leaf_depth == 0:
            self.internal = True
            try:
                result = self._record(func, args, kwargs, result)
            finally:
                self.internal = False
        return result

    def _record(self, func: Any, args: tuple, kwargs: dict, result: Any) -> Any:
        op = _func_name(func)
        outputs = tensors_in(result)
        if op == "setitem" and args and isinstance(args[0], torch.Tensor):
            outputs = [args[0]]  # x[...] = y writes into x
        if not outputs:
            return result
        sources, in_shapes, params = self._inputs(args, kwargs)
        if not sources:
            return result  # made from constants only: not part of the data flow
        in_place = op in _IN_PLACE_NAMES or (op.endswith("_") and not op.startswith("_"))
        if not in_place and isinstance(result, torch.Tensor):
            inputs = {id(t) for t in tensors_in((args, kwargs))}
            if id(result) in inputs:  # x.contiguous(), x.float() can return x itself
                result = result.view_as(result)
                outputs = [result]
        shape = shape_of(result) if op != "setitem" else _shape(outputs[0])
        param_count = sum(int(torch.Size(s).numel()) for s in params)
        scope = self.frames[-1].name if self.frames else ""
        node = self.builder.add_function(scope, op, sources, shape, param_count,
                                         function_flops(op, in_shapes, shape, params))
        for tensor in outputs:
            self.producers[id(tensor)] = (tensor, node)
        return result

    def _note_failure(self, func: Any, args: tuple, kwargs: dict, exc: BaseException) -> None:
        if self.failure is not None:
            return
        self.internal = True
        try:
            tensors = [t for t in tensors_in((args, kwargs)) if id(t) not in self.param_ids]
            frame = self.frames[-1] if self.frames else CallFrame("", [], [])
            op = _func_name(func)
            details: dict[str, Any] = {}
            if op in CONCAT_OPS:
                dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
                details["dim"] = dim if isinstance(dim, int) else 0
            self.failure = FailurePoint(frame.name, self.info.types.get(frame.name, ""), op,
                                        [_shape(t) for t in tensors], [self.source_of(t) for t in tensors],
                                        list(self.frames), exc, self.leaf_depth > 0, details)
        finally:
            self.internal = False

    def note_python_failure(self, exc: BaseException) -> None:
        """The forward raised outside any torch op (user code): the running modules say where."""
        if self.failure is None:
            frame = self.frames[-1] if self.frames else CallFrame("", [], [])
            self.failure = FailurePoint(frame.name, self.info.types.get(frame.name, ""), None, [], [],
                                        list(self.frames), exc, self.leaf_depth > 0)
        else:
            self.failure.exception = exc

    # -- the pass --------------------------------------------------------------------------
    def run(self, args: tuple[Any, ...], call: Any) -> Any:
        """Record ``call(*args)`` (a forward of ``self.model``); returns its output."""
        for tensor in tensors_in(args):
            self.producers[id(tensor)] = (tensor, self.builder.add_input(_shape(tensor)))
        modules = list(self.info.modules.values()) or list(self.model.modules())
        try:
            with forward_hooks(modules, self.pre_hook, self.post_hook), _RecordingMode(self):
                output = call(*args)
        except Exception as exc:
            self.note_python_failure(exc)
            raise
        self.internal = True
        try:
            sources = [s for s in (self.source_of(t) for t in tensors_in(output)) if s is not None]
            self.builder.add_output(sources, shape_of(output))
        finally:
            self.internal = False
        return output


class _RecordingMode(TorchFunctionMode):
    def __init__(self, recorder: ForwardRecorder) -> None:
        super().__init__()
        self.recorder = recorder

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        return self.recorder.call_function(func, args, kwargs or {})
