"""The run file: one SQLite file per training run, written by one ``RunWriter``, read by any
number of ``RunReader``s: live (tailing) or as a replay.

Torch-free: reading every table needs only numpy and sqlite3; torch is imported only to encode
or decode a checkpoint's tensors (``checkpoints``). The modules, one concern each:

- ``schema``: the tables, the bounds of their numbers, what a stored config and structure hold;
- ``records``: ``RunInfo``, ``RunStructure``, ``StepBatch``, ``EvalRecord``, ``EventRecord``, ...;
- ``writer`` / ``reader``: ``RunWriter`` and ``RunReader`` (``fields`` checks what is read);
- ``catalogue``: the runs in a folder; ``recovery``: ending a run whose writer died;
- ``liveness``: whether a run's writer is still writing it; ``status``: the status words;
- ``lenses``: what the lenses computed for a run (``store_lens_result``, ``RunReader.lens_results``);
- ``checkpoints``: weights as safetensors bytes; ``encoding``, ``filesystem``: their helpers.
"""

from __future__ import annotations

from .catalogue import iter_run_files, list_runs, summarize_run
from .checkpoints import decode_state_dict, encode_state_dict
from .lenses import LensResult, store_lens_result
from .liveness import LIVE_SECONDS, is_live, writer_alive
from .reader import RunReader, open_run
from .records import CheckpointInfo, EvalRecord, EventRecord, RunInfo, RunStructure, RunSummary, StepBatch
from .recovery import mark_run_ended
from .schema import (
    APPLICATION_ID,
    LAYER_KINDS,
    LEFT_OUT_EVENT,
    RUN_STATUSES,
    RUN_SUFFIX,
    SCHEMA_VERSION,
    SKIPPED_EVENT,
)
from .status import (
    FAILED,
    FINISHED,
    INTERRUPTED,
    RUNNING,
    STOPPED,
    TROUBLE,
    UNREADABLE,
    run_status,
    status_label,
    status_sentence,
)
from .writer import RunWriter

__all__ = [
    "APPLICATION_ID", "CheckpointInfo", "EvalRecord", "EventRecord", "FAILED", "FINISHED", "INTERRUPTED",
    "LAYER_KINDS", "LEFT_OUT_EVENT", "LIVE_SECONDS", "LensResult", "RUNNING", "RUN_STATUSES", "RUN_SUFFIX", "RunInfo", "RunReader", "RunStructure",
    "RunSummary", "RunWriter", "SCHEMA_VERSION", "SKIPPED_EVENT", "STOPPED", "StepBatch", "TROUBLE", "UNREADABLE", "decode_state_dict",
    "encode_state_dict", "is_live", "iter_run_files", "list_runs", "mark_run_ended", "open_run",
    "run_status", "status_label", "store_lens_result", "status_sentence", "summarize_run", "writer_alive",
]
