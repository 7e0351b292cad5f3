"""A run's numbers where teams already look: Parquet tables (pyarrow) and TensorBoard scalars.

Both packages are optional; without one, its export says which package to install, in one line.
The Parquet tables have the CSV export's columns (``resviz runs export --csv``), typed: integer
steps and epochs, float64 losses and rates, float32 per-layer statistics as recorded. The
TensorBoard export writes the scalars TensorBoard's own writers write (``simple_value``), read by
TensorBoard, ``EventAccumulator`` and anything that reads event files.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ResvizError

PER_LAYER = ("grad_norm", "weight_norm", "update_ratio")
PER_BLOCK = ("act_grad_norm", "dead_relu")
EVENT_FILE_PREFIX = "events.out.tfevents."


def require(package: str, option: str) -> Any:
    """``import package``, or the one line that says how to get it."""
    import importlib

    try:
        return importlib.import_module(package)
    except ImportError:
        distribution = {"pyarrow": "pyarrow", "tensorboard": "tensorboard"}[package.split(".")[0]]
        raise ResvizError(f"runs export {option} needs the {distribution} package, which is not installed; "
                          f"install it with: pip install {distribution}") from None


# --------------------------------------------------------------------------------------------
# Parquet


def step_table(batch: Any, layer_ids: list[str], block_ids: list[str]) -> Any:
    """One chunk of steps as an Arrow table with the CSV export's columns."""
    pa = require("pyarrow", "--parquet")
    columns: dict[str, Any] = {
        "step": pa.array(batch.step, pa.int64()), "epoch": pa.array(batch.epoch, pa.int64()),
        "time": pa.array(batch.time, pa.float64()), "loss": pa.array(batch.loss, pa.float64()),
        "acc": pa.array(batch.acc, pa.float64()), "lr": pa.array(batch.lr, pa.float64()),
        "nonfinite": pa.array(batch.nonfinite, pa.bool_()),
    }
    for statistic, ids in [*((s, layer_ids) for s in PER_LAYER), *((s, block_ids) for s in PER_BLOCK)]:
        values = np.asarray(getattr(batch, statistic), dtype=np.float32)
        for index, name in enumerate(ids):
            columns[f"{statistic}/{name}"] = pa.array(values[:, index], pa.float32())
    return pa.table(columns)


def eval_table(records: list[Any], classes: list[str]) -> Any:
    """The evaluations as an Arrow table with the CSV export's columns."""
    pa = require("pyarrow", "--parquet")
    columns: dict[str, Any] = {
        "step": pa.array([r.step for r in records], pa.int64()),
        "epoch": pa.array([r.epoch for r in records], pa.int64()),
        "split": pa.array([r.split for r in records], pa.string()),
        "loss": pa.array([r.loss for r in records], pa.float64()),
        "acc": pa.array([r.acc for r in records], pa.float64()),
    }
    for statistic in ("precision", "recall"):
        for k, name in enumerate(classes):
            columns[f"{statistic}/{name}"] = pa.array([float(getattr(r, statistic)[k]) for r in records], pa.float64())
    for true, true_name in enumerate(classes):
        for predicted, predicted_name in enumerate(classes):
            columns[f"confusion/{true_name}/{predicted_name}"] = pa.array(
                [int(r.confusion[true, predicted]) for r in records], pa.int64())
    return pa.table(columns)


def write_parquet(path: str | Path, tables: Iterable[Any], empty: Any) -> None:
    """The tables, in order, as one Parquet file written whole or not at all (``empty``: the table
    that gives the schema when there are none)."""
    pq = require("pyarrow.parquet", "--parquet")
    from ..files import atomic_path

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as temporary:
            writer = None
            try:
                for table in tables:
                    if writer is None:
                        writer = pq.ParquetWriter(temporary, table.schema)
                    writer.write_table(table)
                if writer is None:
                    pq.write_table(empty, temporary)
            finally:
                if writer is not None:
                    writer.close()
    except OSError as exc:
        raise ResvizError(f"cannot write {path}: {exc}") from None


