"""Keras 3 models on the PyTorch backend, as resviz draws and trains them.

With ``KERAS_BACKEND=torch`` a Keras layer is a ``torch.nn.Module``, but a Keras model does
not register its layers as child modules (its variables sit in one ``ParameterDict``), and
its images are channels-last. ``KerasModel`` wraps it: each top-level Keras layer becomes a
child module under its Keras name, so the tracer sees which layer ran each op and the
recorder gets one layer per Keras layer; images come in as resviz gives them (N, C, H, W)
and are handed to Keras channels-last; ``input_shape`` is (C, H, W).

A functional Keras model is flat: its layers have no blocks around them, so its skips are
found and classified, but there is no residual block to collapse them into.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import ResvizError


def is_keras_model(model: Any) -> bool:
    return any(cls.__module__.startswith("keras.") and cls.__name__ == "Model" for cls in type(model).__mro__)


class KerasModel(nn.Module):
    """A Keras model on the PyTorch backend, with its layers as child modules and (N, C, H, W) images."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise ResvizError(f"the Keras model {model.name!r} runs on Keras's {_backend()!r} backend; resviz needs "
                              "KERAS_BACKEND=torch, set before keras is first imported")
        object.__setattr__(self, "keras_model", model)  # not a child: its variables are its layers' variables
        object.__setattr__(self, "graph", getattr(model, "_functional", None) or model)
        shape = tuple(model.input_shape) if not isinstance(model.input_shape, list) else None
        if shape is None or len(shape) < 2 or any(d is None for d in shape[1:]):
            raise ResvizError(f"the Keras model {model.name!r} needs one input with fixed sizes, "
                              f"got input_shape {model.input_shape}")
        self.channels_last = len(shape) == 4 and _data_format() == "channels_last"
        sizes = tuple(int(d) for d in shape[1:])
        self.input_shape = (sizes[-1], *sizes[:-1]) if self.channels_last else sizes
        # Layers run through the children (a tracing copy's own copies, whose hooks fire).
        self.child_of: dict[str, str] = {}
        for layer in model.layers:
            if isinstance(layer, nn.Module) and not _is_input_layer(layer):
                self.child_of[layer.name] = self._child_name(layer.name)
                self.add_module(self.child_of[layer.name], layer)

    def _child_name(self, name: str) -> str:
        name = name.replace(".", "_")
        while hasattr(self, name):
            name = f"{name}_layer"
        return name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last and x.ndim == 4:
            x = x.permute(0, 2, 3, 1)
        run = getattr(self.graph, "_run_through_graph", None)
        if run is None:  # a subclassed Keras model: no graph to run layer by layer
            return self.keras_model(x, training=self.training)
        return run(x, operation_fn=self._operation)

    def _operation(self, operation: Any) -> Any:
        layer = self._modules.get(self.child_of.get(operation.name, ""), operation)
        wants_training = "training" in getattr(operation, "_call_context_args", ())

        def call(*args: Any, **kwargs: Any) -> Any:
            if wants_training:
                kwargs.setdefault("training", self.training)
            return layer(*args, **kwargs)

        return call


def _is_input_layer(layer: Any) -> bool:
    return type(layer).__name__ == "InputLayer"


def _backend() -> str:
    import keras

    return keras.backend.backend()


def _data_format() -> str:
    import keras

    return keras.config.image_data_format()
