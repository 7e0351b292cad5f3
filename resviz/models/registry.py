"""The model zoo's registry: ``list_models()``, ``get_model(name, **options)``, ``model_info(name)``.

Every residual model has a plain twin built by the same builder with ``residual=False``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import torch
from torch import nn

from ..errors import ResvizError, did_you_mean
from ..limits import MAX_INPUT_VALUES, format_bytes, physical_memory
from . import densenet, mlp, preact, resnet, seeds
from .parts import ACTIVATIONS, INITS, NORMS, check_choice, initialise
from .spec import ModelSpec

COMMON_DEFAULTS: dict[str, Any] = {
    "num_classes": 10,
    "in_channels": 3,
    "input_size": 32,
    "norm": "batch",
    "activation": "relu",
    "init": "default",
    "zero_init_residual": False,
}

# Accepted values of the numeric options (the zoo's own models lie well inside them).
OPTION_RANGES: dict[str, tuple[int, int]] = {
    "depth": (1, 2000),
    "width": (1, 16384),
    "num_classes": (1, 100_000),
    "in_channels": (1, 1024),
    "input_size": (1, 2048),
    "growth_rate": (1, 1024),
    "blocks": (1, 16),
}
# Training holds about four float32 copies of the parameters (weights, gradients and two optimizer
# buffers); a zoo model whose copies would pass this share of the machine's memory is refused before
# it is built. Where the system does not tell its memory, FALLBACK_MEMORY is assumed.
TRAINING_BYTES_PER_PARAMETER = 16
MODEL_MEMORY_FRACTION = 0.5
FALLBACK_MEMORY = 8_000_000_000


@dataclass(frozen=True)
class ModelEntry:
    name: str
    family: str
    builder: Callable[..., nn.Module]
    defaults: dict[str, Any]
    description: str
    twin: str | None = None


@dataclass(frozen=True)
class ModelInfo:
    """What ``resviz models`` shows of a zoo model with its default options."""

    name: str
    family: str
    depth: int
    parameters: int
    residual: bool
    skips: str
    twin: str | None
    input_shape: tuple[int, ...]
    description: str = field(default="")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "family": self.family, "depth": self.depth, "parameters": self.parameters,
                "residual": self.residual, "skips": self.skips, "twin": self.twin,
                "input_shape": list(self.input_shape), "description": self.description}


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(name: str, family: str, builder: Callable[..., nn.Module], description: str,
                   twin: str | None = None, **defaults: Any) -> None:
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} registered twice")
    _REGISTRY[name] = ModelEntry(name, family, builder, {**COMMON_DEFAULTS, **defaults}, description, twin)


def _register_twins(residual_name: str, plain_name: str | None, family: str, builder: Callable[..., nn.Module],
                    description: str, **defaults: Any) -> None:
    register_model(residual_name, family, builder, description, twin=plain_name, residual=True, **defaults)
    if plain_name:
        register_model(plain_name, family, builder, f"{description}, plain twin (no skips)", twin=residual_name,
                       residual=False, **defaults)


for _depth in (20, 32, 44, 56, 110, 1202):
    _register_twins(f"resnet{_depth}", f"plain{_depth}", "cifar-resnet", resnet.cifar_resnet,
                    f"CIFAR ResNet-{_depth} (He et al. 2016, 6n+2 layers, 16/32/64 channels)",
                    depth=_depth, width=16, shortcut="A")
for _depth in (18, 34, 50, 101, 152):
    _register_twins(f"resnet{_depth}", f"plain{_depth}", "imagenet-resnet", resnet.imagenet_resnet,
                    f"ImageNet ResNet-{_depth} ({'BasicBlock' if _depth < 50 else 'Bottleneck'}, torchvision layout)",
                    depth=_depth, width=64, num_classes=1000, input_size=224)
for _depth in (20, 56, 110):
    _register_twins(f"preact_resnet{_depth}", f"preact_plain{_depth}", "preact-resnet", preact.preact_resnet,
                    f"Pre-activation ResNet-{_depth} (He et al. 2016, identity mappings)", depth=_depth, width=16)
_register_twins("preact_resnet18", "preact_plain18", "preact-resnet", preact.preact_resnet,
                "Pre-activation ResNet-18 (four stages, 64..512 channels)", depth=18, width=64)
_register_twins("mlp_residual", "mlp_plain", "mlp", mlp.deep_mlp,
                "Deep MLP with residual blocks h + f(h): the vanishing-gradient demo", depth=20, width=64,
                in_channels=1, input_size=28, norm="none", activation="tanh")
_register_twins("densenet", "densenet_plain", "densenet", densenet.densenet,
                "DenseNet-BC style net with concatenation skips", depth=40, growth_rate=12, blocks=3)
_register_twins("mnist_resnet", "mnist_plain", "seed", seeds.mnist_resnet,
                "Small MNIST ResNet: conv 32, two residual blocks, flatten, dense", width=32, in_channels=1,
                input_size=28, norm="none")
_register_twins("cifar_small_resnet", "cifar_small_plain", "seed", seeds.cifar_small_resnet,
                "Small CIFAR-10 ResNet: stem 64; blocks 64, 64, 128/2, 128; pooling; dense", width=64)
register_model("simple_cnn", "seed", seeds.simple_cnn,
               "Simple CNN baseline (conv-conv-pool x2, dense 128, dense)", width=32, norm="none")


def list_models(family: str | None = None) -> list[str]:
    """Names of the zoo's models, in registry order (optionally of one family)."""
    return [name for name, entry in _REGISTRY.items() if family is None or entry.family == family]