# --------------------------------------------------------------------------------------------
# TensorBoard


def step_scalars(batch: Any, layer_ids: list[str], block_ids: list[str]) -> Iterator[tuple[int, float, dict]]:
    """(step, seconds since the run began, {tag: value}) per recorded step.

    Tags: ``loss/train``, ``acc/train``, ``lr``, and ``<statistic>/<layer or block id>``. A NaN
    is a value resviz did not measure (no previous weights yet, a block that got no gradient, no
    batch accuracy given) and is left out; only the loss is written whatever it is, so a run
    that diverged shows where. Non-finite steps are marked in the run's events and the tables'
    ``nonfinite`` column.
    """
    vectors = [(statistic, ids, np.asarray(getattr(batch, statistic), dtype=np.float32))
               for statistic, ids in [*((s, layer_ids) for s in PER_LAYER), *((s, block_ids) for s in PER_BLOCK)]]
    for i, (step, seconds, loss, acc, lr) in enumerate(zip(batch.step.tolist(), batch.time.tolist(),
                                                             batch.loss.tolist(), batch.acc.tolist(),
                                                             batch.lr.tolist())):
        values = {"loss/train": loss}
        if not math.isnan(acc):
            values["acc/train"] = acc
        if not math.isnan(lr):
            values["lr"] = lr
        for statistic, ids, array in vectors:
            row = array[i].tolist()
            values.update((f"{statistic}/{name}", value) for name, value in zip(ids, row) if not math.isnan(value))
        yield step, seconds, values


def eval_scalars(records: Iterable[Any]) -> Iterator[tuple[int, dict]]:
    """(step, {tag: value}) per evaluation: ``loss/<split>`` and ``acc/<split>`` (``train_eval`` for an
    evaluation on the training split, beside the training batches' ``loss/train``)."""
    for record in records:
        split = "train_eval" if record.split == "train" else record.split
        values = {f"loss/{split}": record.loss}
        if not math.isnan(record.acc):
            values[f"acc/{split}"] = record.acc
        yield record.step, values


class TensorBoardRun:
    """One run's event file in ``FOLDER/NAME``, where TensorBoard shows it as run NAME.

    The file is written in a temporary folder and moved into place when complete; it then
    replaces the event files an earlier export of the run left there, so exporting again
    shows each point once.
    """

    def __init__(self, folder: str | Path, name: str, started: float) -> None:
        require("tensorboard", "--tensorboard")
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self.target = Path(folder) / name
        self.started = started
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            self._staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=self.target.parent))
        except OSError as exc:
            raise ResvizError(f"cannot write TensorBoard events in {folder}: {exc}") from None
        self._writer = EventFileWriter(str(self._staging), max_queue_size=100)
        self.points = 0

    def add(self, step: int, values: dict[str, float], wall_time: float) -> None:
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary

        summary = Summary(value=[Summary.Value(tag=tag, simple_value=value) for tag, value in values.items()])
        self._writer.add_event(Event(wall_time=wall_time, step=step, summary=summary))
        self.points += len(values)

    def finish(self) -> Path:
        """Close the file and move it into place; returns the run's folder."""
        self._writer.close()
        try:
            self.target.mkdir(exist_ok=True)
            for earlier in self.target.glob(EVENT_FILE_PREFIX + "*"):
                earlier.unlink()
            for written in self._staging.iterdir():
                os.replace(written, self.target / written.name)
        except OSError as exc:
            raise ResvizError(f"cannot write TensorBoard events in {self.target}: {exc}") from None
        finally:
            shutil.rmtree(self._staging, ignore_errors=True)
        return self.target

    def abandon(self) -> None:
        with contextlib.suppress(Exception):
            self._writer.close()
        shutil.rmtree(self._staging, ignore_errors=True)


__all__ = ["TensorBoardRun", "eval_scalars", "eval_table", "require", "step_scalars", "step_table",
           "write_parquet"]
