"""``read_exported_program``: a ``torch.export`` program's graph as an ``OpGraph``, without running it.

The program already holds what a trace finds: its ATen ops, each with the module stack that
ran it (``nn_module_stack``: qualified names and classes) and its output as a fake tensor
(the shape). Parameters and buffers are the graph's lifted inputs; each parameter counts
once, on the first op that reads it. Slices of whole dimensions and copies are no ops (as
in a trace, where ``x[:, :, ::2]`` is one op). A symbolic size (a dynamic batch) is drawn with the
size of the example the program was exported with.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.fx as fx

from .file_graph import ScopeTree, class_name, is_torch_layer
from .opgraph import OpGraph, OpGraphBuilder
from .ops import function_flops, op_name, tensors_in

# Ops that hand their input on unchanged when the shape stays (a whole-dimension slice, a copy).
SAME_DATA_OPS = frozenset({"slice", "view", "reshape", "clone", "contiguous", "alias", "detach", "_to_copy", "to"})


def _size(dim: Any) -> int | None:
    if isinstance(dim, int):
        return dim
    hint = getattr(getattr(dim, "node", None), "hint", None)
    return int(hint) if hint is not None else None


def _shape(value: Any) -> tuple | list | None:
    """Output shape(s); a tensor with a size the program cannot put a number on has none (None)."""
    tensors = tensors_in(value)
    if not tensors:
        return None
    shapes = [tuple(_size(d) for d in t.shape) for t in tensors]
    shapes = [None if None in shape else shape for shape in shapes]
    return shapes[0] if len(shapes) == 1 and isinstance(value, torch.Tensor) else shapes


def _op(target: Any) -> str:
    return getattr(target, "_opname", None) or op_name(target)


def _stack(node: fx.Node) -> list[tuple[str, Any]]:
    return [(str(name), type_path) for name, type_path in (node.meta.get("nn_module_stack") or {}).values()]


def read_exported_program(program: Any) -> OpGraph:
    """The op graph of an ``ExportedProgram`` (``torch.export.export`` or ``torch.export.load``)."""
    graph = program.graph
    signature = program.graph_signature
    parameters = dict(signature.inputs_to_parameters)
    lifted = parameters.keys() | signature.inputs_to_buffers.keys() | signature.inputs_to_lifted_tensor_constants.keys()
    state = program.state_dict
    root_type = "ExportedProgram"
    for node in graph.nodes:
        stack = _stack(node)
        if stack and stack[0][0] == "":
            root_type = class_name(stack[0][1])
            break
    tree = ScopeTree(root_type)
    for node in graph.nodes:
        for name, type_path in _stack(node):
            tree.add(name, class_name(type_path), leaf=is_torch_layer(type_path))
    info = tree.module_info()
    builder = OpGraphBuilder(info)
    ids: dict[fx.Node, str | None] = {}
    containers: set[fx.Node] = set()
    counted: set[str] = set()

    for node in graph.nodes:
        value = node.meta.get("val")
        if node.op == "placeholder":
            if node.name in lifted:
                ids[node] = None
            else:
                ids[node] = builder.add_input(_shape(value)) if tensors_in(value) else None
            continue
        if node.op == "output":
            sources = [ids[arg] for arg in node.all_input_nodes if ids.get(arg) is not None]
            builder.add_output(sources, _shape([n.meta.get("val") for n in node.all_input_nodes]))
            continue
        if node.op != "call_function" or not tensors_in(value):
            ids[node] = None  # sizes, assertions, flags: metadata, not data flow
            continue
        op = _op(node.target)
        data = [arg for arg in node.all_input_nodes if ids.get(arg) is not None]
        if op == "getitem" and data and data[0] in containers:
            ids[node] = ids[data[0]]  # an element of a multi-output op: the same op
            continue
        if not data:
            ids[node] = None  # made from constants alone
            continue
        if op in SAME_DATA_OPS and len(data) == 1 and _shape(value) == _shape(data[0].meta.get("val")):
            ids[node] = ids[data[0]]  # ``x[:, :, ::2]`` slices every dimension, most of them whole: no op
            continue
        param_shapes, params = [], 0
        for arg in node.all_input_nodes:
            target = parameters.get(arg.name)
            if target is None:
                continue
            tensor = state.get(target)
            shape = tuple(tensor.shape) if tensor is not None else _shape(arg.meta.get("val"))
            param_shapes.append(shape)
            if target not in counted:
                counted.add(target)
                params += int(torch.Size(shape).numel())
        stack = _stack(node)
        scope = stack[-1][0] if stack else ""
        shape = _shape(value)
        in_shapes = [s for arg in data for s in ([_shape(arg.meta.get("val"))] if tensors_in(arg.meta.get("val"))
                                                 else [])]
        flops = function_flops(op, [s for s in in_shapes if isinstance(s, tuple)], shape, param_shapes)
        ids[node] = builder.add_function(scope, op, [ids[arg] for arg in data], shape, params, flops,
                                         fx_name=node.name)
        tree.record_op(scope, op, params, param_shapes)
        if not isinstance(value, torch.Tensor):
            containers.add(node)
    final = tree.module_info()
    info.params.update(final.params)
    info.signatures.update(final.signatures)
    return builder.build("export", None, root_type, "file")
