"""What the window's "Why it trains" page shows, without Qt: the runs it shows (plain and
residual), each lens's result per side, the shared scales both sides are drawn on, which lens is
busy, and the work each lens does (run in a worker by the page, with progress and cancel).

Results come from the run files first (``RunReader.lens_results``: a replay shows what was
computed before, without recomputing); what the page computes is stored back in each run file.
Signal propagation needs no run: it builds the family's twins at initialisation, one depth at a
time, cached per depth.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..lenses.landscape import Landscape
from ..lenses.lesion import LesionStudy
from ..runfile import LensResult

LENSES = ("signal", "landscape", "lesion", "paths")
SIDES = ("plain", "residual")
# The window's budgets: small, so a lens answers in seconds on a CPU (the commands default larger).
SIGNAL_BATCH, SIGNAL_LINE_POINTS = 4, 8
LANDSCAPE_GRID, LANDSCAPE_SAMPLES = 11, 64
LESION_SAMPLES, LESION_DRAWS = 200, 3
PATHS_BATCH, PATHS_SAMPLES = 8, 4
FAMILY_DEPTHS = {"cifar": (8, 14, 20, 32, 44, 56, 110, 1202), "preact": (8, 14, 20, 32, 44, 56, 110),
                 "mlp": (2, 4, 8, 16, 32, 64, 128, 256, 1000)}
QUICK_DEPTH = 110  # the slider's depths up to this one are computed together when the page opens


@dataclass
class WhyRun:
    """A run file the page shows, and which side of the twins it is."""

    path: Path
    side: str  # "plain" or "residual"
    label: str


@dataclass
class PathsShare:
    """The paths lens for one run, as stored: share of gradient, magnitude and binomial by path length."""

    share: np.ndarray
    distribution: np.ndarray
    magnitude: np.ndarray
    blocks: list[str]

    @classmethod
    def from_lens_result(cls, result: LensResult) -> PathsShare:
        return cls(np.asarray(result.arrays["share"]), np.asarray(result.arrays["distribution"]),
                   np.asarray(result.arrays["magnitude"]), list(result.params.get("block_names") or []))

    @property
    def mean_length(self) -> float:
        return float((np.arange(len(self.share)) * self.share).sum())


def family_of(model_name: str | None) -> str:
    """The signal family a model belongs to: the MLP pair, the pre-activation ResNets, else the CIFAR twins."""
    name = (model_name or "").lower()
    if name.startswith("mlp"):
        return "mlp"
    if name.startswith("preact"):
        return "preact"
    return "cifar"


class WhyItTrains:
    """The page's state. Sides are "plain" and "residual"; a lens's results are dicts side -> result."""

    def __init__(self, family: str = "cifar") -> None:
        self.runs: dict[str, WhyRun] = {}
        self.family = family
        self.depths: tuple[int, ...] = FAMILY_DEPTHS[family]
        self.depth = 20 if 20 in self.depths else self.depths[0]
        self.signal_cache: dict[Any, Any] = {}
        self.landscapes: dict[str, Landscape] = {}
        self.lesions: dict[str, LesionStudy] = {}
        self.paths: dict[str, PathsShare] = {}
        self.replayed: set[str] = set()  # lenses whose results were read from the run files
        self.deleted: dict[str, set[str]] = {side: set() for side in SIDES}
        self.deleted_accuracy: dict[str, float] = {}
        # side -> the run loaded for its lesion (checkpoint and test images): the net and images
        # the study used, so that deleting blocks by hand scores the same net on the same images.
        self.lesion_runs: dict[str, Any] = {}
        self.busy: dict[str, bool] = dict.fromkeys(LENSES, False)
        self.landscape_grid = LANDSCAPE_GRID
        self.signal_options: dict[str, Any] = {}  # model options both twins share (e.g. a smaller width)

    # -- runs and replay ----------------------------------------------------------------------

    def set_family(self, family: str) -> None:
        if family != self.family:
            self.family, self.depths = family, FAMILY_DEPTHS[family]
            if self.depth not in self.depths:
                self.depth = 20 if 20 in self.depths else self.depths[0]

    def set_runs(self, runs: Sequence[WhyRun]) -> bool:
        """Show these runs (at most one per side); True when they changed (their results are then re-read)."""
        chosen = {run.side: run for run in runs if run.side in SIDES}
        if {s: r.path for s, r in chosen.items()} == {s: r.path for s, r in self.runs.items()}:
            return False
        self.runs = chosen
        self.landscapes, self.lesions, self.paths = {}, {}, {}
        self.deleted = {side: set() for side in SIDES}
        self.deleted_accuracy = {}
        self.lesion_runs = {}
        self.replayed = set()
        self.load_stored()
        return True

    def load_stored(self) -> set[str]:
        """Read each run's newest stored landscape, lesion study and paths; the lenses found."""
        from ..runfile import RunReader

        for side, run in self.runs.items():
            try:
                with RunReader(run.path) as reader:
                    stored = reader.lens_results()
            except Exception:  # noqa: BLE001 - an unreadable file simply has nothing to replay
                continue
            newest = {result.name: result for result in stored}  # oldest first: the last one wins
            if "landscape" in newest and newest["landscape"].params.get("dims", 2) == 2:
                self.landscapes[side] = Landscape.from_lens_result(newest["landscape"])
                self.replayed.add("landscape")
            if "lesion" in newest:
                self.lesions[side] = LesionStudy.from_lens_result(newest["lesion"])
                self.replayed.add("lesion")
            if "paths" in newest:
                self.paths[side] = PathsShare.from_lens_result(newest["paths"])
                self.replayed.add("paths")
        return set(self.replayed)

    # -- signal ----------------------------------------------------------------------------------

    def signal_key(self, depth: int) -> tuple:
        kwargs = {"batch": SIGNAL_BATCH, "line_points": SIGNAL_LINE_POINTS, "options": dict(self.signal_options)}
        return (self.family, depth, repr(sorted(kwargs.items(), key=lambda item: item[0])))

    def signal_at(self, depth: int | None = None):
        """The cached ``SignalAtDepth`` at ``depth`` (default: the slider's), or None."""
        return self.signal_cache.get(self.signal_key(self.depth if depth is None else depth))

    def cached_depths(self) -> list[int]:
        return [d for d in self.depths if self.signal_at(d) is not None]

    def depths_to_compute(self, depth: int | None = None) -> list[int]:
        """What a worker must compute to show ``depth``: nothing when it is cached, else ``depth``
        first, then every depth up to ``QUICK_DEPTH`` not yet cached (so the depth curve fills in
        and the slider's later moves over those depths redraw at once)."""
        depth = self.depth if depth is None else depth
        if self.signal_at(depth) is not None:
            return []
        return [depth] + [d for d in self.depths if d <= QUICK_DEPTH and d != depth and self.signal_at(d) is None]

    def signal_curve(self, side: str) -> tuple[np.ndarray, np.ndarray]:
        """(depths, input gradient norms) of one side over the cached depths."""
        depths = self.cached_depths()
        return (np.array(depths, dtype=float),
                np.array([self.signal_at(d).side(side).input_gradient_norm for d in depths], dtype=float))

    def signal_scale(self) -> tuple[float, float]:
        """One log10 range for both sides' gradient norms: the depth curve and the blocks at the depth."""
        values = [self.signal_curve(side)[1] for side in SIDES]
        shown = self.signal_at()
        if shown is not None:
            values += [shown.plain.backward_norms, shown.residual.backward_norms]
        return _log_range(values)

    # -- landscape, lesion, paths -------------------------------------------------------------

    def landscape_scale(self) -> tuple[float, float] | None:
        """The shared colour scale (log10 loss) of the landscapes shown, or None without any."""
        from ..lenses.landscape_figures import shared_scale

        shown = [self.landscapes[s] for s in SIDES if s in self.landscapes]
        return shared_scale(shown) if shown else None

    def lesion_blocks(self, side: str) -> list[str]:
        study = self.lesions.get(side)
        return list(study.blocks) if study is not None else []

    def toggle_deleted(self, side: str, block: str) -> set[str]:
        """Delete ``block`` of ``side`` (or bring it back); the deleted set to score."""
        chosen = self.deleted[side]
        chosen.symmetric_difference_update({block})
        self.deleted_accuracy.pop(side, None)
        return set(chosen)

    def lesion_block_of(self, side: str, name: str) -> str | None:
        """The deletable block of ``side`` that ``name`` (a clicked module or op) is or lies in, or None."""
        blocks = set(self.lesion_blocks(side))
        probe = name
        while probe:
            if probe in blocks:
                return probe
            probe = probe.rpartition(".")[0]
        return None

    def toggle_block(self, name: str) -> dict[str, set[str]]:
        """Delete the block ``name`` lies in from every side that has it, or bring it back to all of
        them when it was deleted (the twins share their block names, so one click shows the lesson
        on both); side -> its deleted set, for the sides that changed."""
        found = {side: block for side in SIDES if (block := self.lesion_block_of(side, name)) is not None}
        if not found:
            return {}
        delete = not any(block in self.deleted[side] for side, block in found.items())
        changed = {}
        for side, block in found.items():
            if (block in self.deleted[side]) != delete:
                changed[side] = self.toggle_deleted(side, block)
        return changed

    def set_lesion_run(self, side: str, lens_run: Any) -> None:
        """The run loaded for ``side``'s lesion; blocks deleted by hand start again from none."""
        self.lesion_runs[side] = lens_run
        self.deleted[side] = set()
        self.deleted_accuracy.pop(side, None)

    def set_busy(self, lens: str, busy: bool) -> None:
        self.busy[lens] = busy


