"""Writing small run files for the run file's tests."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np

from resviz.models import ModelSpec
from resviz.runfile import RunStructure, RunWriter, StepBatch

LAYERS = ["conv1", "layer1.0.conv1", "fc"]
BLOCKS = ["layer1.0"]
# What a recorder of such a model would say about it.
STRUCTURE = RunStructure(layer_kinds=["weight", "weight", "weight"], block_layers=[["layer1.0.conv1"]])


def make_writer(path, **options):
    defaults = dict(model_spec=ModelSpec("resnet20", {"norm": "none"}), config={"lr": 0.1, "epochs": 2},
                    layer_ids=LAYERS, block_ids=BLOCKS, classes=["a", "b"], device="cpu")
    defaults.update(options)
    return RunWriter(path, **defaults)


def add(writer, step, **extra):
    values = dict(epoch=step // 10, loss=1.0 / (step + 1), acc=0.5, lr=0.1,
                  grad_norm=np.array([step, step + 0.5, step + 0.25]), weight_norm=np.ones(3) * 2,
                  update_ratio=np.array([np.nan, 0.1, 0.2]), act_grad_norm=[step * 2.0], dead_relu=[0.25])
    values.update(extra)
    writer.add_step(step, **values)


def abandon(writer):
    """The writer is gone, as if its process had died: its connection goes, and its writer lock
    is let go of (its lock file stays, as after a kill)."""
    writer._db.close()
    os.close(writer._writer_lock._fd)
    writer._writer_lock._fd = None


def batch_of(steps):
    steps = np.asarray(steps)
    n = len(steps)
    return StepBatch(step=steps, epoch=np.zeros(n), time=steps * 0.01, loss=np.ones(n), acc=np.full(n, np.nan),
                     lr=np.full(n, 0.1), grad_norm=np.stack([steps, steps * 2, steps * 3], 1),
                     weight_norm=np.ones((n, 3)), update_ratio=np.zeros((n, 3)), act_grad_norm=steps[:, None] * 1.0,
                     dead_relu=np.zeros((n, 1)), nonfinite=steps % 5 == 0)


@contextlib.contextmanager
def tamper(path):
    db = sqlite3.connect(path)
    try:
        with db:
            yield db
    finally:
        db.close()


def finished_run(path, steps=200):
    with make_writer(path, commit_every=50) as writer:
        writer.add_steps(batch_of(np.arange(steps)))
    return path


WRITER_SCRIPT = textwrap.dedent("""
    import sys, time
    import numpy as np
    from resviz.runfile import RunStructure, RunWriter, StepBatch
    path, total, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    writer = RunWriter(path, model_spec=None, config={}, layer_ids=["a", "b"], block_ids=["x"],
                       commit_every=int(sys.argv[4]), commit_seconds=3600)
    print("ready", flush=True)
    step = 0
    while total < 0 or step < total:
        steps = np.arange(step, step + chunk)
        n = len(steps)
        writer.add_steps(StepBatch(step=steps, epoch=steps // 100, time=steps * 1.0, loss=steps * 0.5,
                                   acc=np.zeros(n), lr=np.zeros(n), grad_norm=np.stack([steps, -steps], 1),
                                   weight_norm=np.ones((n, 2)), update_ratio=np.ones((n, 2)),
                                   act_grad_norm=steps[:, None] * 2.0, dead_relu=np.zeros((n, 1)),
                                   nonfinite=np.zeros(n, bool)))
        step += chunk
        if writer.pending == 0:
            print("committed", step, flush=True)
            time.sleep(0.002)  # a reader on a busy machine gets to see the run grow
    writer.finish()
""")


def start_writer(tmp_path, path, total, chunk, commit_every):
    script = tmp_path / "writer.py"
    script.write_text(WRITER_SCRIPT)
    process = subprocess.Popen([sys.executable, str(script), str(path), str(total), str(chunk), str(commit_every)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    return process
