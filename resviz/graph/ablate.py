"""The plain twin by ablation: a runnable copy of a model with chosen skip connections removed.

The copy is traced with torch.fx and its graph rewritten: an additive merge keeps only its
long branch (``out + x`` becomes ``out``); a concatenation keeps its shape, with zeros in
place of the skipped tensor, so the layers after it still fit. Shortcut layers left unused
(a projection's 1x1 conv) are dropped, as in the zoo's plain twins. Any residual network a
user brings can so be trained against its plain self.
"""

from __future__ import annotations

import copy
import operator
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx as fx
from torch import nn

from ..errors import ResvizError, did_you_mean
from .execution import eval_mode, example_args, swapped_tensors, to_meta
from .opgraph import collect_module_info
from .ops import CONCAT_OPS
from .skips import find_skips
from .trace_fx import FxTraceFailed, build_opgraph, run_shapes, symbolic_trace
from .types import SkipConnection


def _select(skips: list[SkipConnection], chosen: Iterable[SkipConnection | str] | None,
            model_name: str) -> list[SkipConnection]:
    if chosen is None:
        return list(skips)
    by_merge = {s.merge: s for s in skips}
    selected: dict[str, SkipConnection] = {}
    for item in chosen:
        key = item.merge if isinstance(item, SkipConnection) else str(item)
        if key in by_merge:
            selected[key] = by_merge[key]
            continue
        in_block = [s for s in skips if s.block == key]
        if not in_block:
            names = list(by_merge) + sorted({s.block for s in skips if s.block})
            raise ResvizError(f"{model_name}: no skip connection at {key!r}{did_you_mean(key, names)}")
        for skip in in_block:
            selected[skip.merge] = skip
    return [s for s in skips if s.merge in selected]


def is_in_place(node: fx.Node) -> bool:
    if node.op == "call_method":
        return str(node.target).endswith("_") and not str(node.target).startswith("__")
    return node.op == "call_function" and node.target is operator.iadd


def _remove_add(graph: fx.Graph, merge: fx.Node, long_arg: fx.Node) -> None:
    if is_in_place(merge) and merge.args and merge.args[0] is not long_arg and isinstance(merge.args[0], fx.Node):
        # ``x.add_(out)`` changed x in place: later readers of x now read the branch alone.
        mutated = merge.args[0]
        after = False
        for node in graph.nodes:
            if node is merge:
                after = True
                continue
            if after and mutated in node.all_input_nodes:
                node.replace_input_with(mutated, long_arg)
    merge.replace_all_uses_with(long_arg)
    graph.erase_node(merge)


def _zeros_like_shape(graph: fx.Graph, source: fx.Node) -> fx.Node:
    """Zeros of ``source``'s shape, dtype and device, made from its size only (no data flows)."""
    size = graph.call_method("size", (source,))
    dtype = graph.call_function(getattr, (source, "dtype"))
    device = graph.call_function(getattr, (source, "device"))
    return graph.call_function(torch.zeros, (size,), {"dtype": dtype, "device": device})


def _tensor_list(merge: fx.Node) -> tuple[list[Any], str | int]:
    if merge.args and isinstance(merge.args[0], (list, tuple)):
        return list(merge.args[0]), 0
    if isinstance(merge.kwargs.get("tensors"), (list, tuple)):
        return list(merge.kwargs["tensors"]), "tensors"
    raise ResvizError(f"cannot remove the concatenation at {merge.name}: its tensors are not a list")


def _position(merge: fx.Node, arg: fx.Node) -> int:
    """Where ``arg`` is among a concatenation's tensors (-1 for other merges)."""
    if merge.op == "call_function" and merge.target in (torch.cat, torch.concat, torch.concatenate):
        tensors, _ = _tensor_list(merge)
        return next(i for i, a in enumerate(tensors) if a is arg)
    return -1


def _remove_concat(graph: fx.Graph, merge: fx.Node, position: int) -> None:
    tensors, where = _tensor_list(merge)
    with graph.inserting_before(merge):
        tensors[position] = _zeros_like_shape(graph, tensors[position])
    if where == 0:
        merge.args = (tensors, *merge.args[1:])
    else:
        merge.kwargs = {**merge.kwargs, "tensors": tensors}


@dataclass(frozen=True)
class SkipMerge:
    """Where a skip connection merges in a traced copy: the merge node and the input node that
    each of its two paths brings."""

    skip: SkipConnection
    merge: fx.Node
    long_arg: fx.Node
    short_arg: fx.Node
    concat: bool


