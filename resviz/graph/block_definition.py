"""A model's blocks: the one definition the recorder, the attribution sanity checks and the
window share.

A block is what the graph draws as one box at the ``blocks`` level (``analyse_hierarchy``):
each module that holds a skip connection (the fork and the merge of a skip inside one
module: a residual block), and, for the parts of the model without skips, the outermost
composite modules (a ``BasicBlock`` of a plain twin, a user's ``MLPBlock``) or containers
of plain layers (a VGG-style ``Sequential(conv, bn, relu)``). A plain twin therefore has
the same blocks as its residual twin, found by the same trace: its ``BasicBlock`` modules
hold no skip, but they are composite modules, so each is a block with no skip kind. Blocks
come in the order the forward pass first runs them.

Fallback, used only when the model cannot be traced (no example input and no
``input_shape``, or a forward pass that fails): the outermost non-root modules with a
parameterised leaf as a direct child (``fallback_blocks``). It finds the same blocks on the
zoo's models, but it cannot see skips, so those blocks have no skip kind (``traced`` False).

Tracing runs on the meta device where the model allows it (ResNet-20: tens of milliseconds
once torch's meta kernels are loaded, which a training step loads anyway); the result is
kept per model instance and example input shape, so a second call is free.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import one_line
from .blocks import analyse_hierarchy
from .opgraph import FUNCTION, MODULE
from .skips import find_skips
from .trace import trace_graph


@dataclass(frozen=True)
class BlockInfo:
    """One block: its module's qualified name and the kind of skip it holds (one of
    ``SKIP_KINDS``: the first skip it merges, in execution order), or None for a block without
    a skip (a plain stage, a plain twin's block) or one found by the fallback (``traced`` False)."""

    name: str
    skip: str | None = None
    traced: bool = True


@dataclass(frozen=True)
class _Analysis:
    blocks: tuple[BlockInfo, ...]
    held: dict[str, str] | None  # module -> kind of the first skip it holds; None when untraced
    fallback_reason: str | None


_cache: weakref.WeakKeyDictionary[nn.Module, dict[Any, _Analysis]] = weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


def model_blocks(model: nn.Module, example_input: Any = None) -> list[BlockInfo]:
    """The model's blocks, in forward order (see the module's docstring for the definition and
    its fallback). ``example_input`` is what ``trace_graph`` takes: a tensor, a tuple of them, a
    shape, or None for the model's ``input_shape``."""
    return list(_analyse(model, example_input).blocks)


def fallback_reason(model: nn.Module, example_input: Any = None) -> str | None:
    """Why ``model_blocks`` used the fallback for this model and input, or None when it traced."""
    return _analyse(model, example_input).fallback_reason


def skip_kinds(model: nn.Module, names: Sequence[str], example_input: Any = None) -> list[str | None] | None:
    """For each module name, the kind of the first skip that module holds itself (None: it holds
    none, e.g. a stage whose blocks hold them); None as a whole when the model cannot be traced
    and so the kinds are unknown."""
    held = _analyse(model, example_input).held
    return None if held is None else [held.get(name) for name in names]


def fallback_blocks(model: nn.Module) -> list[str]:
    """The fallback for untraceable models: outermost non-root modules with a parameterised leaf
    as a direct child. That picks ``BasicBlock``, ``MLPBlock``, dense layers and transitions,
    and the ``Sequential`` stages of a simple CNN, but not the stages that only group blocks,
    and nothing inside a block."""
    blocks: list[str] = []
    for qualified_name, module in model.named_modules():
        if not qualified_name or any(qualified_name.startswith(block + ".") for block in blocks):
            continue
        if any(_is_parameterised_leaf(child) for child in module.children()):
            blocks.append(qualified_name)
    return blocks


def _is_parameterised_leaf(module: nn.Module) -> bool:
    return next(module.children(), None) is None and next(module.parameters(recurse=False), None) is not None


def _analyse(model: nn.Module, example_input: Any) -> _Analysis:
    # None traces at the model's input_shape, so that belongs to the key; so does the module tree.
    shown = ("input_shape", getattr(model, "input_shape", None)) if example_input is None else example_input
    key = (_input_key(shown), tuple((name, type(module)) for name, module in model.named_modules()))
    with _cache_lock:
        found = _cache.get(model, {}).get(key)
    if found is not None:
        return found
    analysis = _trace_blocks(model, example_input)
    with _cache_lock:
        _cache.setdefault(model, {})[key] = analysis
    return analysis


def _input_key(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return ("tensor", tuple(value.shape), str(value.dtype))
    if isinstance(value, (tuple, list)):
        return tuple(_input_key(v) for v in value)
    return value if value is None or isinstance(value, (int, float, str, bool)) else ("object", id(value))


def _trace_blocks(model: nn.Module, example_input: Any) -> _Analysis:
    try:
        with torch.random.fork_rng(devices=[]):  # a random example input must not move the caller's seed
            opgraph = trace_graph(model, example_input)
    except Exception as exc:  # noqa: BLE001 - any model that cannot be traced gets the fallback
        reason = one_line(exc)
        return _Analysis(tuple(BlockInfo(name, None, traced=False) for name in fallback_blocks(model)), None, reason)
    skips = find_skips(opgraph)
    held: dict[str, str] = {}
    for skip in skips:  # in execution order: the first skip a module merges names its kind
        if skip.block:
            held.setdefault(skip.block, skip.kind)
    names = analyse_hierarchy(opgraph, skips).blocks
    first_op: dict[str, int] = {}
    for _, data in opgraph.graph.nodes(data=True):
        module = data["module"] if data["kind"] in (MODULE, FUNCTION) else ""
        while module:
            if module in names and data["order"] < first_op.get(module, data["order"] + 1):
                first_op[module] = data["order"]
            module = module.rpartition(".")[0]
    ordered = sorted(names, key=lambda name: (first_op.get(name, 1 << 62), name))
    return _Analysis(tuple(BlockInfo(name, held.get(name)) for name in ordered), held, None)
