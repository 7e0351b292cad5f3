"""A user's own model: ``path/to/file.py:factory``, a function or class returning an ``nn.Module``.

Loading it runs the file's code, so it happens only with an explicit ``trust=True`` (the
``--trust`` flag, or the window's confirmation that shows the path and its SHA-256).
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

from torch import nn

from ..errors import ResvizError, TrustError, did_you_mean


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


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _module_factories(module: Any) -> list[str]:
    return [name for name, value in vars(module).items()
            if not name.startswith("_") and callable(value) and getattr(value, "__module__", None) == module.__name__]


def load_user_model(reference: str, *, trust: bool, options: dict[str, Any] | None = None,
                    expected_sha256: str | None = None) -> nn.Module:
    """Import ``file.py`` and call its factory with ``options`` as keyword arguments.

    Without a factory name, the file must define exactly one ``nn.Module`` subclass or a
    function named ``build_model``.
    """
    path, factory_name = split_reference(reference)
    if not path.is_file():
        raise ResvizError(f"{path}: model file not found")
    digest = file_sha256(path)
    if not trust:
        raise TrustError(f"{path}: loading a model file runs its code; pass --trust if you trust it "
                         f"(sha256 {digest})")
    if expected_sha256 and expected_sha256 != digest:
        raise ResvizError(f"{path}: file changed since the run was recorded (sha256 {digest}, recorded "
                          f"{expected_sha256})")
    module_name = f"resviz_user_{digest[:16]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ResvizError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and torch.fx look the module up by name
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - any failure in user code is reported, not raised raw
        sys.modules.pop(module_name, None)
        raise ResvizError(f"{path}: failed to import: {_one_line(exc)}") from exc

    if factory_name is None:
        factory_name = _default_factory(module, path)
    factory = getattr(module, factory_name, None)
    if factory is None or not callable(factory):
        raise ResvizError(f"{path}: has no factory {factory_name!r}"
                          f"{did_you_mean(factory_name, _module_factories(module))}")
    try:
        model = factory(**(options or {}))
    except Exception as exc:  # noqa: BLE001
        raise ResvizError(f"{path}:{factory_name} raised {_one_line(exc)}") from exc
    if not isinstance(model, nn.Module):
        raise ResvizError(f"{path}:{factory_name} returned {type(model).__name__}, not a torch.nn.Module")
    from .spec import ModelSpec

    model.resviz_spec = ModelSpec(f"{path}:{factory_name}", dict(options or {}), digest)
    return model


def _default_factory(module: Any, path: Path) -> str:
    if callable(getattr(module, "build_model", None)):
        return "build_model"
    classes = [name for name, value in vars(module).items()
               if inspect.isclass(value) and issubclass(value, nn.Module) and value.__module__ == module.__name__]
    if len(classes) == 1:
        return classes[0]
    raise ResvizError(f"{path}: name the factory as {path}:NAME (found {', '.join(classes) or 'no nn.Module class'})")
