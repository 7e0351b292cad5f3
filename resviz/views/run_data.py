"""What the window holds of one run: its recorded columns, growing as steps arrive.

``RunData`` appends the step batches a run file yields (``RunReader.poll``) into arrays with
spare capacity, so a live run grows in amortised constant time and every view reads numpy
slices without copying. Quantities the plots need on every frame are derived once, when the
rows arrive: the log10 gradient norms (sanitised for colour), the smoothed loss, and the
max-pooled heatmap columns.

Plain numpy: no Qt here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..runfile import RUNNING, status_label
from .decimate import MaxPyramid

# log10 of the smallest norm drawn; zero gradients (a dead layer) sit at the bottom of the scale.
LOG_FLOOR = -30.0
# A non-finite norm (Inf, NaN) is drawn at the top of any sensible scale; it is also marked.
LOG_NONFINITE = 30.0


def log10_norms(values: np.ndarray) -> np.ndarray:
    """log10 of non-negative norms as float32, with 0 -> LOG_FLOOR and Inf/NaN -> LOG_NONFINITE."""
    values = np.asarray(values, dtype=np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log10(values)
    out[np.isneginf(out)] = LOG_FLOOR
    out[~np.isfinite(out)] = LOG_NONFINITE
    return np.clip(out, LOG_FLOOR, LOG_NONFINITE, out=out)


class _Column:
    """A growable array along its first axis."""

    def __init__(self, dtype: Any, width: int | None = None, capacity: int = 1024) -> None:
        shape = (capacity,) if width is None else (capacity, width)
        self.data = np.empty(shape, dtype)
        self.n = 0

    def extend(self, values: np.ndarray) -> None:
        k = len(values)
        need = self.n + k
        if need > len(self.data):
            capacity = max(need, 2 * len(self.data))
            grown = np.empty((capacity,) + self.data.shape[1:], self.data.dtype)
            grown[:self.n] = self.data[:self.n]
            self.data = grown
        self.data[self.n:need] = values
        self.n = need

    @property
    def values(self) -> np.ndarray:
        return self.data[:self.n]


@dataclass
class RunStyle:
    """How a run is drawn: its colour and legend label."""

    colour: str
    label: str
    residual: bool | None = None


# Okabe-Ito: residual blue, plain vermillion, then the rest for further runs.
RESIDUAL_COLOUR = "#0072B2"
PLAIN_COLOUR = "#D55E00"
OTHER_COLOURS = ("#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442")


# Options the trainer fits to the data set; they say nothing about the architecture.
DATA_FITTED_OPTIONS = ("in_channels", "input_size", "num_classes")


def run_label(model_spec: Any, fallback: str) -> str:
    """``resnet20`` or ``plain56 (norm=none)``: the model and the options that shape it."""
    if model_spec is None:
        return fallback
    options = {k: v for k, v in (model_spec.options or {}).items() if k not in DATA_FITTED_OPTIONS}
    if not options:
        return model_spec.name
    return f"{model_spec.name} ({', '.join(f'{k}={v}' for k, v in sorted(options.items()))})"


def weight_layer_mask(info: Any) -> np.ndarray:
    """True for the layers with weights proper (convolutions, linear layers), False for norms
    and other layers (see ``train.layers.layer_kind``).

    Normalisation layers' gradients sit on another scale, so interleaved with the convolutions
    they zig-zag the depth profile; the weight layers alone give the classic picture (and are
    the layers the ResNet paper counts). The run file records each layer's kind; for a file
    written before it did, a zoo model is built on the meta device to look the module types up
    (free: no memory, no initialisation), and otherwise names decide.
    """
    layer_ids = list(info.layer_ids)
    structure = getattr(info, "structure", None)
    kinds = structure.layer_kinds if structure is not None else _module_kinds(info.model_spec, layer_ids)
    if kinds is None:
        kinds = ["norm" if _looks_like_norm(name) else "weight" for name in layer_ids]
    mask = np.array([kind == "weight" for kind in kinds], bool)
    return mask if mask.any() else np.ones(len(layer_ids), bool)


def _looks_like_norm(layer_id: str) -> bool:
    last = layer_id.rsplit(".", 1)[-1].lower().rstrip("0123456789_")
    return last in ("bn", "norm", "ln", "gn", "batchnorm", "layernorm", "groupnorm")


def _module_kinds(model_spec: Any, layer_ids: list[str]) -> list[str] | None:
    """The layer kinds of a zoo model, rebuilt on the meta device (for run files without them)."""
    if model_spec is None or getattr(model_spec, "is_user_model", True):
        return None
    try:
        import torch

        from ..models import rebuild_model
        from ..train.layers import ROOT_ID, layer_kind

        with torch.device("meta"):
            model = rebuild_model(model_spec)
    except Exception:  # noqa: BLE001 - an unknown or changed model: fall back to names
        return None
    modules = dict(model.named_modules())
    modules[ROOT_ID] = model
    if any(layer_id not in modules for layer_id in layer_ids):
        return None
    return [layer_kind(modules[layer_id]) for layer_id in layer_ids]


def is_residual(model_spec: Any, structure: Any = None) -> bool | None:
    """Whether a run's model has skips: from the zoo registry, else True when the run file says a
    block holds one (``RunStructure.block_skips``), or None when unknown."""
    known = _zoo_residual(model_spec)
    skips = getattr(structure, "block_skips", None)
    if known is None and skips and any(kind is not None for kind in skips):
        return True
    return known


def _zoo_residual(model_spec: Any) -> bool | None:
    if model_spec is None:
        return None
    options = getattr(model_spec, "options", {}) or {}
    if "residual" in options:
        return bool(options["residual"])
    try:
        from ..models import model_entry

        return bool(model_entry(model_spec.name).defaults.get("residual", False))
    except Exception:  # noqa: BLE001 - a user's model: unknown
        return None


class RunData:
    """The recorded steps, evaluations and events of one run, as the window sees them."""

    SMOOTHING = 0.95  # exponential moving average of the training loss and accuracy

    def __init__(self, info: Any, *, max_columns: int = 2048, weight_mask: np.ndarray | None = None) -> None:
        self.info = info
        self.path = Path(info.path)
        self.layer_ids: list[str] = list(info.layer_ids)
        self.block_ids: list[str] = list(info.block_ids)
        n_layers, n_blocks = len(self.layer_ids), len(self.block_ids)
        self.step = _Column(np.int64)
        self.epoch = _Column(np.int64)
        self.time = _Column(np.float64)
        self.loss = _Column(np.float64)
        self.acc = _Column(np.float64)
        self.lr = _Column(np.float64)
        self.nonfinite = _Column(np.bool_)
        self.loss_smooth = _Column(np.float64)
        self.acc_smooth = _Column(np.float64)
        self.grad_norm = _Column(np.float32, n_layers)
        self.grad_log = _Column(np.float32, n_layers)
        self.update_ratio = _Column(np.float32, n_layers)
        self.act_grad_norm = _Column(np.float32, n_blocks)
        self.heat = MaxPyramid(max(n_layers, 1), max_columns)
        self.evals: list[Any] = []
        self.events: list[Any] = []
        self.status_word = RUNNING
        self.refresh_status()
        self._ema_loss = float("nan")
        self._ema_acc = float("nan")
        self._log_range = (float("inf"), float("-inf"))
        residual = is_residual(info.model_spec, getattr(info, "structure", None))
        self.style = RunStyle(OTHER_COLOURS[0], self.label, residual)
        if weight_mask is None or len(weight_mask) != n_layers:
            weight_mask = np.ones(n_layers, bool)
        self.weight_layers = np.flatnonzero(weight_mask)
        self.all_layers = np.arange(n_layers)

    # -- identity ---------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def label(self) -> str:
        return run_label(self.info.model_spec, self.info.name)

    def shown_layers(self, weights_only: bool) -> np.ndarray:
        """Indices of the layers the figures show: the weight layers only, or all."""
        return self.weight_layers if weights_only else self.all_layers

    @property
    def status(self) -> str:
        return self.info.status

    def refresh_status(self) -> bool:
        """Work out the status word again (a writer may have died); returns whether it changed."""
        live = None
        if self.info.status == RUNNING:
            from ..runfile import is_live

            live = is_live(self.info)
        word = status_label(self.info.status, self.info.error, live=live)
        changed, self.status_word = word != self.status_word, word
        return changed

    def __len__(self) -> int:
        return self.step.n

    # -- growth -----------------------------------------------------------------------------

    def append(self, batch: Any) -> None:
        """Append a ``StepBatch`` of steps later than any held."""
        k = len(batch)
        if k == 0:
            return
        steps = np.asarray(batch.step, np.int64)
        if self.step.n and steps[0] <= self.step.data[self.step.n - 1]:
            keep = steps > self.step.data[self.step.n - 1]  # a re-read overlap: drop what is held
            if not keep.any():
                return
            batch = _select(batch, keep)
            steps = steps[keep]
            k = len(steps)
        self.step.extend(steps)
        self.epoch.extend(np.asarray(batch.epoch, np.int64))
        self.time.extend(np.asarray(batch.time, np.float64))
        loss = np.asarray(batch.loss, np.float64)
        acc = np.asarray(batch.acc, np.float64)
        self.loss.extend(loss)
        self.acc.extend(acc)
        self.lr.extend(np.asarray(batch.lr, np.float64))
        self.nonfinite.extend(np.asarray(batch.nonfinite, np.bool_))
        self.loss_smooth.extend(self._smooth(loss, "_ema_loss"))
        self.acc_smooth.extend(self._smooth(acc, "_ema_acc"))
        grad = np.asarray(batch.grad_norm, np.float32).reshape(k, -1)
        self.grad_norm.extend(grad)
        logs = log10_norms(grad)
        self.grad_log.extend(logs)
        self.update_ratio.extend(np.asarray(batch.update_ratio, np.float32).reshape(k, -1))
        self.act_grad_norm.extend(np.asarray(batch.act_grad_norm, np.float32).reshape(k, -1))
        if logs.size:
            finite = logs[(logs > LOG_FLOOR) & (logs < LOG_NONFINITE)]
            if finite.size:
                low, high = float(finite.min()), float(finite.max())
                self._log_range = (min(self._log_range[0], low), max(self._log_range[1], high))
        if self.layer_ids:
            self.heat.update(self.grad_log.data, self.grad_log.n)

    def _smooth(self, values: np.ndarray, attribute: str) -> np.ndarray:
        out = np.empty_like(values)
        ema = getattr(self, attribute)
        alpha = self.SMOOTHING
        for i, value in enumerate(values.tolist()):
            if value == value and abs(value) != float("inf"):  # NaN and Inf leave the average alone
                ema = value if ema != ema else alpha * ema + (1 - alpha) * value
            out[i] = ema
        setattr(self, attribute, ema)
        return out

    def set_info(self, info: Any) -> None:
        self.info = info
        self.style.label = self.label
        self.refresh_status()

    # -- reading ----------------------------------------------------------------------------

    @property
    def first_step(self) -> int:
        return int(self.step.data[0]) if self.step.n else 0

    @property
    def last_step(self) -> int:
        return int(self.step.data[self.step.n - 1]) if self.step.n else -1

    @property
    def log_range(self) -> tuple[float, float]:
        """The finite log10 gradient norms seen so far (min, max); (inf, -inf) before any."""
        return self._log_range

    def rows_until(self, step: int) -> int:
        """How many recorded rows have ``step`` at or before ``step``."""
        return int(np.searchsorted(self.step.values, step, side="right"))

    def row_at(self, step: int) -> int | None:
        """The row of the latest recorded step at or before ``step``; None before the first."""
        n = self.rows_until(step)
        return n - 1 if n else None

    def step_stride(self) -> float:
        """Recorded steps per row (the recorder may record every N steps)."""
        n = self.step.n
        if n < 2:
            return 1.0
        return max(1.0, (self.step.data[n - 1] - self.step.data[0]) / (n - 1))

    def layer_norms_at(self, step: int) -> dict[str, float] | None:
        """Each layer's gradient norm at ``step`` (the latest recorded at or before it)."""
        row = self.row_at(step)
        if row is None:
            return None
        return dict(zip(self.layer_ids, self.grad_norm.data[row].tolist()))

    def records_cutoff(self, step: int) -> float:
        """The latest record step (evaluation, event) the views show at timeline position ``step``.

        A record carries the number of steps done when it was written: the evaluation after
        steps 0..46 is at step 47, one past the last step it saw. And a recorder that keeps one
        step in N may hold none of a run's last steps. So a record at step s is shown from the
        recorded step s - 1 on, and at (or after) a run's last recorded step every record is
        shown: the end of a run, live or replayed, shows its final evaluation.
        """
        if not self.step.n or step >= self.last_step:
            return float("inf")
        return step + 1

    def evals_until(self, step: int, split: str | None = None) -> list[Any]:
        """The evaluations shown at timeline position ``step`` (of ``split`` when given), oldest first."""
        cutoff = self.records_cutoff(step)
        shown = [r for r in self.evals if r.step <= cutoff and (split is None or r.split == split)]
        return sorted(shown, key=lambda r: r.step)  # stable: the later of two at one step comes last

    def eval_at(self, step: int, split: str | None = None) -> Any | None:
        """The latest evaluation shown at timeline position ``step`` (of ``split`` when given)."""
        shown = self.evals_until(step, split)
        return shown[-1] if shown else None

    def events_until(self, step: int, kind: str | None = None) -> list[Any]:
        """The events shown at timeline position ``step`` (of ``kind`` when given), oldest first."""
        cutoff = self.records_cutoff(step)
        shown = [e for e in self.events if e.step <= cutoff and (kind is None or e.kind == kind)]
        return sorted(shown, key=lambda e: e.step)

    def nonfinite_steps(self, until: int | None = None) -> np.ndarray:
        n = self.step.n if until is None else self.rows_until(until)
        flags = self.nonfinite.data[:n]
        return self.step.data[:n][flags]


def _select(batch: Any, keep: np.ndarray) -> Any:
    """A batch-like object holding only the rows where ``keep`` is true."""
    return _Rows({name: np.asarray(getattr(batch, name))[keep] for name in _ROW_FIELDS})


_ROW_FIELDS = ("step", "epoch", "time", "loss", "acc", "lr", "grad_norm", "weight_norm", "update_ratio",
               "act_grad_norm", "dead_relu", "nonfinite")


@dataclass
class _Rows:
    columns: dict[str, np.ndarray] = field(default_factory=dict)

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.columns[name]
        except KeyError:
            raise AttributeError(name) from None

    def __len__(self) -> int:
        return len(self.columns["step"])
