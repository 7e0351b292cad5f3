"""Model files resviz reads itself: ONNX graphs (``.onnx``) and torch.export programs (``.pt2``).

An ONNX file is read, never run: it becomes an ``OnnxGraphModel``, a module without a
forward pass that holds the parsed graph for ``resviz.graph`` to draw (``onnx`` is an
optional dependency, imported only here). ``torch.export.load`` can run code: it unpickles
the weights of tensor subclasses, opaque and TorchBind constants and, where the safe reader
fails, the example inputs (``torch.load(weights_only=False)``, ``pickle.loads``). A
``.pt2`` file therefore loads only on trust, from exactly the bytes that were hashed (and
checked against the trusted digest). Its program becomes a module (``ExportedProgram.module()``)
that trains like any other; its graph is read from the program, with the module stack of
each op, rather than traced again.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ResvizError, TrustError, one_line
from .spec import ModelSpec
from .user import changed_since_trusted, read_trusted_source

PT2_RUNS = "torch.export.load can run code from a .pt2 file (it unpickles parts of it)"


class OnnxGraphModel(nn.Module):
    """An ONNX model's graph, to be drawn: resviz has no ONNX runtime, so it does not run."""

    def __init__(self, path: Path, proto: Any, input_shape: tuple[int, ...] | None) -> None:
        super().__init__()
        self.path = path
        self.input_shape = input_shape
        self.resviz_graph_source = ("onnx", proto)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise ResvizError(f"{self.path}: an ONNX model is drawn, not run (resviz reads its graph; it has no ONNX "
                          "runtime): export the model with torch.export (.pt2) to train it")


def load_model_file(reference: str, *, trust: bool = False, options: dict[str, Any] | None = None,
                    expected_sha256: str | None = None) -> nn.Module:
    """The model in ``file.onnx`` or ``file.pt2``, with its ``resviz_spec`` and ``input_shape``."""
    path = Path(reference)
    if options:
        raise ResvizError(f"{path}: a model file takes no options (got {', '.join(sorted(options))})")
    if not path.is_file():
        raise ResvizError(f"{path}: model file not found")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        model, digest = _load_onnx(path, expected_sha256)
    elif suffix == ".pt2":
        model, digest = _load_exported(path, trust, expected_sha256)
    else:
        raise ResvizError(f"{path}: not a model file resviz reads (.onnx or .pt2)")
    model.resviz_spec = ModelSpec(str(path), {}, digest)
    return model


def import_onnx() -> Any:
    """The ``onnx`` package, or one line saying how to install it."""
    try:
        import onnx
    except ImportError:
        raise ResvizError("reading .onnx files needs the onnx package: pip install onnx") from None
    return onnx


def _load_onnx(path: Path, expected_sha256: str | None) -> tuple[nn.Module, str]:
    onnx = import_onnx()
    try:
        source = path.read_bytes()
    except OSError as exc:
        raise ResvizError(f"{path}: cannot read the model file: {exc.strerror or exc}") from None
    digest = hashlib.sha256(source).hexdigest()
    if expected_sha256 and str(expected_sha256).lower() != digest:
        raise TrustError(changed_since_trusted(path, expected_sha256, digest))
    try:
        # Parsing only: weights kept in external data files are not read (the graph needs their shapes alone).
        proto = onnx.load_model_from_string(source)
    except Exception as exc:  # noqa: BLE001 - a protobuf decode error names no file
        raise ResvizError(f"{path}: not an ONNX model: {one_line(exc)}") from exc
    if not proto.graph.node:
        raise ResvizError(f"{path}: the ONNX model has no graph (no nodes)")
    return OnnxGraphModel(path, proto, onnx_input_shape(proto)), digest


def onnx_input_shape(proto: Any) -> tuple[int, ...] | None:
    """The first data input's shape without its batch, when every size is a number."""
    initializers = {init.name for init in proto.graph.initializer}
    for value in proto.graph.input:
        if value.name in initializers:
            continue
        dims = value.type.tensor_type.shape.dim
        sizes = [d.dim_value if d.HasField("dim_value") else 0 for d in dims]
        if len(sizes) > 1 and all(d > 0 for d in sizes[1:]):
            return tuple(sizes[1:])
        return None
    return None


def _load_exported(path: Path, trust: bool, expected_sha256: str | None) -> tuple[nn.Module, str]:
    source, digest = read_trusted_source(path, trust=trust, expected_sha256=expected_sha256, runs=PT2_RUNS)
    try:
        program = torch.export.load(io.BytesIO(source))  # the hashed bytes, never the file again
    except Exception as exc:  # noqa: BLE001 - anything wrong with the archive is the file's problem
        raise ResvizError(f"{path}: not a torch.export program: {one_line(exc)}") from exc
    module = program.module()
    # ExportedProgram.module() forbids train()/eval(); the graph runs as exported either way
    # (a BatchNorm exported in training mode keeps using batch statistics), so the flags may be set.
    vars(module).pop("train", None)
    vars(module).pop("eval", None)
    module.input_shape = _program_input_shape(program)
    module.resviz_graph_source = ("export", program)
    return module, digest


def _program_input_shape(program: Any) -> tuple[int, ...] | None:
    """The first tensor input's shape without its batch, with the example's sizes for symbolic ones."""
    user_inputs = set(program.graph_signature.user_inputs)
    for node in program.graph.nodes:
        value = node.meta.get("val")
        if node.op == "placeholder" and node.name in user_inputs and isinstance(value, torch.Tensor):
            sizes = []
            for dim in value.shape[1:]:
                hint = dim if isinstance(dim, int) else getattr(getattr(dim, "node", None), "hint", None)
                if hint is None:
                    return None
                sizes.append(int(hint))
            return tuple(sizes) or None
    return None