def _log_range(arrays: Sequence[np.ndarray]) -> tuple[float, float]:
    values = np.concatenate([np.ravel(np.asarray(a, dtype=float)) for a in arrays]) if arrays else np.array([])
    values = values[np.isfinite(values) & (values > 0)]
    if values.size == 0:
        return 0.0, 1.0
    low, high = math.log10(values.min()), math.log10(values.max())
    return (low - 0.1, high + 0.1) if high > low else (low - 0.5, low + 0.5)


# -- the work, run by the page in a worker -------------------------------------------------------

Progress = Callable[[float], None]


@contextmanager
def stop_between_modules(cancelled: Callable[[], bool] | None) -> Iterator[None]:
    """Raise ``LensCancelled`` at the next module this thread calls once ``cancelled()`` says so:
    a deep net's one depth takes seconds, and closing the window must not wait for it."""
    if cancelled is None:
        yield
        return
    import torch

    from ..lenses.progress import LensCancelled

    thread = threading.get_ident()

    def check(_module: Any, _args: Any) -> None:
        if threading.get_ident() == thread and cancelled():
            raise LensCancelled("signal propagation cancelled")

    handle = torch.nn.modules.module.register_module_forward_pre_hook(check)
    try:
        yield
    finally:
        handle.remove()


def compute_signal(model: WhyItTrains, depths: Sequence[int], progress: Callable[[int, int], None] | None = None,
                   cancelled: Callable[[], bool] | None = None) -> list:
    """Signal propagation of the family's twins at ``depths``, into the model's cache."""
    with stop_between_modules(cancelled):
        return _signal(model, depths, progress, cancelled)


