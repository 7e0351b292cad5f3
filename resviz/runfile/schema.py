"""The run file's layout: its tables, the bounds of the numbers it holds, and the config entries
readers read back. Writer and reader share these, so what one writes the other accepts."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

# Version 2 added the run's structure (layer kinds, blocks); version 1 files read without it.
SCHEMA_VERSION = 2
RUN_STATUSES = ("running", "finished", "failed", "stopped")
RUN_SUFFIX = ".resviz"

# Marks the file as a run file at the SQLite level ("RSVZ"), besides the meta table.
APPLICATION_ID = 0x5253565A
FORMAT_NAME = "resviz-run"
# What a recorded layer is (``RunStructure.layer_kinds``).
LAYER_KINDS = ("weight", "norm", "other")

# Bounds of the numbers a run file holds; anything outside is damage, not data.
MAX_TIMESTAMP = 1e11   # seconds since 1970: beyond the year 5000
MAX_STEP = (1 << 62) - 1
MAX_PID = (1 << 31) - 1

SCHEMA_SQL = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE run (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    name TEXT NOT NULL,
    config TEXT NOT NULL,
    model_spec TEXT,
    device TEXT NOT NULL,
    layer_ids TEXT NOT NULL,
    block_ids TEXT NOT NULL,
    classes TEXT NOT NULL,
    twin TEXT,
    status TEXT NOT NULL,
    error TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    host TEXT,
    pid INTEGER,
    structure TEXT
);
CREATE TABLE step (
    step INTEGER PRIMARY KEY,
    epoch INTEGER NOT NULL,
    time REAL NOT NULL,
    loss REAL,
    acc REAL,
    lr REAL,
    nonfinite INTEGER NOT NULL,
    grad_norm BLOB NOT NULL,
    weight_norm BLOB NOT NULL,
    update_ratio BLOB NOT NULL,
    act_grad_norm BLOB NOT NULL,
    dead_relu BLOB NOT NULL
);
CREATE TABLE eval (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    step INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    split TEXT NOT NULL,
    loss REAL,
    acc REAL,
    num_classes INTEGER NOT NULL,
    confusion BLOB NOT NULL,
    precision BLOB NOT NULL,
    recall BLOB NOT NULL
);
CREATE TABLE event (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    step INTEGER NOT NULL,
    time REAL NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    layer TEXT
);
CREATE TABLE checkpoint (
    step INTEGER PRIMARY KEY,
    epoch INTEGER NOT NULL,
    time REAL NOT NULL,
    data BLOB NOT NULL
);
"""

STEP_COLUMNS = ("step", "epoch", "time", "loss", "acc", "lr", "nonfinite",
                 "grad_norm", "weight_norm", "update_ratio", "act_grad_norm", "dead_relu")
LAYER_VECTORS = ("grad_norm", "weight_norm", "update_ratio")
BLOCK_VECTORS = ("act_grad_norm", "dead_relu")
INSERT_STEP = f"INSERT INTO step ({', '.join(STEP_COLUMNS)}) VALUES ({', '.join('?' * len(STEP_COLUMNS))})"
INSERT_EVENT = "INSERT INTO event (step, time, kind, message, layer) VALUES (?, ?, ?, ?, ?)"
SET_END = "UPDATE run SET status = ?, error = ? WHERE id = 1"
# The event kind that records how a run ended, by its final status.
END_EVENT_KINDS = {"failed": "error", "stopped": "stop"}
# A step whose update the mixed-precision gradient scaler skipped (its scaled gradients overflowed):
# the row is kept, its ``nonfinite`` stays 0 unless the loss or the weights were not finite, and
# the layers and blocks whose gradients overflowed hold NaN. One event per skipped step.
SKIPPED_EVENT = "skipped"
# A statistic the recording could not take (e.g. under torch.compile), with the reason: once per run.
LEFT_OUT_EVENT = "left_out"


def config_problem(config: Mapping[str, Any]) -> tuple[str, Any, str] | None:
    """What is wrong with the entries of a training config that resviz reads back (to feed a run's
    model images as it was trained on them): ``(entry, value, expected)``, or None. The other
    entries are the user's, kept as they are. Writers refuse what readers would refuse."""

    def whole(value: Any) -> bool:
        return type(value) is int and value >= 0

    for key in ("dataset", "data_dir"):
        if key in config and not (config[key] is None or isinstance(config[key], str)):
            return f"config {key}", config[key], "text or null"
    for key in ("train_samples", "test_samples", "data_seed"):
        if key in config and not (config[key] is None or whole(config[key])):
            return f"config {key}", config[key], "a whole number >= 0 or null"
    if "normalize" in config and not isinstance(config["normalize"], bool):
        return "config normalize", config["normalize"], "true or false"
    resolved = config.get("resolved")
    if resolved is None:
        return None
    if not isinstance(resolved, Mapping):
        return "config resolved", resolved, "a mapping"
    for key in ("mean", "std"):
        value = resolved.get(key)
        if not (value is None or (isinstance(value, (list, tuple)) and 1 <= len(value) <= 4
                                  and all(type(v) in (int, float) and math.isfinite(v) for v in value))):
            return f"config resolved.{key}", value, "1 to 4 finite numbers"
    shape = resolved.get("input_shape")
    if not (shape is None or (isinstance(shape, (list, tuple)) and 1 <= len(shape) <= 4
                              and all(whole(v) and 0 < v <= 1 << 20 for v in shape))):
        return "config resolved.input_shape", shape, "1 to 4 positive whole numbers"
    return None


def structure_problem(structure: Any, layer_ids: Sequence[str], block_ids: Sequence[str]
                      ) -> tuple[str, Any, str] | None:
    """What is wrong with a run's structure (``RunStructure.to_dict()``) for these layer and block
    ids: ``(entry, value, expected)``, or None. ``block_skips`` may be missing (older files);
    keys other than these three are left for later versions to add."""
    if not isinstance(structure, Mapping):
        return "structure", structure, "a mapping"
    kinds = structure.get("layer_kinds")
    if not (isinstance(kinds, list) and len(kinds) == len(layer_ids) and all(kind in LAYER_KINDS for kind in kinds)):
        return "structure layer_kinds", kinds, f"{len(layer_ids)} of {', '.join(LAYER_KINDS)}, one per layer"
    members = structure.get("block_layers")
    known = set(layer_ids)
    if not (isinstance(members, list) and len(members) == len(block_ids)
            and all(isinstance(layers, list) and all(isinstance(layer, str) and layer in known for layer in layers)
                    for layers in members)):
        return "structure block_layers", members, f"{len(block_ids)} lists of the run's layer ids, one per block"
    skips = structure.get("block_skips")  # absent in files written before it was recorded
    if skips is not None and not (isinstance(skips, list) and len(skips) == len(block_ids)
                                  and all(kind is None or _is_kind_name(kind) for kind in skips)):
        return "structure block_skips", skips, f"{len(block_ids)} skip kinds or nulls, one per block"
    return None


def _is_kind_name(value: Any) -> bool:
    """A skip kind's name (``"identity"``, ``"zero_pad"``); not checked against the kinds known
    today, so that a file naming a kind added later still reads."""
    return isinstance(value, str) and re.fullmatch(r"[a-z][a-z_]{0,31}", value) is not None
