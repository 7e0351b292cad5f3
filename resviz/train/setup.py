"""Fitting a model and a data set together before training.

A zoo model takes its input channels, input size and class count from the data set unless
the user set them; then the data is converted to what the model expects (grey to colour,
resized). The synthetic shapes are simply made at the model's input shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ResvizError
from ..models import LoadedModel, ModelSpec, is_user_reference, open_model, resolve_options
from .config import TrainConfig

SHAPES = "shapes"
# Shapes made for a run when the config does not say how many.
DEFAULT_SHAPES_TRAIN = 3000
DEFAULT_SHAPES_TEST = 600


@dataclass
class Prepared:
    model: nn.Module
    spec: ModelSpec
    train: object       # resviz.data.ImageData
    test: object        # resviz.data.ImageData
    input_shape: tuple[int, int, int]


def prepare(config: TrainConfig, *, model: nn.Module | None = None, train_data=None, test_data=None) -> Prepared:
    """The model (initialised from ``config.seed``) and both splits, shaped for each other."""
    from ..data import load_dataset

    config.validate()
    options = dict(config.model_options)
    zoo = model is None and not is_user_reference(config.model)
    user_set = set(options)

    wanted = _wanted_input(config, options, model, zoo)
    if train_data is None:
        train_data = _load(load_dataset, config, "train", wanted, config.train_samples)
    if test_data is None:
        test_data = _load(load_dataset, config, "test", wanted, config.test_samples)
    if list(test_data.classes) != list(train_data.classes):
        raise ResvizError(f"data set {config.dataset}: the test split's classes {test_data.classes} differ from "
                          f"the training split's {train_data.classes}")
    channels, height, width = (int(d) for d in train_data.images.shape[1:])
    num_classes = len(train_data.classes)

    if zoo:
        for key, value in (("in_channels", channels), ("input_size", height), ("num_classes", num_classes)):
            if key not in user_set:
                options[key] = value
        if options.get("num_classes", num_classes) < num_classes:
            raise ResvizError(f"{config.model}: option num_classes={options['num_classes']} but data set "
                              f"{train_data.name} has {num_classes} classes")
    if model is None:
        torch.manual_seed(config.seed)  # the same seed gives the same initial weights
        loaded: LoadedModel = open_model(config.model, options, trust=config.trust, weights=config.weights,
                                         input_shape=config.input_shape, expected_sha256=config.trusted_sha256)
        model, spec, shape = loaded.model, loaded.spec, tuple(loaded.input_shape)
    else:
        spec = getattr(model, "resviz_spec", None) or ModelSpec(type(model).__name__, {})
        shape = tuple(getattr(model, "input_shape", (channels, height, width)))
    if len(shape) != 3:
        raise ResvizError(f"{config.model}: resviz trains image classifiers with (C, H, W) inputs; the model's "
                          f"input shape is {shape}")
    train_data = _fit(train_data, shape)
    test_data = _fit(test_data, shape)
    _check_outputs(model, shape, num_classes, config.model)
    return Prepared(model, spec, train_data, test_data, shape)


def _wanted_input(config: TrainConfig, options: dict, model: nn.Module | None,
                  zoo: bool) -> tuple[int, int] | None:
    """(channels, size) the model expects, where it is known before the data is loaded."""
    if model is not None:
        shape = getattr(model, "input_shape", None)
        return (int(shape[0]), int(shape[1])) if shape else None
    if zoo:
        merged = resolve_options(config.model, options)
        return int(merged["in_channels"]), int(merged["input_size"])
    if config.input_shape and len(config.input_shape) == 3:
        return int(config.input_shape[0]), int(config.input_shape[1])
    return None


def _load(load_dataset, config: TrainConfig, split: str, wanted: tuple[int, int] | None, n: int | None):
    if config.dataset == SHAPES:
        channels, size = wanted if wanted else (3, 32)
        default = DEFAULT_SHAPES_TRAIN if split == "train" else DEFAULT_SHAPES_TEST
        return load_dataset(SHAPES, split=split, size=config.image_size or size,
                            channels=channels if channels in (1, 3) else 3, seed=config.data_seed, n=n or default)
    # Real data keeps its own format here (or the --image-size asked for), so a zoo model can be shaped to it.
    return load_dataset(config.dataset, split=split, data_dir=config.data_dir, download=config.download,
                        seed=config.data_seed, n=n, size=config.image_size)


def _fit(data, shape: tuple[int, ...]):
    """The data converted to the model's (C, H, W) when they differ."""
    from ..data.types import ImageData, convert_images

    channels, height, width = shape
    if tuple(data.images.shape[1:]) == (channels, height, width):
        return data
    if height != width:
        raise ResvizError(f"the model expects {height}x{width} inputs; resviz resizes data sets to square sizes only")
    images = convert_images(data.images, size=height, channels=channels, name=data.name)
    masks = None
    if data.masks is not None:
        masks = torch.nn.functional.interpolate(data.masks[:, None].float(), size=(height, width),
                                                mode="nearest")[:, 0].bool()
    return ImageData(images, data.labels, list(data.classes), data.name, masks)


def _check_outputs(model: nn.Module, shape: tuple[int, ...], num_classes: int, name: str) -> None:
    """One tiny forward pass, so a model that cannot classify this data fails before the run starts."""
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(1, *shape, device=device))
    except torch.OutOfMemoryError:
        raise  # the trainer gives it the same batch-size hint as one during training
    except Exception as exc:  # noqa: BLE001 - the user's model; say which input it failed on, where, and why
        from ..graph.doctor import describe_failure

        raise ResvizError(f"{name}: the model fails on a {tuple(shape)} input: {describe_failure(model, exc)}") from None
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[1] < num_classes:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ResvizError(f"{name}: the model should output (batch, {num_classes}) class scores for this data set, "
                          f"got {got}")

