"""What a model reference names: a zoo model (``resnet20``) or a user's file (``path/model.py:factory``)."""

from __future__ import annotations

from pathlib import Path


def is_user_reference(reference: str) -> bool:
    """True for ``file.py`` or ``file.py:factory``."""
    path = reference.rsplit(":", 1)[0] if ":" in reference.replace("\\", "/").split("/")[-1] else reference
    return path.endswith(".py")


def split_reference(reference: str) -> tuple[Path, str | None]:
    """``dir/model.py:build`` -> (Path("dir/model.py"), "build"); the factory may be left out."""
    head, sep, tail = reference.rpartition(":")
    if sep and head.endswith(".py") and tail:
        return Path(head), tail
    return Path(reference), None
