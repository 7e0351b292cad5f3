"""Plain and residual twins trained as a pair: same seed, same data order, one run file each.

``runs/NAME.resviz`` becomes ``runs/NAME-plain.resviz`` and ``runs/NAME-residual.resviz``,
each naming the other in ``RunInfo.twin``, so the window can put them side by side.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import ResvizError
from ..models import is_user_reference, model_entry
from .config import TrainConfig
from .control import TrainingControl


def twin_models(name: str) -> tuple[str, str]:
    """(plain, residual) zoo names of a model and its twin, whichever of the two ``name`` is."""
    if is_user_reference(name):
        raise ResvizError(f"{name}: twins are trained for zoo models with a plain twin (see 'resviz models'); "
                          "a user's model has none")
    entry = model_entry(name)
    if entry.twin is None:
        raise ResvizError(f"{name} has no plain/residual twin; 'resviz models' lists each model's twin")
    if entry.defaults.get("residual", False):
        return entry.twin, name
    return name, entry.twin


def twin_paths(path: Path) -> tuple[Path, Path]:
    stem = path.stem
    for suffix in ("-plain", "-residual"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    return path.with_name(f"{stem}-plain{path.suffix}"), path.with_name(f"{stem}-residual{path.suffix}")


def twin_configs(config: TrainConfig) -> tuple[TrainConfig, TrainConfig]:
    """The plain and the residual run of ``config``; only the model and the run file differ."""
    plain_model, residual_model = twin_models(config.model)
    options = dict(config.model_options)
    options.pop("residual", None)  # the twin's own default decides
    path = config.run_path()
    if not config.out:
        path = path.with_name(path.name.replace(config.model, f"{residual_model}-twins", 1))
    plain_path, residual_path = twin_paths(path)
    plain = config.replace(model=plain_model, model_options=options, out=str(plain_path), twin=str(residual_path))
    residual = config.replace(model=residual_model, model_options=dict(options), out=str(residual_path),
                              twin=str(plain_path))
    return plain, residual


def train_twins(config: TrainConfig, *, control: TrainingControl | None = None,
                on_progress: Callable[[str, object], None] | None = None) -> tuple[object, object]:
    """Train the plain twin, then the residual one, in this process; returns both ``TrainResult``s.

    ``on_progress(which, progress)`` gets "plain" or "residual" with each ``TrainProgress``.
    """
    from .trainer import Trainer

    control = control or TrainingControl()
    results = []
    for which, twin_config in zip(("plain", "residual"), twin_configs(config)):
        if control.stop_requested:
            break
        callback = (lambda progress, which=which: on_progress(which, progress)) if on_progress else None
        results.append(Trainer(twin_config, control=control, on_progress=callback).run())
    return tuple(results)  # type: ignore[return-value]