def _signal(model: WhyItTrains, depths: Sequence[int], progress: Callable[[int, int], None] | None,
            cancelled: Callable[[], bool] | None) -> list:
    from ..lenses.signal import signal_across_depths

    return signal_across_depths(model.family, list(depths), batch=SIGNAL_BATCH, line_points=SIGNAL_LINE_POINTS,
                                options=dict(model.signal_options), cache=model.signal_cache, cancelled=cancelled,
                                progress=(lambda done, total, _r: progress(done, total)) if progress else None)


def load_run(run: WhyRun, samples: int):
    """The run's latest checkpoint on the CPU with ``samples`` test images (``views.lens_runs``)."""
    from .lens_runs import load_lens_run

    return load_lens_run(run.path, samples=samples)


def compute_landscape(run: WhyRun, grid: int, progress: Progress | None = None, cancel: Any = None,
                      samples: int = LANDSCAPE_SAMPLES) -> Landscape:
    """The 2-D landscape of ``run``'s latest checkpoint, stored in its run file."""
    from ..lenses.landscape import loss_landscape

    return _computed_and_stored(run, samples, lambda r: loss_landscape(r.model, r.inputs, r.labels, grid=grid,
                                                                         progress=progress, cancel=cancel))


def compute_lesion(run: WhyRun, progress: Progress | None = None, cancel: Any = None,
                   samples: int = LESION_SAMPLES, lens_run: Any = None) -> LesionStudy:
    """The lesion study of ``run``'s latest checkpoint (or of ``lens_run``, the run loaded
    already), stored in its run file."""
    from ..lenses.lesion import lesion_study

    return _computed_and_stored(run, samples, lambda r: lesion_study(r.model, r.inputs, r.labels, draws=LESION_DRAWS,
                                                                       progress=progress, cancel=cancel),
                                lens_run)


