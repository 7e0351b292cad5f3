"""Plain and residual twins trained as a pair: same seed, same data order, one run file each.

``runs/NAME.resviz`` becomes ``runs/NAME-plain.resviz`` and ``runs/NAME-residual.resviz``,
each naming the other in ``RunInfo.twin``, so the window can put them side by side.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..models import twin_pair
from .config import TrainConfig
from .control import TrainingControl


def twin_paths(path: Path) -> tuple[Path, Path]:
    stem = path.stem
    for suffix in ("-plain", "-residual"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    return path.with_name(f"{stem}-plain{path.suffix}"), path.with_name(f"{stem}-residual{path.suffix}")


def twin_configs(config: TrainConfig) -> tuple[TrainConfig, TrainConfig]:
    """The plain and the residual run of ``config``; only the model and the run file differ."""
    pair = twin_pair(config.model, config.model_options)
    path = config.run_path()
    if not config.out:
        path = path.with_name(path.name.replace(config.model, f"{pair.residual}-twins", 1))
    plain_path, residual_path = twin_paths(path)
    plain = config.replace(model=pair.plain, model_options=dict(pair.options), out=str(plain_path),
                           twin=str(residual_path))
    residual = config.replace(model=pair.residual, model_options=dict(pair.options), out=str(residual_path),
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
