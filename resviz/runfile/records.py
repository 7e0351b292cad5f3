"""What a run file holds, as plain records: the run, its structure, recorded steps (numpy
columns), evaluations, events, checkpoints, and a run's line in a list of runs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .schema import BLOCK_VECTORS, LAYER_VECTORS

if TYPE_CHECKING:  # pragma: no cover
    from ..models.spec import ModelSpec


@dataclass
class RunStructure:
    """What a reader needs to know about the recorded model, so that it never rebuilds it.

    ``layer_kinds`` has one entry per layer id, in the same order: ``"weight"`` (convolutions,
    linear layers: a weight matrix or kernel), ``"norm"`` (normalisation layers) or ``"other"``
    (layers with only vectors or scalars, e.g. PReLU). ``block_layers`` has one entry per block
    id: the ids of the layers inside that block. ``block_skips`` has one entry per block id: the
    kind of skip the block holds (``"identity"``, ``"projection"``, ``"zero_pad"``... as
    ``resviz.graph.SKIP_KINDS`` names them) or None for a block without one; the whole list is
    None when unknown (files written before it was recorded, models that could not be traced).
    """

    layer_kinds: list[str]
    block_layers: list[list[str]] = field(default_factory=list)
    block_skips: list[str | None] | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"layer_kinds": [str(kind) for kind in self.layer_kinds],
                                "block_layers": [[str(layer) for layer in layers] for layers in self.block_layers]}
        if self.block_skips is not None:
            data["block_skips"] = [None if kind is None else str(kind) for kind in self.block_skips]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunStructure:
        """From a checked mapping (``schema.structure_problem``); keys added later are ignored,
        and a missing ``block_skips`` (an older file) reads as unknown."""
        skips = data.get("block_skips")
        return cls(list(data["layer_kinds"]), [list(layers) for layers in data["block_layers"]],
                   None if skips is None else list(skips))


@dataclass
class RunInfo:
    """What a run file says about its run; ``status`` and ``updated`` change while it runs.

    ``status`` is what to show: the file's own status (``recorded_status``), except that a run
    the file calls running whose writer is gone is ``"interrupted"``. ``live``: its writer is
    writing it now.
    """

    path: Path
    name: str
    schema_version: int
    model_spec: ModelSpec | None
    config: dict
    device: str
    layer_ids: list[str]
    block_ids: list[str]
    classes: list[str]
    status: str
    error: str | None
    created: float
    updated: float
    twin: str | None
    host: str | None = None
    pid: int | None = None
    recorded_status: str | None = None
    live: bool | None = None
    writer_start: str | None = None
    structure: RunStructure | None = None   # None in files written before runs recorded it

    def __post_init__(self) -> None:
        if self.recorded_status is None:
            self.recorded_status = self.status
        if self.live is None:
            self.live = self.status == "running"

    @property
    def model_label(self) -> str:
        return self.model_spec.label() if self.model_spec is not None else "-"


def _float_column(values: Any, n: int) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).reshape(n)


@dataclass
class StepBatch:
    """Columns of consecutive recorded steps in ascending step order.

    ``grad_norm``, ``weight_norm`` and ``update_ratio`` are (n, L) with one column per layer
    id; ``act_grad_norm`` and ``dead_relu`` are (n, B) with one column per block id.
    """

    step: np.ndarray
    epoch: np.ndarray
    time: np.ndarray
    loss: np.ndarray
    acc: np.ndarray
    lr: np.ndarray
    grad_norm: np.ndarray
    weight_norm: np.ndarray
    update_ratio: np.ndarray
    act_grad_norm: np.ndarray
    dead_relu: np.ndarray
    nonfinite: np.ndarray

    def __post_init__(self) -> None:
        self.step = np.asarray(self.step, dtype=np.int64).reshape(-1)
        n = len(self.step)
        self.epoch = np.asarray(self.epoch, dtype=np.int64).reshape(n)
        self.time = _float_column(self.time, n)
        self.loss = _float_column(self.loss, n)
        self.acc = _float_column(self.acc, n)
        self.lr = _float_column(self.lr, n)
        self.nonfinite = np.asarray(self.nonfinite, dtype=bool).reshape(n)
        for name in LAYER_VECTORS + BLOCK_VECTORS:
            array = np.asarray(getattr(self, name), dtype=np.float32)
            if array.ndim != 2 or array.shape[0] != n:
                raise ValueError(f"StepBatch.{name} must have shape (n, width) with n = {n}, got {array.shape}")
            setattr(self, name, array)
        widths = {name: getattr(self, name).shape[1] for name in LAYER_VECTORS + BLOCK_VECTORS}
        if len({widths[name] for name in LAYER_VECTORS}) != 1 or len({widths[name] for name in BLOCK_VECTORS}) != 1:
            raise ValueError(f"StepBatch vectors disagree in width: {widths}")

    def __len__(self) -> int:
        return len(self.step)

    @property
    def num_layers(self) -> int:
        return self.grad_norm.shape[1]

    @property
    def num_blocks(self) -> int:
        return self.act_grad_norm.shape[1]

    @property
    def last_step(self) -> int | None:
        return int(self.step[-1]) if len(self.step) else None

    def __getitem__(self, index: slice | np.ndarray) -> StepBatch:
        """Rows by slice or mask/index array, e.g. ``batch[batch.epoch == 3]``."""
        return StepBatch(**{name: getattr(self, name)[index] for name in _STEP_FIELDS})

    @staticmethod
    def empty(num_layers: int, num_blocks: int) -> StepBatch:
        return StepBatch(
            step=np.zeros(0, np.int64), epoch=np.zeros(0, np.int64), time=np.zeros(0), loss=np.zeros(0),
            acc=np.zeros(0), lr=np.zeros(0),
            grad_norm=np.zeros((0, num_layers), np.float32), weight_norm=np.zeros((0, num_layers), np.float32),
            update_ratio=np.zeros((0, num_layers), np.float32),
            act_grad_norm=np.zeros((0, num_blocks), np.float32), dead_relu=np.zeros((0, num_blocks), np.float32),
            nonfinite=np.zeros(0, bool))

    @staticmethod
    def concat(batches: Iterable[StepBatch]) -> StepBatch:
        batches = list(batches)
        if not batches:
            raise ValueError("StepBatch.concat needs at least one batch (use StepBatch.empty for none)")
        return StepBatch(**{name: np.concatenate([getattr(b, name) for b in batches]) for name in _STEP_FIELDS})


_STEP_FIELDS = ("step", "epoch", "time", "loss", "acc", "lr", "grad_norm", "weight_norm", "update_ratio",
                "act_grad_norm", "dead_relu", "nonfinite")


@dataclass
class EvalRecord:
    """One evaluation on a held-out split (``confusion``: rows = true class, columns = predicted)."""

    step: int
    epoch: int
    split: str
    loss: float
    acc: float
    confusion: np.ndarray
    precision: np.ndarray
    recall: np.ndarray

    def __post_init__(self) -> None:
        self.confusion = np.asarray(self.confusion, dtype=np.int64)
        k = self.confusion.shape[0] if self.confusion.ndim == 2 else -1
        if self.confusion.ndim != 2 or self.confusion.shape != (k, k):
            raise ValueError(f"EvalRecord.confusion must be square (K, K), got shape {self.confusion.shape}")
        self.precision = np.asarray(self.precision, dtype=np.float64).reshape(-1)
        self.recall = np.asarray(self.recall, dtype=np.float64).reshape(-1)
        if self.precision.shape != (k,) or self.recall.shape != (k,):
            raise ValueError(f"EvalRecord precision/recall must have {k} entries, got "
                             f"{self.precision.shape[0]} and {self.recall.shape[0]}")

    @property
    def num_classes(self) -> int:
        return self.confusion.shape[0]


@dataclass
class EventRecord:
    """Something that happened at a step: ``nonfinite``, ``skipped``, ``left_out``, ``pause``, ``resume``,
    ``stop``, ``error``, ..."""

    step: int
    time: float
    kind: str
    message: str
    layer: str | None = None


@dataclass
class CheckpointInfo:
    step: int
    epoch: int
    time: float
    nbytes: int


@dataclass
class RunSummary:
    """One line of ``resviz runs``; ``error`` is set (and ``status`` is "unreadable") for a damaged file."""

    path: Path
    name: str
    model: str
    steps: int
    status: str
    best_acc: float | None
    updated: float
    live: bool
    last_step: int | None = None
    error: str | None = None
    run_error: str | None = None   # the error text the run itself recorded (why it failed or stopped)
    model_spec: ModelSpec | None = None
    twin: str | None = None        # the path of the twin's run file (plain and residual trained as a pair)
    created: float = 0.0