def _computed_and_stored(run: WhyRun, samples: int, compute: Callable[[Any], Any], lens_run: Any = None) -> Any:
    """``compute`` on ``run``'s loaded checkpoint and data; its result stored in the run file."""
    from .lens_runs import store_lens_run_result

    lens_run = lens_run if lens_run is not None else load_run(run, samples)
    result = compute(lens_run)
    result.params.update(run=run.path.name)
    store_lens_run_result(lens_run, result.to_lens_result())
    return result


def accuracy_deleted(run: WhyRun, deleted: Sequence[str], samples: int = LESION_SAMPLES,
                     lens_run: Any = None) -> float:
    """The accuracy of ``run``'s latest checkpoint (or of ``lens_run``, the run loaded already)
    with the named blocks deleted."""
    from ..lenses.lesion import accuracy_with_deleted

    lens_run = lens_run if lens_run is not None else load_run(run, samples)
    return accuracy_with_deleted(lens_run.model, lens_run.inputs, lens_run.labels, list(deleted))


def compute_paths(run: WhyRun, progress: Callable[[int, int], None] | None = None,
                  cancelled: Callable[[], bool] | None = None) -> PathsShare:
    """The paths decomposition of the residual ``run``'s latest checkpoint, stored in its run file."""
    from ..lenses.paths import gate_paths, path_decomposition, paths_lens_result
    from ..runfile import store_lens_result

    lens_run = load_run(run, PATHS_BATCH)
    gated = gate_paths(lens_run.model, lens_run.inputs[:1])
    gated.module.eval()
    decomposition = path_decomposition(gated, lens_run.inputs, samples=PATHS_SAMPLES, targets=lens_run.labels,
                                       progress=progress, cancelled=cancelled)
    result = paths_lens_result(decomposition, {"model": lens_run.label, "step": lens_run.step, "device": "cpu"})
    store_lens_result(run.path, result)
    return PathsShare.from_lens_result(result)


def why_runs(runs: Sequence[Any]) -> list[WhyRun]:
    """The page's runs from the window's comparison (``RunData``: ``path``, ``label``, ``style.residual``)."""
    found = []
    for run in runs:
        residual = getattr(getattr(run, "style", None), "residual", None)
        if residual is None:
            continue
        found.append(WhyRun(Path(os.fspath(run.path)), "residual" if residual else "plain", str(run.label)))
    return found
