"""Helpers shared by the window's tests: synthetic run records and batches."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

from PySide6.QtCore import QTimer

from resviz.benchmarks.synthetic import synthetic_columns
from resviz.models import ModelSpec
from resviz.runfile import StepBatch
from tests.views.run_support import make_batch, make_info  # noqa: F401  (re-exported for the window tests)

# A writer in another process: 30 steps, then (once the file named by argv[2] exists) 30 more and an
# evaluation, committed in batches of 10, then "finished". The gate lets a test see the run half-written.
WRITER = textwrap.dedent("""
    import pathlib, sys, time
    import numpy as np
    from resviz.models import ModelSpec
    from resviz.runfile import RunWriter
    path, gate = sys.argv[1], pathlib.Path(sys.argv[2])
    with RunWriter(path, model_spec=ModelSpec("resnet20", {}), config={}, layer_ids=["conv1", "fc"],
                   block_ids=["layer1.0"], classes=["a", "b"], commit_every=10, commit_seconds=60) as writer:
        for step in range(1, 61):
            if step == 31:
                deadline = time.time() + 60
                while not gate.exists() and time.time() < deadline:
                    time.sleep(0.02)
            writer.add_step(step, epoch=0, loss=1.0 / step, grad_norm=np.full(2, step, np.float32),
                            weight_norm=np.ones(2), update_ratio=np.ones(2), act_grad_norm=np.ones(1),
                            dead_relu=np.zeros(1))
            if step % 10 == 0:
                time.sleep(0.05)
        writer.add_eval(step=60, epoch=0, split="val", loss=0.5, acc=0.75, confusion=np.eye(2, dtype=np.int64),
                        precision=np.ones(2), recall=np.ones(2))
        writer.finish("finished")
""")


SHARED_HELPERS = (b"resource_tracker", b"forkserver")


def _children_of(pid: int) -> set[int]:
    pids = set()
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return pids
    for task in tasks:
        try:
            pids |= {int(p) for p in (task / "children").read_text().split()}
        except OSError:
            pass
    return pids


def child_pids() -> set[int]:
    """Processes this test process started (training children would show here).

    multiprocessing's resource tracker and fork server are left out: one of each per interpreter,
    started with the first training child and ended with the interpreter, they belong to no window.
    The fork server's own children are the training children, and are counted.
    """
    children = set()
    for pid in _children_of(os.getpid()):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue  # already gone
        if b"forkserver" in command:
            children |= _children_of(pid)
        elif not any(name in command for name in SHARED_HELPERS):
            children.add(pid)
    return children


def assert_nothing_left(window) -> None:
    """No worker thread, active timer or child process survives a closed window."""
    from resviz.gui.workers_tasks import running_tasks

    assert not window.feed.running, "the run feed's thread is still running"
    assert running_tasks() == [], f"worker threads still running: {running_tasks()}"
    active = [t for t in window.findChildren(QTimer) if t.isActive()]
    assert active == [], f"timers still active: {[t.parent() for t in active]}"
    assert window.host.child_pids() == []
    leftover = child_pids()
    assert leftover == set() or all(not Path(f"/proc/{pid}").exists() for pid in leftover), \
        f"child processes left: {leftover}"


def write_trainer_like_run(path: Path, *, steps: int = 141, eval_steps: tuple[int, ...] = (47, 94, 141),
                           status: str | None = "finished", error: str | None = None,
                           warnings: tuple[tuple[int, str], ...] = (), layers: int = 5, blocks: int = 3):
    """A run file laid out as the trainer writes one: steps 0..steps-1, each evaluation at the number of
    steps done (one past the last step it saw), with accuracy 0.1, 0.2, ... in order; warning events
    as (step, message). With ``status`` None the writer is returned still open (a live run)."""
    from resviz.runfile import EvalRecord, RunWriter

    columns = synthetic_columns(steps, layers, blocks, residual=True, first_step=0)
    writer = RunWriter(path, model_spec=ModelSpec("resnet20", {}), config={}, classes=["a", "b"],
                       layer_ids=[f"l{i}" for i in range(layers)], block_ids=[f"b{i}" for i in range(blocks)])
    writer.add_steps(StepBatch(**columns))
    writer.flush()
    for i, at in enumerate(eval_steps):
        confusion = [[10 + i, 5], [5, 10 + i]]
        writer.add_eval(EvalRecord(step=at, epoch=i, split="test", loss=1.0 / (i + 1), acc=0.1 * (i + 1),
                                   confusion=confusion, precision=[0.5, 0.5], recall=[0.5, 0.5]))
    for at, message in warnings:
        writer.add_event(at, "warning", message)
    if status is None:
        return writer
    writer.finish(status, error)
    return path
