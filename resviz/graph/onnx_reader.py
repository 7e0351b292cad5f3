"""``read_onnx``: an ONNX model's graph as an ``OpGraph``, read from the file (nothing runs).

Scopes come from the module stack the dynamo exporter records on each node (with the
modules' classes), or else from node names: the TorchScript exporter names nodes after the
modules that ran them (``/layer1/layer1.0/conv1/Conv``), so ``layer1.0`` becomes a scope,
and a block once it holds a skip. Shapes come from the file's value infos, completed by
``onnx.shape_inference``. Initializers and what is computed from them alone (constants,
shapes, an ``Identity`` of a weight) are weights, not data flow: a node's parameter count
is the floating-point initializers it reads, each counted once. ``Shape`` and ``Size``
give metadata, so a reshape that reads a tensor's size is no concatenation of data.
"""

from __future__ import annotations

import ast
from collections import Counter
from typing import Any

from ..models.model_files import import_onnx
from .file_graph import ScopeTree, class_name, is_torch_layer, scope_from_path
from .opgraph import OpGraph, OpGraphBuilder
from .ops import function_flops

# ONNX operators under the names the tracers give the same ops (merges, categories, FLOPs).
ONNX_OPS = {
    "Add": "add", "Sum": "add", "Concat": "cat", "Conv": "conv2d", "ConvTranspose": "conv_transpose2d",
    "Gemm": "linear", "MatMul": "matmul", "Relu": "relu", "LeakyRelu": "leaky_relu", "Sigmoid": "sigmoid",
    "Tanh": "tanh", "Gelu": "gelu", "Elu": "elu", "HardSwish": "hardswish", "Softmax": "softmax",
    "LogSoftmax": "log_softmax", "BatchNormalization": "batch_norm", "LayerNormalization": "layer_norm",
    "GroupNormalization": "group_norm", "InstanceNormalization": "instance_norm", "MaxPool": "max_pool2d",
    "AveragePool": "avg_pool2d", "GlobalAveragePool": "adaptive_avg_pool2d", "GlobalMaxPool": "adaptive_max_pool2d",
    "Flatten": "flatten", "Reshape": "reshape", "Transpose": "permute", "Pad": "pad", "Slice": "getitem",
    "Gather": "getitem", "Resize": "interpolate", "Upsample": "upsample", "Dropout": "dropout", "Mul": "mul",
    "Sub": "sub", "Div": "div", "Clip": "clamp", "ReduceMean": "mean", "Squeeze": "squeeze",
    "Unsqueeze": "unsqueeze", "Split": "split",
}
# Operators whose output has their data inputs' shape (when all of those agree).
SHAPE_KEEPING_OPS = frozenset({"Add", "Sum", "Sub", "Mul", "Div", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Gelu", "Elu",
                               "HardSwish", "Clip", "BatchNormalization", "Dropout", "Identity", "Cast"})
NAME_SCOPES, CLASS_HIERARCHY = "pkg.torch.onnx.name_scopes", "pkg.torch.onnx.class_hierarchy"
METADATA_OPS = frozenset({"Shape", "Size"})
ALIAS_OPS = frozenset({"Identity"})  # hands its data input on: no node
_FLOAT_TYPES = frozenset({1, 10, 11, 16})  # FLOAT, FLOAT16, DOUBLE, BFLOAT16


def _dims(type_proto: Any) -> tuple[int, ...] | None:
    """A tensor type's sizes; a named first size (the batch) is drawn as 1, as a trace with one
    example would; any other unknown size leaves the whole shape unknown (None)."""
    if not type_proto.HasField("tensor_type") or not type_proto.tensor_type.HasField("shape"):
        return None
    sizes = []
    for index, dim in enumerate(type_proto.tensor_type.shape.dim):
        if dim.HasField("dim_value") and dim.dim_value > 0:
            sizes.append(int(dim.dim_value))
        elif index == 0 and dim.HasField("dim_param"):
            sizes.append(1)
        else:
            return None
    return tuple(sizes)


def _shapes(model: Any) -> dict[str, tuple[Any, ...]]:
    """Every named tensor's shape the file states or shape inference finds."""
    onnx = import_onnx()
    graph = model.graph
    try:
        graph = onnx.shape_inference.infer_shapes(model).graph
    except Exception:  # noqa: BLE001 - an operator inference does not know: keep what the file states
        pass
    shapes: dict[str, tuple[Any, ...]] = {}
    for info in [*graph.input, *graph.value_info, *graph.output]:
        dims = _dims(info.type)
        if dims is not None:
            shapes[info.name] = dims
    return shapes


def node_scope(name: str) -> str:
    """``/layer1/layer1.0/conv1/Conv`` -> ``layer1.0.conv1``; names without scopes -> ``""``."""
    if "/" not in name:
        return ""
    return scope_from_path(name.split("/")[:-1])


