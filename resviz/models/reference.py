"""What a model reference names: a zoo model (``resnet20``), a user's Python file
(``path/model.py:factory``) or a model file resviz reads itself (``model.onnx``, ``model.pt2``)."""

from __future__ import annotations

from pathlib import Path

# Model files read without a factory: ONNX graphs (read, never run) and torch.export programs.
MODEL_FILE_SUFFIXES = (".onnx", ".pt2")
# References whose loading can run code, so they load only on explicit trust: a Python file
# runs its code, and torch.export.load unpickles (weights of tensor subclasses, constants,
# example inputs).
CODE_SUFFIXES = (".py", ".pt2")


def _path_part(reference: str) -> str:
    return reference.rsplit(":", 1)[0] if ":" in reference.replace("\\", "/").split("/")[-1] else reference


def is_user_reference(reference: str) -> bool:
    """True for ``file.py``, ``file.py:factory``, ``file.onnx`` and ``file.pt2``."""
    path = _path_part(reference).lower()
    return path.endswith(".py") or path.endswith(MODEL_FILE_SUFFIXES)


def is_model_file(reference: str) -> bool:
    """True for a model file resviz reads itself (``.onnx``, ``.pt2``): no factory to call."""
    return reference.lower().endswith(MODEL_FILE_SUFFIXES)


def runs_code(reference: str) -> bool:
    """True when loading the reference can run code from the file (it then needs trust)."""
    return _path_part(reference).lower().endswith(CODE_SUFFIXES)


def split_reference(reference: str) -> tuple[Path, str | None]:
    """``dir/model.py:build`` -> (Path("dir/model.py"), "build"); the factory may be left out."""
    head, sep, tail = reference.rpartition(":")
    if sep and head.endswith(".py") and tail:
        return Path(head), tail
    return Path(reference), None
