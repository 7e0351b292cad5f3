"""Which modules the recorder watches: layers (parameterised leaves) and blocks.

Ids are module qualified names as ``named_modules()`` gives them (``layer2.0.conv1``), the
same names the graph and the window use, so what the recorder saw can be found on the graph.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from torch import nn

from ..errors import ResvizError, did_you_mean
from ..graph.block_definition import model_blocks, skip_kinds
from ..runfile import RunStructure

# The id of the model's own output when it has no blocks (or a user asks for it).
OUTPUT_ID = "output"
# The id of parameters held directly by the root module (rare: most models keep them in leaves).
ROOT_ID = "(model)"
# Class names of normalisation layers (``nn.BatchNorm2d``, ``nn.GroupNorm``, a user's ``RMSNorm``...).
NORM_CLASS_NAMES = ("BatchNorm", "GroupNorm", "LayerNorm", "InstanceNorm", "LocalResponseNorm", "RMSNorm")


def unwrap_model(model: nn.Module) -> nn.Module:
    """The user's module inside DistributedDataParallel / DataParallel / torch.compile wrappers.

    Names are taken from the inner module, so a run recorded under DDP has the same layer ids
    as one recorded without it.
    """
    while True:
        inner = getattr(model, "module", None) if _is_parallel_wrapper(model) else None
        inner = inner if inner is not None else getattr(model, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            return model
        model = inner


def _is_parallel_wrapper(model: nn.Module) -> bool:
    return type(model).__name__ in ("DistributedDataParallel", "DataParallel", "FullyShardedDataParallel")


def layer_parameters(model: nn.Module) -> list[tuple[str, list[tuple[str, nn.Parameter]]]]:
    """(layer id, its trainable parameters) for every module that holds parameters itself.

    These are the parameterised leaves of ordinary models, in ``named_modules()`` order. A
    parameter shared by several modules belongs to the first one, as in ``named_parameters()``.
    """
    seen: set[int] = set()
    layers = []
    for qualified_name, module in model.named_modules():
        own = []
        for name, parameter in module.named_parameters(recurse=False):
            if parameter.requires_grad and id(parameter) not in seen:
                seen.add(id(parameter))
                own.append((name, parameter))
        if own:
            layers.append((qualified_name or ROOT_ID, own))
    return layers


def find_blocks(model: nn.Module, example_input: Any = None) -> list[str]:
    """The model's blocks, as the graph defines them (``resviz.graph.model_blocks``: modules
    holding a skip, and the outermost composite modules elsewhere; its documented fallback for
    models that cannot be traced). A model with none is watched at its output (``"output"``).
    """
    return [block.name for block in model_blocks(model, example_input)] or [OUTPUT_ID]


def resolve_blocks(model: nn.Module, blocks: Iterable[str] | None, example_input: Any = None) -> list[str]:
    """The block ids to watch: found automatically (tracing ``example_input``, as ``find_blocks``),
    or the caller's list checked against the model."""
    if blocks is None:
        return find_blocks(model, example_input)
    names = dict(model.named_modules())
    chosen = list(dict.fromkeys(blocks))
    for block in chosen:
        if block != OUTPUT_ID and (block not in names or block == ""):
            raise ResvizError(f"block {block!r} is not a module of {type(model).__name__}"
                              f"{did_you_mean(block, [n for n in names if n])}; use qualified names such as "
                              f"'layer1.0', or {OUTPUT_ID!r} for the model's output")
    if not chosen:
        raise ResvizError("blocks= is empty; leave it out to find the blocks automatically")
    return chosen


def block_modules(model: nn.Module, block_ids: Sequence[str]) -> list[nn.Module]:
    names = dict(model.named_modules())
    return [model if block == OUTPUT_ID else names[block] for block in block_ids]


def layer_kind(module: nn.Module) -> str:
    """What a recorded layer is, by its own parameters: ``"norm"`` (a normalisation layer, by its
    class name), ``"weight"`` (a weight matrix or kernel: convolutions, linear layers,
    embeddings) or ``"other"`` (only vectors or scalars, e.g. PReLU).

    Normalisation layers' gradients sit on another scale than the weight layers', so readers
    draw the depth profile of the weight layers alone (the layers the ResNet paper counts).
    """
    if any(norm in type(module).__name__ for norm in NORM_CLASS_NAMES):
        return "norm"
    if any(parameter.ndim >= 2 for parameter in module.parameters(recurse=False)):
        return "weight"
    return "other"


def block_layers(layer_ids: Sequence[str], block_ids: Sequence[str]) -> list[list[str]]:
    """The layers inside each block: those whose module lies in the block's (every layer for
    the model's output, ``"output"``)."""
    return [list(layer_ids) if block == OUTPUT_ID else
            [layer for layer in layer_ids if layer == block or layer.startswith(block + ".")]
            for block in block_ids]


def run_structure(model: nn.Module, layer_ids: Sequence[str], block_ids: Sequence[str],
                  example_input: Any = None) -> RunStructure:
    """What the run file records about the model so that readers never rebuild it: each layer's
    kind, each block's layers, and each block's skip kind (unknown, None, when the model cannot
    be traced; the model's output holds no skip of its own)."""
    modules = dict(model.named_modules())
    kinds = [layer_kind(model if layer == ROOT_ID else modules[layer]) for layer in layer_ids]
    modules_watched = [block for block in block_ids if block != OUTPUT_ID]
    skips = skip_kinds(model, modules_watched, example_input)
    block_skips = None if skips is None else [dict(zip(modules_watched, skips)).get(block) for block in block_ids]
    return RunStructure(layer_kinds=kinds, block_layers=block_layers(layer_ids, block_ids), block_skips=block_skips)
