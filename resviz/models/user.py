"""A user's own model: ``path/to/file.py:factory``, a function or class returning an ``nn.Module``.

Loading it runs the file's code, so it happens only with an explicit ``trust=True`` (the
``--trust`` flag, or the window's confirmation that shows the path and its SHA-256). The file
is read once and exactly the bytes that were hashed run: a file replaced after it was trusted
is refused where the trusted digest is known (the window and its training children, a run
rebuilt from its file, a command that read the file before its data).
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import linecache
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from torch import nn

from ..errors import ResvizError, TrustError, did_you_mean, one_line
from .keras_model import KerasModel, is_keras_model
from .reference import split_reference
from .spec import ModelSpec


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def changed_since_trusted(path: str | Path, trusted: str, now: str) -> str:
    """The one line for a model file whose content is no longer the content the user trusted."""
    return (f"{path}: the file changed since it was trusted (sha256 {trusted}, now {now}); "
            "review it and trust it again")


def read_trusted_source(path: Path, *, trust: bool, expected_sha256: str | None = None,
                        runs: str = "loading a model file runs its code") -> tuple[bytes, str]:
    """The file's bytes and their SHA-256, read once: what is hashed is exactly what may run.

    Refuses without ``trust``, and when ``expected_sha256`` (the digest the user trusted, or
    the one a run recorded) is given and the bytes differ from it.
    """
    try:
        source = path.read_bytes()
    except OSError as exc:
        raise ResvizError(f"{path}: cannot read the model file: {exc.strerror or exc}") from None
    digest = hashlib.sha256(source).hexdigest()
    if not trust:
        raise TrustError(f"{path}: {runs}; pass --trust if you trust it "
                         f"(sha256 {digest})")
    if expected_sha256 and str(expected_sha256).lower() != digest:
        raise TrustError(changed_since_trusted(path, expected_sha256, digest))
    return source, digest


def _execute(path: Path, source: bytes, digest: str) -> ModuleType:
    """Run ``source`` (the hashed bytes, never the file again) as a fresh module."""
    module_name = f"resviz_user_{digest[:16]}"
    filename = str(path.resolve())
    try:
        code = compile(source, filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        raise ResvizError(f"{path}: failed to import: {one_line(exc)}") from exc
    module = ModuleType(module_name)
    module.__file__ = filename
    module.__spec__ = importlib.util.spec_from_loader(module_name, loader=None, origin=filename)
    # Tracebacks and inspect show the lines that ran, not what the file holds by then.
    text = source.decode("utf-8", errors="replace")
    linecache.cache[filename] = (len(source), None, text.splitlines(keepends=True), filename)
    sys.modules[module_name] = module  # dataclasses and torch.fx look the module up by name
    os.environ.setdefault("KERAS_BACKEND", "torch")  # a Keras model file runs on PyTorch unless told otherwise
    try:
        exec(code, module.__dict__)  # noqa: S102 - the user trusted exactly these bytes
    except Exception as exc:  # noqa: BLE001 - any failure in user code is reported, not raised raw
        sys.modules.pop(module_name, None)
        raise ResvizError(f"{path}: failed to import: {one_line(exc)}") from exc
    return module


def _module_factories(module: Any) -> list[str]:
    return [name for name, value in vars(module).items()
            if not name.startswith("_") and callable(value) and getattr(value, "__module__", None) == module.__name__]


def load_user_model(reference: str, *, trust: bool, options: dict[str, Any] | None = None,
                    expected_sha256: str | None = None) -> nn.Module:
    """Import ``file.py`` and call its factory with ``options`` as keyword arguments.

    Without a factory name, the file must define exactly one ``nn.Module`` subclass or a
    function named ``build_model``. The file is read once; the bytes that run are the bytes
    hashed, checked against ``expected_sha256`` when given, and that digest goes in the
    model's ``resviz_spec``.
    """
    path, factory_name = split_reference(reference)
    if not path.is_file():
        raise ResvizError(f"{path}: model file not found")
    source, digest = read_trusted_source(path, trust=trust, expected_sha256=expected_sha256)
    module = _execute(path, source, digest)

    if factory_name is None:
        factory_name = _default_factory(module, path)
    factory = getattr(module, factory_name, None)
    if factory is None or not callable(factory):
        raise ResvizError(f"{path}: has no factory {factory_name!r}"
                          f"{did_you_mean(factory_name, _module_factories(module))}")
    try:
        model = factory(**(options or {}))
    except Exception as exc:  # noqa: BLE001
        raise ResvizError(f"{path}:{factory_name} raised {one_line(exc)}") from exc
    if is_keras_model(model):  # a Keras 3 model on the PyTorch backend: its layers as modules, NCHW images
        try:
            model = KerasModel(model)
        except ResvizError as exc:
            raise ResvizError(f"{path}:{factory_name}: {exc}") from None
    if not isinstance(model, nn.Module):
        raise ResvizError(f"{path}:{factory_name} returned {type(model).__name__}, not a torch.nn.Module")
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
