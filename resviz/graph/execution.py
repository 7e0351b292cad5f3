"""Running a model once for its shapes: on the meta device where possible, else for real.

Meta tensors carry shapes and dtypes but no data, so even ResNet-1202 runs without memory
or arithmetic. Tracing never touches the user's model: it runs on a copy of the module tree
(``tracing_copy``: new module objects, no hooks, the model's tensors replaced by meta
stand-ins) that costs no tensor copies, so another thread may use the model meanwhile (the
window traces in a worker while attribution runs on the same model). A model that cannot
run on meta (data-dependent control flow, ``.item()``) runs for real on a copy that shares
its parameters and copies its buffers, under ``no_grad``, so running statistics are never
touched.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from ..errors import ResvizError
from ..models.registry import model_device  # noqa: F401 - re-exported for this package


def example_args(model: nn.Module, example_input: Any) -> tuple[Any, ...]:
    """The positional arguments of the example forward pass.

    ``example_input`` is a tensor, a tuple or list of them (several inputs), a shape such as
    ``(1, 3, 32, 32)`` (a random tensor of that shape), or None (the model's ``input_shape``
    with a batch of one).
    """
    if example_input is None:
        shape = getattr(model, "input_shape", None)
        if shape is None:
            raise ResvizError(f"{type(model).__name__}: no example input given and the model has no input_shape")
        return (torch.randn(1, *shape),)
    if isinstance(example_input, torch.Tensor):
        return (example_input,)
    if isinstance(example_input, (tuple, list)) and example_input and all(
            isinstance(d, int) and not isinstance(d, bool) for d in example_input):
        if any(d < 1 for d in example_input):
            raise ResvizError(f"example input shape {tuple(example_input)} has a size below 1")
        return (torch.randn(*example_input),)
    if isinstance(example_input, (tuple, list)):
        return tuple(example_input)
    raise ResvizError(f"example input must be a tensor, a tuple of tensors or a shape, "
                      f"not {type(example_input).__name__}")


def _map_tensors(value: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    if isinstance(value, torch.Tensor):
        return fn(value)
    if isinstance(value, tuple):
        mapped = [_map_tensors(v, fn) for v in value]
        return type(value)(*mapped) if hasattr(value, "_fields") else tuple(mapped)
    if isinstance(value, list):
        return [_map_tensors(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: _map_tensors(v, fn) for k, v in value.items()}
    return value


def _meta_like(tensor: torch.Tensor) -> torch.Tensor:
    return torch.empty(tensor.shape, dtype=tensor.dtype, device="meta")


def to_meta(args: tuple[Any, ...]) -> tuple[Any, ...]:
    return _map_tensors(args, _meta_like)


def to_device(args: tuple[Any, ...], device: torch.device) -> tuple[Any, ...]:
    return _map_tensors(args, lambda t: t.to(device))


@contextmanager
def eval_mode(model: nn.Module, modules: Iterable[nn.Module] | None = None) -> Iterator[None]:
    """Eval mode while tracing (no batch statistics, no dropout); every module's flag is restored.

    ``modules`` (all of the model's, if already listed) saves walking a deep model again.
    """
    flags = [(module, module.training) for module in (model.modules() if modules is None else modules)]
    try:
        for module, _ in flags:
            module.training = False
        yield
    finally:
        for module, training in flags:
            module.training = training


_CONTAINERS = (dict, list, set)


def copy_module_tree(model: nn.Module, tensor: Callable[[torch.Tensor, bool], torch.Tensor] | None = None, *,
                     copy_attributes: bool = False) -> nn.Module:
    """A copy of ``model``'s module tree: every module a new object with its own attribute
    dictionary, so flags, hooks and attributes set on the copy stay there; hooks already on the
    model are left off. A module that appears twice (registered under two names) is copied once,
    so the copy has the model's structure exactly.

    ``tensor(original, is_parameter)`` gives the copy's tensor for each parameter and buffer,
    called once per tensor, so tied weights stay tied; ``None`` keeps the very ``_parameters``
    and ``_buffers`` dictionaries, so a tensor the model later replaces is the copy's too.
    ``copy_attributes`` also passes plain tensor attributes through ``tensor`` and gives the copy
    its own dicts, lists and sets.
    """
    copies: dict[int, nn.Module] = {}
    tensors: dict[int, torch.Tensor] = {}

    def stand_in(original: torch.Tensor, is_parameter: bool) -> torch.Tensor:
        done = tensors.get(id(original))
        if done is None:
            done = tensors[id(original)] = tensor(original, is_parameter)
        return done

    def registry(store: dict, is_parameter: bool) -> dict:
        if tensor is None:
            return store
        return type(store)((k, None if v is None else stand_in(v, is_parameter)) for k, v in store.items())

    def copy(module: nn.Module) -> nn.Module:
        done = copies.get(id(module))
        if done is not None:
            return done
        new = object.__new__(type(module))
        copies[id(module)] = new
        state: dict[str, Any] = {}
        for key, value in module.__dict__.items():
            if key == "_parameters":
                value = registry(value, True)
            elif key == "_buffers":
                value = registry(value, False)
            elif key == "_modules":
                value = type(value)((k, None if child is None else copy(child)) for k, child in value.items())
            elif "hook" in key and isinstance(value, dict):
                value = type(value)()  # the model's hooks (a recorder's, say) stay on the model
            elif copy_attributes and tensor is not None and isinstance(value, torch.Tensor):
                value = stand_in(value, False)
            elif copy_attributes and isinstance(value, _CONTAINERS):
                value = copy_container(value)
            state[key] = value
        new.__dict__.update(state)
        return new

    return copy(model)


def clone_module_tree(model: nn.Module, mode: str) -> tuple[nn.Module, set[int]]:
    """A copy of ``model``'s module tree for one trace (``copy_module_tree``), and the ids of its
    parameters.

    ``mode="meta"``: every tensor (parameters, buffers, plain tensor attributes) becomes an
    empty meta tensor; ``mode="real"``: parameters are shared (read only, under no_grad) and
    buffers copied.
    """
    def tensor(original: torch.Tensor, is_parameter: bool) -> torch.Tensor:
        if mode == "meta":
            return _meta_like(original)
        return original if is_parameter else original.detach().clone()

    copy = copy_module_tree(model, tensor, copy_attributes=True)
    parameter_ids = {id(p) for module in copy.modules() for p in module._parameters.values() if p is not None}
    return copy, parameter_ids


def copy_container(value: Any) -> Any:
    try:
        return type(value)(value)
    except Exception:  # noqa: BLE001 - an exotic container: share it rather than fail
        return value


@contextmanager
def tracing_copy(model: nn.Module, mode: str) -> Iterator[tuple[nn.Module, set[int]]]:
    """``clone_module_tree`` under no_grad; for a model whose tree cannot be copied, the model
    itself with its tensors swapped (``swapped_tensors``) and restored on exit."""
    try:
        copy, parameter_ids = clone_module_tree(model, mode)
    except Exception:  # noqa: BLE001 - e.g. a module class that cannot be created bare
        copy = None
    if copy is not None:
        with torch.no_grad():
            yield copy, parameter_ids
        return
    with swapped_tensors(list(model.modules()), "meta" if mode == "meta" else "buffers") as parameter_ids:
        yield model, parameter_ids


@contextmanager
def swapped_tensors(modules: Iterable[nn.Module], mode: str) -> Iterator[set[int]]:
    """Swap every module's parameters and buffers for stand-ins while the block runs.

    ``mode="meta"``: empty meta tensors for all of them; ``mode="buffers"``: copies of the
    buffers only, so a real forward pass cannot change running statistics. Yields the ids of
    the parameters in use (to count them where functions take them directly). A tensor
    shared by several modules (tied weights, a module registered twice) gets one stand-in,
    and every original is put back in ``finally`` (``torch.func.functional_call`` loses
    modules registered under two names).
    """
    originals: list[tuple[dict, str, Any]] = []
    standins: dict[int, torch.Tensor] = {}
    parameter_ids: set[int] = set()
    try:
        for module in modules:
            for store, is_parameter in ((module._parameters, True), (module._buffers, False)):
                for name, tensor in list(store.items()):
                    if tensor is None:
                        continue
                    if is_parameter and mode != "meta":
                        parameter_ids.add(id(tensor))
                        continue
                    standin = standins.get(id(tensor))
                    if standin is None:
                        standin = _meta_like(tensor) if mode == "meta" else tensor.detach().clone()
                        standins[id(tensor)] = standin
                    if is_parameter:
                        parameter_ids.add(id(standin))
                    originals.append((store, name, tensor))
                    store[name] = standin
        with torch.no_grad():
            yield parameter_ids
    finally:
        for store, name, tensor in reversed(originals):
            store[name] = tensor


def unbound_parameters(model: nn.Module, count: int) -> dict[str, Any]:
    """Keyword parameters of ``forward`` beyond the first ``count``, with their defaults.

    torch.fx would otherwise make placeholders of them and trace ``if mask is not None``
    down the wrong branch.
    """
    try:
        signature = inspect.signature(model.forward)
    except (TypeError, ValueError):
        return {}
    concrete: dict[str, Any] = {}
    positional = 0
    for name, parameter in signature.parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if positional < count and parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            positional += 1
            continue
        if parameter.default is not parameter.empty:
            concrete[name] = parameter.default
    return concrete
