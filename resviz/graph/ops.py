"""What the tracers need to know about ops: their names, which modules are leaves, FLOPs.

Both tracers (torch.fx and the forward-pass fallback) name ops through ``op_name`` so the
same model gives the same node ids whichever tracer ran.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils import _pytree as pytree

# Merges that add their inputs (a residual merge) and that concatenate them (DenseNet, UNet).
ADD_OPS = frozenset({"add", "iadd", "add_", "radd"})
CONCAT_OPS = frozenset({"cat", "concat", "concatenate"})
MERGE_OPS = ADD_OPS | CONCAT_OPS

# Ops that only move data around: no arithmetic worth counting.
DATA_MOVEMENT_OPS = frozenset({
    "flatten", "view", "reshape", "getitem", "cat", "concat", "concatenate", "pad", "permute", "transpose",
    "contiguous", "squeeze", "unsqueeze", "expand", "repeat", "chunk", "split", "narrow", "clone", "to",
    "detach", "stack", "identity", "dropout", "flip", "roll", "t", "unflatten",
})
ELEMENTWISE_OPS = frozenset({
    "add", "iadd", "add_", "radd", "sub", "isub", "sub_", "rsub", "mul", "imul", "mul_", "rmul", "truediv", "div",
    "div_", "neg", "relu", "relu_", "gelu", "silu", "sigmoid", "tanh", "leaky_relu", "elu", "hardtanh", "relu6",
    "hardswish", "softplus", "exp", "abs", "sqrt", "pow", "clamp", "maximum", "minimum",
})

_NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm)
_POOL_TYPES = (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
               nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd)
_SHAPE_ONLY_TYPES = (nn.Identity, nn.Flatten, nn.Unflatten, nn.modules.dropout._DropoutNd)


def op_name(target: Any) -> str:
    """A short, stable name for a function or method: ``add``, ``iadd``, ``cat``, ``pad``, ``getitem``.

    ``operator.add``, ``Tensor.__add__`` and ``torch.add`` are all ``add``; in-place dunder
    methods keep their ``i`` (``iadd``) and in-place methods their underscore (``add_``).
    """
    if isinstance(target, str):  # an fx call_method
        name = target
    else:
        name = getattr(target, "__name__", None) or type(target).__name__
    if name.startswith("__") and name.endswith("__"):
        name = name[2:-2]
    if name.startswith("r") and name[1:] in ("add", "sub", "mul", "truediv", "matmul"):
        name = name[1:] if name != "rsub" else name
    return name


def is_leaf_module(module: nn.Module) -> bool:
    """torch.fx's rule: PyTorch's own modules are leaves, except containers.

    Users' modules are traced into, so a custom shortcut (``LambdaLayer``, ``PadShortcut``)
    shows the ops it is made of.
    """
    module_path = type(module).__module__
    if not (module_path.startswith("torch.nn") or module_path.startswith("torch.ao.nn")):
        return False
    return not isinstance(module, (nn.Sequential, nn.ModuleList, nn.ModuleDict))


def is_no_op_module(module: nn.Module) -> bool:
    """A leaf that hands its input back unchanged (``nn.Identity``, the zoo's ``norm="none"``).

    The tracers make no node for it: its input goes straight to its consumers, so a drawing
    shows no empty boxes and a shortcut that is only an Identity stays an identity skip.
    """
    return isinstance(module, nn.Identity) and is_leaf_module(module)


def module_category(type_name: str, op: str | None = None) -> str:
    """A coarse category for colouring and classification: conv, norm, act, pool, linear, merge, ..."""
    name = (op or type_name).lower()
    if name in ("add", "iadd", "add_", "radd"):
        return "merge"
    if name in CONCAT_OPS:
        return "concat"
    if "conv" in name:
        return "conv"
    if "norm" in name:
        return "norm"
    if "pool" in name:
        return "pool"
    if name in ("linear", "bilinear", "lazylinear", "matmul", "mm", "bmm"):
        return "linear"
    if name in ("relu", "relu_", "relu6", "gelu", "silu", "sigmoid", "tanh", "leakyrelu", "leaky_relu", "elu",
                "hardtanh", "hardswish", "softplus", "mish", "prelu", "selu", "celu", "softmax", "logsoftmax"):
        return "act"
    if name in ("input", "output"):
        return name
    if name in ("pad", "padshortcut", "zeropad2d", "constantpad2d"):
        return "pad"
    if name in ("upsample", "interpolate", "upsample_nearest", "upsample_bilinear"):
        return "resample"
    return "other"


def tensors_in(value: Any) -> list[torch.Tensor]:
    """Every tensor in a nested structure of tuples, lists and dicts, in order."""
    if isinstance(value, torch.Tensor):
        return [value]
    leaves, _ = pytree.tree_flatten(value)
    return [leaf for leaf in leaves if isinstance(leaf, torch.Tensor)]


def shape_of(value: Any) -> tuple[int, ...] | list | None:
    """The output shape: a tuple for one tensor, a list of tuples for several, None for none."""
    tensors = tensors_in(value)
    if not tensors:
        return None
    if len(tensors) == 1 and isinstance(value, torch.Tensor):
        return tuple(int(d) for d in tensors[0].shape)
    return [tuple(int(d) for d in t.shape) for t in tensors]


def _numel(shape: Sequence[int] | None) -> int:
    return int(math.prod(shape)) if shape else 0


def _first_shape(shapes: Iterable[Any]) -> tuple[int, ...] | None:
    for shape in shapes:
        if isinstance(shape, tuple):
            return shape
    return None


def module_flops(module: nn.Module, in_shapes: list[tuple[int, ...]], out_shape: Any) -> int | None:
    """Floating-point operations (two per multiply-add) of one call of a leaf module, or None if unknown."""
    out = out_shape if isinstance(out_shape, tuple) else _first_shape(out_shape or [])
    first_in = in_shapes[0] if in_shapes else None
    if out is None:
        return 0
    if isinstance(module, nn.modules.conv._ConvNd):
        kernel = math.prod(module.kernel_size)
        per_output = 2 * (module.in_channels // module.groups) * kernel
        if isinstance(module, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)) and first_in:
            return 2 * _numel(first_in) * (module.out_channels // module.groups) * kernel
        return _numel(out) * per_output + (_numel(out) if module.bias is not None else 0)
    if isinstance(module, nn.Linear):
        return _numel(out) * 2 * module.in_features + (_numel(out) if module.bias is not None else 0)
    if isinstance(module, _NORM_TYPES):
        return 2 * _numel(out)
    if isinstance(module, _POOL_TYPES):
        if first_in is not None and isinstance(module, (nn.modules.pooling._AdaptiveAvgPoolNd,
                                                        nn.modules.pooling._AdaptiveMaxPoolNd)):
            return _numel(first_in)
        kernel = getattr(module, "kernel_size", 1)
        kernel_numel = math.prod(kernel) if isinstance(kernel, (tuple, list)) else kernel ** max(len(out) - 2, 1)
        return _numel(out) * kernel_numel
    if isinstance(module, _SHAPE_ONLY_TYPES):
        return 0
    if module_category(type(module).__name__) == "act":
        return _numel(out)
    return None


def function_flops(op: str, in_shapes: list[tuple[int, ...]], out_shape: Any,
                   param_shapes: list[tuple[int, ...]] | None = None) -> int | None:
    """FLOPs of one function op, or None if unknown."""
    out = out_shape if isinstance(out_shape, tuple) else _first_shape(out_shape or [])
    if out is None or op in DATA_MOVEMENT_OPS:
        return 0
    if op in ELEMENTWISE_OPS:
        return _numel(out)
    if op in ("conv1d", "conv2d", "conv3d") and param_shapes:
        weight = param_shapes[0]
        return _numel(out) * 2 * _numel(weight[1:])
    if op == "linear" and param_shapes:
        return _numel(out) * 2 * param_shapes[0][-1]
    if op in ("matmul", "mm", "bmm") and len(in_shapes) >= 1:
        shapes = in_shapes + (param_shapes or [])
        if len(shapes) >= 2 and shapes[0]:
            return _numel(out) * 2 * shapes[0][-1]
    if op in ("batch_norm", "group_norm", "layer_norm", "instance_norm"):
        return 2 * _numel(out)
    if "pool" in op:
        return _numel(in_shapes[0]) if in_shapes else _numel(out)
    if op in ("mean", "sum", "softmax", "log_softmax"):
        return _numel(in_shapes[0]) if in_shapes else 0
    return None