def recorded_scopes(node: Any) -> list[tuple[str, str]] | None:
    """The module stack the dynamo exporter records on a node (``pkg.torch.onnx.name_scopes`` and
    ``class_hierarchy``): (qualified name, class) from the model (``""``) down to the module
    that ran the op; None where the node has none."""
    props = {prop.key: prop.value for prop in node.metadata_props}
    try:
        names = ast.literal_eval(props[NAME_SCOPES])
        classes = ast.literal_eval(props[CLASS_HIERARCHY])
    except (KeyError, ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    if not (isinstance(names, list) and isinstance(classes, list) and len(names) == len(classes) >= 2
            and all(isinstance(item, str) for item in [*names, *classes])):
        return None
    chain, qualname = [("", classes[0])], ""
    for name, type_path in zip(names[1:-1], classes[1:-1]):  # the last entry is the op itself
        qualname = scope_from_path([qualname, name])
        chain.append((qualname, type_path))
    return chain


def read_onnx(model: Any, model_type: str = "ONNX graph") -> OpGraph:
    """The op graph of a parsed ONNX ``ModelProto`` (``onnx.load``; weights need not be loaded)."""
    graph = model.graph
    shapes = _shapes(model)
    weights = {init.name: (tuple(init.dims), init.data_type in _FLOAT_TYPES) for init in graph.initializer}
    recorded = [recorded_scopes(node) for node in graph.node]
    for chain in recorded:
        if chain:
            model_type = class_name(chain[0][1])
            break
    tree = ScopeTree(model_type)
    scopes = []
    for node, chain in zip(graph.node, recorded):
        if chain is None:
            scopes.append(tree.add(node_scope(node.name)))
            continue
        for qualname, type_path in chain[1:]:
            tree.add(qualname, class_name(type_path), leaf=is_torch_layer(type_path))
        scopes.append(chain[-1][0])
    ops_in = Counter(scope for scope, chain in zip(scopes, recorded) if chain is None)
    for scope, count in ops_in.items():  # named scopes only: one that runs one op and holds none is a layer
        if scope and not tree.children[scope] and count == 1:
            tree.leaves.add(scope)
    info = tree.module_info()  # the parameters are known once the nodes are read: filled in below
    builder = OpGraphBuilder(info)

    producer: dict[str, str | None] = {}  # data tensor -> op node id (None for an alias of nothing)
    weight_of: dict[str, list[str]] = {}  # constant tensor -> the initializers it comes from
    counted: set[str] = set()
    for value in graph.input:
        if value.name not in weights:
            producer[value.name] = builder.add_input(shapes.get(value.name))
    for name in weights:
        weight_of[name] = [name]

    for node, scope in zip(graph.node, scopes):
        data_inputs = [name for name in node.input if name in producer]
        if not data_inputs or node.op_type in METADATA_OPS:
            sources = [w for name in node.input for w in weight_of.get(name, [])]
            for output in node.output:
                weight_of[output] = sources
            continue
        if node.op_type in ALIAS_OPS:
            producer[node.output[0]] = producer[data_inputs[0]]
            continue
        op = ONNX_OPS.get(node.op_type, node.op_type.lower())
        param_shapes, params = [], 0
        for name in node.input:
            for weight in weight_of.get(name, []):
                dims, is_float = weights[weight]
                if not is_float:
                    continue
                param_shapes.append(dims)
                if weight not in counted:
                    counted.add(weight)
                    params += _numel(dims)
        in_shapes = [shapes[name] for name in data_inputs if shapes.get(name) is not None]
        if node.op_type in SHAPE_KEEPING_OPS and len(node.output) == 1 and shapes.get(node.output[0]) is None \
                and len(set(in_shapes)) == 1 and len(in_shapes) == len(data_inputs):
            shapes[node.output[0]] = in_shapes[0]  # inference gave up upstream (a computed padding)
        out_shapes = [shapes.get(name) for name in node.output if name]
        shape = out_shapes[0] if len(out_shapes) == 1 else out_shapes
        flops = function_flops(op, in_shapes, shape, param_shapes) if isinstance(shape, tuple) else None
        sources = [producer[name] for name in data_inputs if producer[name] is not None]
        node_id = builder.add_function(scope, op, sources, shape, params, flops)
        builder.graph.nodes[node_id]["onnx_op"] = node.op_type
        tree.record_op(scope, op, params, param_shapes)
        for output in node.output:
            producer[output] = node_id

    outputs = [value.name for value in graph.output if value.name in producer]
    for name in outputs:
        builder.add_output([producer[name]] if producer[name] is not None else [], shapes.get(name))
    final = tree.module_info()
    info.params.update(final.params)
    info.signatures.update(final.signatures)
    return builder.build("onnx", None, model_type, "file")


def _numel(dims: tuple[int, ...]) -> int:
    total = 1
    for d in dims:
        total *= int(d)
    return total