def model_entry(name: str) -> ModelEntry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ResvizError(f"unknown model {name!r}{did_you_mean(name, _REGISTRY)}; "
                          f"'resviz models' lists them") from None


def _coerce(model: str, key: str, value: Any, default: Any) -> Any:
    """Check an option's type against its default; accept ints where floats are expected."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif isinstance(default, str):
        if isinstance(value, str):
            return value
    raise ResvizError(f"{model}: option {key}={value!r} should be a {type(default).__name__}")


def resolve_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """The full option set of a zoo model: defaults overridden by ``options``, all checked."""
    entry = model_entry(name)
    unknown = sorted(set(options) - set(entry.defaults))
    if unknown:
        key = unknown[0]
        raise ResvizError(f"{name}: unknown option {key!r}{did_you_mean(key, entry.defaults)}; "
                          f"options are {', '.join(sorted(entry.defaults))}")
    merged = dict(entry.defaults)
    for key, value in options.items():
        merged[key] = _coerce(name, key, value, entry.defaults[key])
    check_choice(name, "norm", merged["norm"], NORMS)
    check_choice(name, "activation", merged["activation"], ACTIVATIONS)
    check_choice(name, "init", merged["init"], INITS)
    for key, (low, high) in OPTION_RANGES.items():
        if key in merged and merged[key] < low:
            raise ResvizError(f"{name}: option {key}={merged[key]} must be at least {low}")
        if key in merged and merged[key] > high:
            raise ResvizError(f"{name}: option {key}={merged[key]} is out of range: it must lie between {low} "
                              f"and {high}")
    values = merged["in_channels"] * merged["input_size"] ** 2
    if values > MAX_INPUT_VALUES:
        raise ResvizError(f"{name}: options in_channels={merged['in_channels']}, input_size={merged['input_size']} "
                          f"make inputs of {values:,} values, more than the {MAX_INPUT_VALUES:,} resviz accepts")
    return merged


def _check_model_memory(entry: ModelEntry, merged: dict[str, Any], kwargs: dict[str, Any]) -> None:
    """Refuse, before anything is allocated, a model too large to train on this machine.

    Only options that grow a model past its defaults can: the model is then built on the meta
    device (shapes, no memory) and its parameters counted.
    """
    grown = [key for key in OPTION_RANGES if key in merged and merged[key] != entry.defaults[key]
             and (merged[key] > entry.defaults[key] or key == "blocks")]
    if not grown or torch.get_default_device().type == "meta":
        return
    with torch.device("meta"):
        probe = entry.builder(name=entry.name, **kwargs)
    parameters = count_parameters(probe)
    needed = parameters * TRAINING_BYTES_PER_PARAMETER
    memory = physical_memory() or FALLBACK_MEMORY
    if needed > memory * MODEL_MEMORY_FRACTION:
        options = ", ".join(f"{key}={merged[key]}" for key in grown)
        subject = f"options {options} make" if len(grown) > 1 else f"option {options} makes"
        raise ResvizError(f"{entry.name}: {subject} a model of {parameters:,} parameters, which needs "
                          f"about {format_bytes(needed)} to train, more than {MODEL_MEMORY_FRACTION:.0%} of this "
                          f"machine's {format_bytes(memory)} of memory: choose a smaller value")


def get_model(name: str, **options: Any) -> nn.Module:
    """Build a zoo model. Unknown names and impossible options raise ``ResvizError``.

    The model carries ``resviz_spec`` (to rebuild it) and ``input_shape`` (C, H, W).
    """
    merged = resolve_options(name, options)
    entry = model_entry(name)
    accepted = inspect.signature(entry.builder).parameters
    kwargs = {k: v for k, v in merged.items() if k in accepted}
    _check_model_memory(entry, merged, kwargs)
    model = entry.builder(name=name, **kwargs)
    initialise(model, merged["init"], merged["activation"], merged["zero_init_residual"])
    model.resviz_spec = ModelSpec(name, dict(options))
    model.input_shape = (merged["in_channels"], merged["input_size"], merged["input_size"])
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def model_device(model: nn.Module) -> torch.device:
    """Where the model's first parameter (or buffer) lives; the CPU for a model with neither."""
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def weighted_depth(model: nn.Module) -> int:
    """Layers counted as in the ResNet paper: convolutions and linear layers off the shortcuts."""
    return sum(1 for qualified_name, module in model.named_modules()
               if isinstance(module, (nn.Conv2d, nn.Linear)) and "downsample" not in qualified_name.split("."))


@cache
def _info(name: str) -> ModelInfo:
    entry = model_entry(name)
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        model = get_model(name)
    residual = bool(entry.defaults.get("residual", False))
    skips = "no"
    if residual:
        skips = "concat" if entry.family == "densenet" else "add"
    return ModelInfo(name, entry.family, weighted_depth(model), count_parameters(model), residual, skips,
                     entry.twin, tuple(model.input_shape), entry.description)


def model_info(name: str) -> ModelInfo:
    """Family, depth, parameter count, skips and twin of a zoo model at its defaults."""
    return _info(name)
