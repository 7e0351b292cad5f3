"""Shape-only shortcuts for the commonest ops on the meta device.

Meta kernels give exact shapes without memory, but several (batch norm, activations, adds)
go through Python decompositions that cost ~0.3 ms each: ResNet-1202's 4,000 ops would take
over a second. For ops whose output shape is their input's, after the same checks the real
kernel makes, ``fast_meta_result`` returns an empty meta tensor in microseconds. Anything it
is not sure about returns ``NOT_HANDLED`` and runs the real meta kernel, so errors are the
same as on a real device.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

NOT_HANDLED = object()

_Tensor = torch._C.TensorBase  # what TorchFunctionMode sees for ``x + y``, ``x.relu()``, ...

# Ops whose output has the shape and dtype of their first argument, with no checks to make.
_UNARY = {
    F.relu, torch.relu, _Tensor.relu, F.relu6, F.gelu, F.silu, F.elu, F.leaky_relu, F.hardtanh, F.hardswish,
    F.softplus, F.mish, torch.sigmoid, _Tensor.sigmoid, F.sigmoid, torch.tanh, _Tensor.tanh, F.tanh,
    F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout,
}
_UNARY_INPLACE = {torch.relu_, _Tensor.relu_, F.relu_}
# Binary elementwise ops: handled only when both shapes (and dtypes) agree, or one side is a number.
_BINARY = {_Tensor.__add__, _Tensor.__radd__, _Tensor.__sub__, _Tensor.__mul__, _Tensor.__rmul__,
           _Tensor.__truediv__, torch.add, _Tensor.add, torch.sub, _Tensor.sub, torch.mul, _Tensor.mul, _Tensor.div}
_BINARY_INPLACE = {_Tensor.__iadd__, _Tensor.add_, _Tensor.__isub__, _Tensor.sub_, _Tensor.__imul__, _Tensor.mul_}


def _empty_like(tensor: torch.Tensor) -> torch.Tensor:
    return torch.empty(tensor.shape, dtype=tensor.dtype, device="meta")


def _is_meta(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and value.device.type == "meta"


def _inplace_flag(args: tuple, kwargs: dict, position: int) -> bool:
    if "inplace" in kwargs:
        return bool(kwargs["inplace"])
    return len(args) > position and args[position] is True


def fast_meta_result(func: Any, args: tuple, kwargs: dict) -> Any:
    """The result of ``func(*args, **kwargs)`` on meta tensors, or ``NOT_HANDLED``."""
    if not args or not _is_meta(args[0]) or type(args[0]) not in (torch.Tensor, torch.nn.Parameter):
        return NOT_HANDLED  # tensor subclasses may change what an op does
    first = args[0]
    if func in _UNARY:
        if func in (F.relu, F.relu6, F.elu, F.hardtanh, F.hardswish, F.silu, F.mish) and _inplace_flag(args, kwargs, 1):
            return first
        if func is F.leaky_relu and _inplace_flag(args, kwargs, 2):
            return first
        dropouts = (F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout)
        if func in dropouts and _inplace_flag(args, kwargs, 3):
            return first
        return _empty_like(first)
    if func in _UNARY_INPLACE:
        return first
    if func in _BINARY or func in _BINARY_INPLACE:
        if len(args) != 2 or (kwargs and set(kwargs) - {"alpha"}):
            return NOT_HANDLED
        other = args[1]
        if isinstance(other, torch.Tensor):
            if not _is_meta(other) or other.shape != first.shape or other.dtype != first.dtype:
                return NOT_HANDLED
        elif not isinstance(other, (int, float)) or isinstance(other, bool):
            return NOT_HANDLED
        return first if func in _BINARY_INPLACE else _empty_like(first)
    if func is F.batch_norm:
        return _batch_norm(args, kwargs)
    if func is F.group_norm:
        num_groups = args[1] if len(args) > 1 else kwargs.get("num_groups")
        weight = args[2] if len(args) > 2 else kwargs.get("weight")
        if first.dim() < 2 or not isinstance(num_groups, int) or num_groups < 1 or first.shape[1] % num_groups:
            return NOT_HANDLED
        if weight is not None and (weight.dim() != 1 or weight.shape[0] != first.shape[1]):
            return NOT_HANDLED
        return _empty_like(first)
    if func is F.layer_norm:
        shape = args[1] if len(args) > 1 else kwargs.get("normalized_shape")
        if shape is None:
            return NOT_HANDLED
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        if first.dim() < len(shape) or tuple(first.shape[first.dim() - len(shape):]) != shape:
            return NOT_HANDLED
        return _empty_like(first)
    return NOT_HANDLED


def _batch_norm(args: tuple, kwargs: dict) -> Any:
    names = ("input", "running_mean", "running_var", "weight", "bias", "training")
    values = dict(zip(names, args))
    values.update({k: v for k, v in kwargs.items() if k in names})
    first = values["input"]
    if first.dim() < 2:
        return NOT_HANDLED
    channels = first.shape[1]
    for key in ("running_mean", "running_var", "weight", "bias"):
        tensor = values.get(key)
        if tensor is not None and (not _is_meta(tensor) or tensor.dim() != 1 or tensor.shape[0] != channels):
            return NOT_HANDLED
    if values.get("training") and first.numel() // channels <= 1:
        return NOT_HANDLED  # the real kernel raises "expected more than 1 value per channel"
    return _empty_like(first)


class FastMetaMode(torch.overrides.TorchFunctionMode):
    """Answers the ops ``fast_meta_result`` knows; runs everything else as usual."""

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        result = fast_meta_result(func, args, kwargs)
        if result is NOT_HANDLED:
            return func(*args, **kwargs)
        return result