def trace_skip_merges(model: nn.Module, example_input: Any = None,
                      skips: Iterable[SkipConnection | str] | None = None, *,
                      purpose: str = "rewrite its skips") -> tuple[fx.GraphModule, list[SkipMerge]]:
    """A torch.fx trace of a copy of ``model`` and the merge of each chosen skip in it (default:
    all), found before any rewriting; ``skips`` as ``make_plain_twin`` takes them. ``purpose``
    completes the error messages ("cannot copy the model to ...")."""
    name = type(model).__name__
    args = example_args(model, example_input)
    try:
        source = copy.deepcopy(model)
    except Exception as exc:  # noqa: BLE001
        raise ResvizError(f"{name}: cannot copy the model to {purpose}: {exc}") from exc
    info = collect_module_info(source)
    with eval_mode(source, info.modules.values()):
        try:
            gm = symbolic_trace(source, len(args))
        except FxTraceFailed as exc:
            raise ResvizError(f"{name}: cannot {purpose}, which needs a model torch.fx can trace; "
                              f"{exc.reason}") from exc
        try:
            with swapped_tensors(list(gm.modules()), "meta"):
                interpreter = run_shapes(gm, None, to_meta(args), meta=True)
        except Exception as exc:  # noqa: BLE001
            from .doctor import explain_forward_error

            raise explain_forward_error(model, args, exc).to_error() from exc
        arg_ids: dict[fx.Node, dict[fx.Node, str | None]] = {}
        opgraph = build_opgraph(gm.graph, interpreter, collect_module_info(gm), arg_ids=arg_ids).build(
            "fx", None, name, "meta")
    chosen = _select(find_skips(opgraph), skips, name)

    by_name = {node.name: node for node in gm.graph.nodes}
    ops = opgraph.graph
    merges = []
    for skip in chosen:
        merge = by_name[ops.nodes[skip.merge]["fx_name"]]
        long_set = set(skip.long_path)
        short_input = next((p for p in ops.predecessors(skip.merge) if p in set(skip.short_path)), skip.fork)
        sources = arg_ids[merge]
        long_arg = next((a for a in merge.all_input_nodes if sources.get(a) in long_set), None)
        short_arg = next((a for a in merge.all_input_nodes if sources.get(a) == short_input), None)
        if long_arg is None or short_arg is None:
            raise ResvizError(f"{name}: cannot {purpose} at {skip.merge}: its inputs are not plain tensors")
        merges.append(SkipMerge(skip, merge, long_arg, short_arg, ops.nodes[skip.merge]["op"] in CONCAT_OPS))
    return gm, merges


def make_plain_twin(model: nn.Module, example_input: Any = None,
                    skips: Iterable[SkipConnection | str] | None = None) -> nn.Module:
    """A runnable copy of ``model`` without the chosen skip connections (default: all of them).

    ``skips`` are ``SkipConnection``s from ``find_skips``, merge node ids (``layer1.0.add``) or
    block names (``layer1.0``). The twin is an ``fx.GraphModule`` holding copies of the
    model's layers under the same qualified names, so its parameters match the model's
    (minus shortcut layers no longer used) and the model's state dict loads into it.
    """
    name = type(model).__name__
    gm, merges = trace_skip_merges(model, example_input, skips, purpose="make a plain twin")
    chosen = [m.skip for m in merges]
    # found before any rewriting, since rewrites change the merges' inputs
    plans = [(m.concat, m.merge, m.long_arg, _position(m.merge, m.short_arg)) for m in merges]
    replaced: dict[fx.Node, fx.Node] = {}
    for is_concat, merge, long_arg, short_position in plans:
        if is_concat:
            _remove_concat(gm.graph, merge, short_position)
        else:
            while long_arg in replaced:
                long_arg = replaced[long_arg]
            _remove_add(gm.graph, merge, long_arg)
            replaced[merge] = long_arg
    gm.graph.eliminate_dead_code()
    gm.graph.lint()
    gm.recompile()
    gm.delete_all_unused_submodules()
    twin = fx.GraphModule(gm, gm.graph, class_name=f"{name}PlainTwin")
    twin.train(model.training)
    for module_name, module in twin.named_modules():
        if module_name:
            try:
                module.train(model.get_submodule(module_name).training)
            except AttributeError:
                pass
    if getattr(model, "input_shape", None) is not None:
        twin.input_shape = tuple(model.input_shape)
    spec = getattr(model, "resviz_spec", None)
    twin.resviz_ablation = {"model": spec.to_dict() if spec is not None else {"name": name},
                            "removed": [s.merge for s in chosen]}
    return twin
