"""The run file: round trip, batching, tailing a live run, a killed writer, damaged files, listing."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
import torch

from resviz.errors import ResvizError
from resviz.models import ModelSpec
from resviz.train.store import (
    SCHEMA_VERSION,
    EvalRecord,
    RunReader,
    RunWriter,
    StepBatch,
    is_live,
    list_runs,
    mark_run_ended,
    open_run,
    summarize_run,
)

LAYERS = ["conv1", "layer1.0.conv1", "fc"]
BLOCKS = ["layer1.0"]


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


def test_round_trip_of_everything_a_run_records(tmp_path):
    path = tmp_path / "demo.resviz"
    with make_writer(path, twin=str(tmp_path / "demo-plain.resviz"), commit_every=2) as writer:
        add(writer, 0)
        add(writer, 1, acc=float("nan"), nonfinite=True, loss=float("inf"))
        add(writer, 2, time=12.5)
        writer.add_eval(EvalRecord(step=2, epoch=0, split="test", loss=0.7, acc=0.75,
                                   confusion=[[3, 1], [0, 4]], precision=[1.0, 0.8], recall=[0.75, 1.0]))
        writer.add_eval(step=2, epoch=0, split="train", loss=0.5, acc=0.9, confusion=np.eye(2, dtype=int) * 5,
                        precision=[1, 1], recall=[1, 1])
        writer.add_event(1, "nonfinite", "loss is inf", layer="fc")
        weights = {"conv.weight": torch.randn(4, 3, 3, 3), "fc.bias": torch.arange(5.0)}
        writer.add_checkpoint(2, 0, weights)

    with open_run(path) as reader:
        info = reader.info()
        assert info.status == "finished" and info.error is None
        assert info.name == "demo" and info.schema_version == SCHEMA_VERSION
        assert info.model_spec == ModelSpec("resnet20", {"norm": "none"})
        assert info.config == {"lr": 0.1, "epochs": 2} and info.device == "cpu"
        assert info.layer_ids == LAYERS and info.block_ids == BLOCKS and info.classes == ["a", "b"]
        assert info.twin == str(tmp_path / "demo-plain.resviz") and info.updated >= info.created

        steps = reader.read_steps()
        assert steps.step.tolist() == [0, 1, 2] and steps.epoch.tolist() == [0, 0, 0]
        np.testing.assert_array_equal(steps.grad_norm[2], np.float32([2, 2.5, 2.25]))
        assert steps.grad_norm.dtype == np.float32 and steps.grad_norm.shape == (3, 3)
        assert steps.act_grad_norm.tolist() == [[0.0], [2.0], [4.0]]
        assert math.isnan(steps.update_ratio[0, 0]) and steps.update_ratio[0, 1] == np.float32(0.1)
        assert math.isnan(steps.acc[1]) and math.isinf(steps.loss[1]) and steps.acc[0] == 0.5
        assert steps.nonfinite.tolist() == [False, True, False] and steps.time[2] == 12.5

        test_eval, train_eval = reader.evals()
        assert (test_eval.split, test_eval.acc, train_eval.split) == ("test", 0.75, "train")
        assert test_eval.confusion.tolist() == [[3, 1], [0, 4]] and test_eval.confusion.dtype == np.int64
        assert test_eval.precision.tolist() == [1.0, 0.8] and test_eval.recall.tolist() == [0.75, 1.0]
        assert [e.split for e in reader.evals(split="test")] == ["test"]
        assert reader.best_accuracy() == 0.75  # held-out only, not the 0.9 on the training split

        (event,) = reader.events()
        assert (event.step, event.kind, event.message, event.layer) == (1, "nonfinite", "loss is inf", "fc")
        (checkpoint,) = reader.checkpoints()
        assert checkpoint.step == 2 and checkpoint.nbytes > 4 * (4 * 27 + 5)
        loaded = reader.load_checkpoint()
        assert loaded.keys() == weights.keys()
        assert all(torch.equal(loaded[k], weights[k]) for k in weights)
        assert torch.equal(reader.load_checkpoint(2)["fc.bias"], weights["fc.bias"])
        with pytest.raises(ResvizError, match=r"no checkpoint at step 7 \(checkpoints: 2\)"):
            reader.load_checkpoint(7)


def test_checkpoint_bytes_are_safetensors_not_pickle(tmp_path):
    path = tmp_path / "ckpt.resviz"
    shared = torch.randn(6)
    with make_writer(path) as writer:
        # Views sharing storage would make safetensors refuse; the writer stores copies.
        writer.add_checkpoint(0, 0, {"a": shared[:3], "b": shared[3:], "c": torch.ones(2, 2).t()})
    data = sqlite3.connect(path).execute("SELECT data FROM checkpoint").fetchone()[0]
    header_length = int.from_bytes(data[:8], "little")
    assert data[8:9] == b"{" and b'"a"' in data[8:8 + header_length]  # safetensors: u64 length + JSON header
    assert not data.startswith(b"\x80") and b"PK" not in data[:4]  # neither a pickle nor a torch.save zip
    with open_run(path) as reader:
        assert torch.equal(reader.load_checkpoint()["b"], shared[3:])


def test_steps_are_committed_in_batches(tmp_path):
    path = tmp_path / "batched.resviz"
    writer = make_writer(path, commit_every=4, commit_seconds=3600)
    reader = RunReader(path)
    for step in range(3):
        add(writer, step)
    assert len(reader.poll()) == 0  # still pending in the writer
    add(writer, 3)
    assert reader.poll().step.tolist() == [0, 1, 2, 3]
    writer.add_steps(batch_of(np.arange(4, 6)))
    assert len(reader.poll()) == 0
    writer.flush()
    assert reader.poll().step.tolist() == [4, 5]
    writer.add_steps(batch_of(np.arange(6, 16)))  # a big batch commits at once
    tail = reader.poll()
    assert tail.step.tolist() == list(range(6, 16)) and tail.nonfinite.tolist() == [i % 5 == 0 for i in range(6, 16)]
    np.testing.assert_array_equal(tail.grad_norm[:, 2], np.arange(6, 16) * 3)
    writer.add_event(16, "pause", "paused")  # an event commits at once, pending steps with it
    assert reader.events()[0].kind == "pause"
    writer.finish("stopped")
    assert reader.info().status == "stopped" and len(reader.poll()) == 0
    assert len(reader.read_steps()) == 16 and reader.read_steps(after=13).step.tolist() == [14, 15]
    assert reader.read_steps(after=3, limit=2).step.tolist() == [4, 5]
    reader.close()


def test_time_based_commits(tmp_path):
    path = tmp_path / "timed.resviz"
    writer = make_writer(path, commit_every=1000, commit_seconds=0.0)
    with RunReader(path) as reader:
        add(writer, 0)
        assert reader.poll().step.tolist() == [0]
    writer.finish()


def test_writer_rejects_bad_steps_and_existing_files(tmp_path, monkeypatch):
    import resviz.train.store as store

    monkeypatch.setattr(store, "CLAIM_SECONDS", 0.05)
    path = tmp_path / "strict.resviz"
    writer = make_writer(path)
    add(writer, 5)
    with pytest.raises(ValueError, match="step 5 is not after the last recorded step 5"):
        add(writer, 5)
    with pytest.raises(ValueError, match="grad_norm has 2 values, the run has 3"):
        add(writer, 6, grad_norm=[1.0, 2.0])
    narrow = StepBatch(**{**batch_of([7]).__dict__, "grad_norm": np.ones((1, 2)), "weight_norm": np.ones((1, 2)),
                          "update_ratio": np.ones((1, 2))})
    with pytest.raises(ValueError, match="StepBatch has 2 layers and 1 blocks, the run has 3 and 1"):
        writer.add_steps(narrow)
    with pytest.raises(ValueError, match="strictly increasing"):
        writer.add_steps(batch_of([9, 8]))
    with pytest.raises(ValueError, match="status must be one of"):
        writer.finish("crashed")
    writer.finish()
    with pytest.raises(ResvizError, match="already closed"):
        add(writer, 9)
    with pytest.raises(ResvizError, match=f"run file {path} already exists"):
        make_writer(path)
    make_writer(path, overwrite=True).finish()
    with open_run(path) as reader:
        assert len(reader.read_steps()) == 0
    running = make_writer(path, overwrite=True)
    with pytest.raises(ResvizError, match=f"run file {path} is being written now"):
        make_writer(path, overwrite=True)  # would pull the file from under a live run
    running.finish()


def test_an_exception_marks_the_run_failed_and_keeps_its_steps(tmp_path):
    path = tmp_path / "failed.resviz"
    with pytest.raises(RuntimeError):
        with make_writer(path, commit_every=100) as writer:
            for step in range(7):
                add(writer, step)
            raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)")
    with open_run(path) as reader:
        info = reader.info()
        assert info.status == "failed"
        assert info.error == "RuntimeError: mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)"
        assert reader.read_steps().step.tolist() == list(range(7))

    path = tmp_path / "interrupted.resviz"
    with pytest.raises(KeyboardInterrupt):
        with make_writer(path) as writer:
            add(writer, 0)
            raise KeyboardInterrupt
    with open_run(path) as reader:
        assert (reader.info().status, len(reader.read_steps())) == ("stopped", 1)


def test_step_batch_helpers():
    empty = StepBatch.empty(3, 1)
    assert len(empty) == 0 and empty.grad_norm.shape == (0, 3) and empty.act_grad_norm.shape == (0, 1)
    joined = StepBatch.concat([batch_of([0, 1]), empty, batch_of([2])])
    assert joined.step.tolist() == [0, 1, 2] and joined.grad_norm[:, 1].tolist() == [0, 2, 4]
    assert joined[1:].step.tolist() == [1, 2] and joined.last_step == 2
    with pytest.raises(ValueError, match="shape"):
        StepBatch(**{**batch_of([0, 1]).__dict__, "dead_relu": np.zeros((3, 1))})


WRITER_SCRIPT = textwrap.dedent("""
    import sys, time
    import numpy as np
    from resviz.train.store import RunWriter, StepBatch
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


def test_a_reader_tails_a_growing_run_without_duplicates(tmp_path):
    path = tmp_path / "live.resviz"
    total = 1400  # 200 chunks of 7
    process = start_writer(tmp_path, path, total, chunk=7, commit_every=20)
    polls = []
    with RunReader(path) as reader:
        assert reader.info().status == "running"
        while process.poll() is None:
            batch = reader.poll()
            if len(batch):
                polls.append(batch)
            time.sleep(0.001)  # leave the (shared) CPU to the writer
        process.stdout.read()
        assert process.wait() == 0
        polls.append(reader.poll())
        assert reader.info().status == "finished"
    assert sum(len(b) > 0 for b in polls) > 3, "the reader should have seen the run grow"
    seen = StepBatch.concat(polls)
    np.testing.assert_array_equal(seen.step, np.arange(total))
    np.testing.assert_array_equal(seen.grad_norm[:, 1], -seen.step.astype(np.float32))
    np.testing.assert_array_equal(seen.loss, seen.step * 0.5)


def test_a_killed_writer_loses_at_most_the_uncommitted_batch(tmp_path):
    path = tmp_path / "killed.resviz"
    process = start_writer(tmp_path, path, total=-1, chunk=3, commit_every=25)
    committed = 0
    for line in process.stdout:
        committed = int(line.split()[1])
        if committed >= 600:
            break
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stdout.close()
    assert process.returncode == -signal.SIGKILL

    with open_run(path) as reader:
        info = reader.info()
        assert info.recorded_status == "running"  # the writer never got to say otherwise
        assert info.status == "interrupted" and not info.live  # ... and it is gone
        steps = reader.read_steps()
        # Everything committed is there, contiguous and intact; at most one batch (plus the
        # chunk that pushed it over the threshold) after the last reported commit may be missing.
        assert len(steps) >= committed
        assert len(steps) % 27 == 0  # whole commits only: 9 chunks of 3 reach commit_every=25
        np.testing.assert_array_equal(steps.step, np.arange(len(steps)))
        np.testing.assert_array_equal(steps.act_grad_norm[:, 0], steps.step * 2.0)
        assert reader._query("PRAGMA integrity_check") == [("ok",)]
        summary = summarize_run(path)
        assert summary.status == "interrupted" and not summary.live  # the writer process is gone


def test_a_run_whose_writer_died_is_marked_ended_once_and_keeps_its_steps(tmp_path):
    path = tmp_path / "died.resviz"
    process = start_writer(tmp_path, path, total=-1, chunk=3, commit_every=9)
    for line in process.stdout:
        if int(line.split()[1]) >= 90:
            break
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stdout.close()
    with open_run(path) as reader:
        before = reader.info()
        steps = reader.read_steps()
    assert before.recorded_status == "running" and before.pid == process.pid and len(steps) >= 90

    message = "the training process was ended by SIGKILL (killed; out of memory?)"
    assert not mark_run_ended(path, "failed", message, pid=process.pid + 1)  # another writer's run: untouched
    assert open_run(path).info().recorded_status == "running"
    assert mark_run_ended(path, "failed", message, pid=process.pid)
    assert not mark_run_ended(path, "stopped", "again")  # it has ended already: the first word stands

    with open_run(path) as reader:
        info = reader.info()
        after = reader.read_steps()
        events = reader.events()
        assert reader._query("PRAGMA integrity_check") == [("ok",)]
    assert (info.status, info.error) == ("failed", message) and info.updated > before.updated
    np.testing.assert_array_equal(after.step, steps.step)  # every committed step is kept
    np.testing.assert_array_equal(after.grad_norm, steps.grad_norm)
    assert [(e.kind, e.step, e.message) for e in events] == [("error", len(steps), message)]
    assert events[0].time >= 0
    assert summarize_run(path).status == "failed"
    assert not (tmp_path / "died.resviz-wal").exists() or (tmp_path / "died.resviz-wal").stat().st_size == 0


def test_marking_a_run_ended_checks_the_status_and_the_file(tmp_path):
    writer = make_writer(tmp_path / "open.resviz", commit_every=1)
    add(writer, 0)
    assert not mark_run_ended(writer.path, "stopped", None)  # its writer holds the writer lock: alive
    abandon(writer)
    # A stopped run gets a stop event, at step 1 (the first step the file does not hold).
    assert mark_run_ended(writer.path, "stopped", None)
    with open_run(writer.path) as reader:
        assert reader.info().status == "stopped" and reader.info().error is None
        assert [(e.kind, e.step, e.message) for e in reader.events()] == [("stop", 1, "the run stopped")]

    finished = finished_run(tmp_path / "finished.resviz", steps=3)
    assert not mark_run_ended(finished, "failed", "late")
    with open_run(finished) as reader:
        assert reader.info().status == "finished" and reader.events() == []
    for status in ("running", "finished", "exploded"):
        with pytest.raises(ValueError, match="failed or stopped"):
            mark_run_ended(finished, status, "no")
    with pytest.raises(ResvizError, match="does not exist"):
        mark_run_ended(tmp_path / "absent.resviz", "failed", "gone")
    foreign = tmp_path / "foreign.resviz"
    sqlite3.connect(foreign).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(ResvizError, match="not a resviz run file"):
        mark_run_ended(foreign, "failed", "gone")
    future = make_writer(tmp_path / "future.resviz")
    abandon(future)
    with tamper(future.path) as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(ResvizError, match="newer resviz"):
        mark_run_ended(future.path, "failed", "gone")
    with tamper(future.path) as db:
        assert db.execute("SELECT status FROM run").fetchone() == ("running",)  # a newer file is left alone


def test_busy_database_is_retried_not_raised(tmp_path):
    path = tmp_path / "busy.resviz"
    writer = make_writer(path, commit_every=1)
    add(writer, 0)
    writer.finish()

    # A connection in exclusive locking mode keeps every other connection out (SQLITE_BUSY).
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    blocker.execute("PRAGMA locking_mode=EXCLUSIVE")
    blocker.execute("BEGIN IMMEDIATE")
    blocker.execute("INSERT INTO event (step, time, kind, message) VALUES (0, 0, 'info', 'x')")
    blocker.execute("COMMIT")  # keeps the exclusive lock
    released = threading.Event()

    with pytest.raises(ResvizError, match=f"run file {path} stayed locked by another process"):
        RunReader(path, busy_timeout=0.05)

    def release_later():
        time.sleep(0.4)
        released.set()  # before close: the reader may get in the moment the lock goes
        blocker.close()

    started = time.monotonic()
    thread = threading.Thread(target=release_later)
    thread.start()
    with RunReader(path, busy_timeout=5.0) as reader:  # waits for the lock instead of raising
        assert released.is_set() and time.monotonic() - started >= 0.3
        assert reader.read_steps().step.tolist() == [0]
        assert [e.message for e in reader.events()] == ["x"]
    thread.join()


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


def test_missing_corrupt_truncated_and_foreign_files_give_clear_errors(tmp_path):
    with pytest.raises(ResvizError, match=f"run file {tmp_path / 'nope.resviz'} does not exist"):
        open_run(tmp_path / "nope.resviz")

    empty = tmp_path / "empty.resviz"
    empty.write_bytes(b"")
    with pytest.raises(ResvizError, match=f"run file {empty} is empty or truncated"):
        open_run(empty)

    noise = tmp_path / "noise.resviz"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 8192, dtype=np.uint8).tobytes())
    with pytest.raises(ResvizError, match=f"{noise} is not a resviz run file \\(not an SQLite database\\)"):
        open_run(noise)

    truncated = finished_run(tmp_path / "truncated.resviz")
    data = truncated.read_bytes()
    assert len(data) > 8 * 4096
    truncated.write_bytes(data[:len(data) // 2])
    with pytest.raises(ResvizError, match=f"run file {truncated} is truncated"):
        open_run(truncated)
    truncated.write_bytes(data[:len(data) // 2 + 100])
    with pytest.raises(ResvizError, match=f"run file {truncated} is truncated"):
        open_run(truncated)
    # Beside a WAL (a live or killed writer) the size is not trusted; SQLite finds the damage on read.
    truncated.write_bytes(data[:len(data) // 2])
    (tmp_path / "truncated.resviz-wal").write_bytes(b"")
    with pytest.raises(ResvizError, match=f"run file {truncated} is damaged"):
        with open_run(truncated) as reader:
            reader.read_steps()

    foreign = tmp_path / "foreign.resviz"
    with tamper(foreign) as db:
        db.execute("CREATE TABLE songs (title TEXT)")
    with pytest.raises(ResvizError, match=f"{foreign} is an SQLite database but not a resviz run file"):
        open_run(foreign)

    folder = tmp_path / "folder.resviz"
    folder.mkdir()
    with pytest.raises(ResvizError, match="is not a file"):
        open_run(folder)


def test_corrupt_pages_give_an_error_naming_the_file(tmp_path):
    path = finished_run(tmp_path / "scrambled.resviz", steps=400)
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    rng = np.random.default_rng(1)
    data[page:] = rng.integers(0, 256, len(data) - page, dtype=np.uint8).tobytes()  # all but the first page
    path.write_bytes(bytes(data))
    with pytest.raises(ResvizError, match=f"run file {path}"):
        with open_run(path) as reader:
            reader.read_steps()


def test_a_newer_schema_version_is_refused_clearly(tmp_path):
    path = finished_run(tmp_path / "future.resviz", steps=3)
    with tamper(path) as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(ResvizError, match=rf"{path} was written by a newer resviz .*schema version "
                                          rf"{SCHEMA_VERSION + 1}.*upgrade resviz"):
        open_run(path)


@pytest.mark.parametrize("column, blob, message", [
    ("grad_norm", b"\x00" * 11, "step 3 has a grad_norm blob of 11 bytes, expected 12"),
    ("act_grad_norm", b"\x00" * 4000, "step 3 has a act_grad_norm blob of 4000 bytes, expected 4"),
    ("dead_relu", None, "step 3 has a dead_relu blob of NoneType bytes"),
])
def test_every_blob_is_bound_checked(tmp_path, column, blob, message):
    path = finished_run(tmp_path / "bad-blob.resviz", steps=10)
    with tamper(path) as db:
        db.execute("CREATE TABLE step2 AS SELECT * FROM step")  # drop NOT NULL to plant a bad row
        db.execute("DROP TABLE step")
        db.execute("ALTER TABLE step2 RENAME TO step")
        db.execute(f"UPDATE step SET {column} = ? WHERE step = 3", (blob,))
    with open_run(path) as reader:
        assert reader.read_steps(after=3).step.tolist() == list(range(4, 10))  # the rest still reads
        with pytest.raises(ResvizError, match=f"run file {path} is damaged: {message}"):
            reader.read_steps()


def test_bad_eval_blobs_are_reported(tmp_path):
    path = tmp_path / "bad-eval.resviz"
    with make_writer(path) as writer:
        writer.add_eval(step=0, epoch=0, split="test", loss=1.0, acc=0.5, confusion=np.eye(2, dtype=int),
                        precision=[1, 1], recall=[1, 1])
    with tamper(path) as db:
        db.execute("UPDATE eval SET num_classes = 3")
    with open_run(path) as reader, pytest.raises(ResvizError, match="test evaluation at step 0 has a confusion"):
        reader.evals()


def test_a_damaged_checkpoint_is_reported(tmp_path):
    path = tmp_path / "bad-ckpt.resviz"
    with make_writer(path) as writer:
        writer.add_checkpoint(4, 1, {"w": torch.ones(3)})
    with tamper(path) as db:
        db.execute("UPDATE checkpoint SET data = ?", (b"\xff" * 40,))
    with open_run(path) as reader, pytest.raises(ResvizError, match=f"checkpoint at step 4 in run file {path} "
                                                                      "is damaged"):
        reader.load_checkpoint()


def test_list_runs_summarises_each_file(tmp_path):
    done = make_writer(tmp_path / "b-done.resviz")
    done.add_steps(batch_of(np.arange(0, 40, 10)))
    done.add_eval(step=30, epoch=1, split="test", loss=1.0, acc=0.4, confusion=np.eye(2, dtype=int),
                  precision=[1, 1], recall=[1, 1])
    done.add_eval(step=40, epoch=2, split="test", loss=1.0, acc=0.6, confusion=np.eye(2, dtype=int),
                  precision=[1, 1], recall=[1, 1])
    done.finish()
    live = make_writer(tmp_path / "a-live.resviz", model_spec=ModelSpec("plain20"))
    add(live, 0)
    live.flush()
    (tmp_path / "c-broken.resviz").write_bytes(b"not a database at all" * 10)
    (tmp_path / "notes.txt").write_text("ignored")

    summaries = list_runs(tmp_path)
    assert [s.name for s in summaries] == ["a-live", "b-done", "c-broken"]
    running, finished, broken = summaries
    assert (running.model, running.steps, running.status, running.live, running.best_acc) == (
        "plain20", 1, "running", True, None)
    assert (finished.model, finished.steps, finished.last_step, finished.status, finished.live) == (
        "resnet20 (norm=none)", 4, 30, "finished", False)
    assert finished.best_acc == 0.6
    assert broken.status == "unreadable" and "not an SQLite database" in broken.error
    live.finish("failed", "boom")
    assert summarize_run(tmp_path / "a-live.resviz").status == "failed"
    with pytest.raises(ResvizError, match="run folder .* does not exist"):
        list_runs(tmp_path / "missing")


def test_readers_see_a_finished_run_in_a_file_copied_elsewhere(tmp_path):
    path = finished_run(tmp_path / "orig.resviz", steps=60)
    assert not (tmp_path / "orig.resviz-wal").exists()  # finished runs are one self-contained file
    copy = tmp_path / "copy.resviz"
    copy.write_bytes(path.read_bytes())
    with open_run(copy) as reader:
        assert len(reader.read_steps()) == 60 and reader.info().status == "finished"


def test_a_finished_run_in_a_read_only_place_opens_as_immutable(tmp_path, monkeypatch):
    import resviz.train.store as store

    path = finished_run(tmp_path / "shared.resviz", steps=12)
    connect = sqlite3.connect
    attempts = []

    class CannotCreateShm:
        """SQLite fails the first read when it cannot create the -shm file beside a WAL database."""

        def execute(self, *args):
            raise sqlite3.OperationalError("unable to open database file")

        def close(self):
            pass

    def read_only_folder(database, *args, **kwargs):
        attempts.append(database)
        if "immutable=1" not in database:
            return CannotCreateShm()
        return connect(database, *args, **kwargs)

    monkeypatch.setattr(store.sqlite3, "connect", read_only_folder)
    with open_run(path) as reader:
        assert reader.step_count() == 12 and reader.info().status == "finished"
    assert attempts[-1].endswith("?mode=ro&immutable=1")
    # With a WAL beside it the file may still change, so it is never read as immutable.
    (tmp_path / "shared.resviz-wal").write_bytes(b"")
    with pytest.raises(ResvizError, match=f"run file {path} cannot be opened: unable to open"):
        open_run(path)


# --------------------------------------------------------------------------------------------
# Creating a run file: atomic, one writer per path, stubs of killed writers reused


def test_two_writers_claiming_one_path_at_once_leave_one_working_run(tmp_path, monkeypatch):
    import resviz.train.store as store

    monkeypatch.setattr(store, "CLAIM_SECONDS", 0.05)  # the loser need not wait out a probing reader here
    path = tmp_path / "contested.resviz"
    for _ in range(25):  # the race it guards against lost about one try in ten
        barrier = threading.Barrier(2)
        results = [None, None]

        def claim(index):
            barrier.wait()
            try:
                results[index] = make_writer(path, overwrite=True, commit_every=1)
            except ResvizError as exc:
                results[index] = exc

        threads = [threading.Thread(target=claim, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners = [r for r in results if isinstance(r, RunWriter)]
        losers = [r for r in results if isinstance(r, ResvizError)]
        assert len(winners) == 1 and len(losers) == 1, results
        assert str(losers[0]) == (f"run file {path} is being written now by process {os.getpid()} on "
                                  f"{socket.gethostname()}; stop that run or choose another name")
        add(winners[0], 0)  # the winner's file has its tables: the first commit works
        winners[0].finish()
        with open_run(path) as reader:
            assert reader.info().status == "finished" and reader.read_steps().step.tolist() == [0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["contested.resviz"]  # no lock, WAL or temporary left


KILLED_WHILE_CREATING = textwrap.dedent("""
    import os, signal, sys
    import resviz.train.store as store

    def killed(*args):  # the moment before the finished file is renamed into place
        os.kill(os.getpid(), signal.SIGKILL)

    store.os.replace = killed
    store.RunWriter(sys.argv[1], model_spec=None, config={}, layer_ids=["a"], block_ids=[])
""")


def test_a_writer_killed_while_creating_leaves_no_run_file_and_the_path_free(tmp_path):
    path = tmp_path / "runs" / "early.resviz"
    process = subprocess.run([sys.executable, "-c", KILLED_WHILE_CREATING, str(path)], timeout=120)
    assert process.returncode == -signal.SIGKILL
    assert not path.exists()  # readers never see a file without its tables
    assert any(p.name.startswith(".early.resviz.") for p in path.parent.iterdir())  # the half-made one, hidden
    assert list_runs(path.parent) == []
    writer = make_writer(path)  # no --overwrite needed: nothing was there
    add(writer, 0)
    writer.finish()
    assert sorted(p.name for p in path.parent.iterdir()) == ["early.resviz"]
    assert summarize_run(path).steps == 1


def _stub_empty(path):
    path.write_bytes(b"")


def _stub_empty_with_journal(path):
    path.write_bytes(b"")
    path.with_name(path.name + "-journal").write_bytes(b"\x00" * 512)


def _stub_wal_without_tables(path):
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.close()
    path.with_name(path.name + "-wal").write_bytes(b"")


def _stub_run_file_without_a_run(path):
    db = sqlite3.connect(path)
    db.execute("PRAGMA application_id=1381193306")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.commit()
    db.close()


@pytest.mark.parametrize("make_stub", [_stub_empty, _stub_empty_with_journal, _stub_wal_without_tables,
                                       _stub_run_file_without_a_run],
                         ids=["empty", "empty-with-journal", "wal-without-tables", "run-file-without-a-run"])
def test_a_path_that_holds_no_run_is_reused(tmp_path, make_stub):
    path = tmp_path / "stub.resviz"
    make_stub(path)
    writer = make_writer(path)  # not "already exists": there is no run to lose
    add(writer, 0)
    writer.finish()
    with open_run(path) as reader:
        assert reader.info().status == "finished" and reader.step_count() == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stub.resviz"]


def test_a_path_that_holds_a_run_or_another_file_is_refused_without_overwrite(tmp_path):
    run = finished_run(tmp_path / "run.resviz", steps=3)
    with pytest.raises(ResvizError, match=f"run file {run} already exists and holds a run; choose another name"):
        make_writer(run)
    noise = tmp_path / "noise.resviz"
    noise.write_bytes(b"precious notes, not a run" * 20)
    foreign = tmp_path / "foreign.resviz"
    with tamper(foreign) as db:
        db.execute("CREATE TABLE songs (title TEXT)")
    for other in (noise, foreign):
        before = other.read_bytes()
        with pytest.raises(ResvizError, match=f"run file {other} already exists and is not a run file"):
            make_writer(other)
        assert other.read_bytes() == before
    with pytest.raises(ResvizError, match="is a folder"):
        make_writer(tmp_path)
    assert summarize_run(run).steps == 3  # refusing left the run alone
    make_writer(noise, overwrite=True).finish()  # asked for: replaced
    assert summarize_run(noise).status == "finished"


# --------------------------------------------------------------------------------------------
# Liveness: more than a PID


def test_a_killed_writer_is_not_live_even_when_its_pid_belongs_to_another_process_now(tmp_path):
    path = tmp_path / "gone.resviz"
    process = start_writer(tmp_path, path, total=-1, chunk=3, commit_every=3)
    for line in process.stdout:
        if int(line.split()[1]) >= 30:
            break
    with open_run(path) as reader:
        info = reader.info()
        assert (info.status, info.live) == ("running", True) and is_live(info)
        assert info.writer_start  # who the writer was, beyond its process id
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stdout.close()
    lock = tmp_path / "gone.resviz-lock"
    assert lock.exists()  # a kill leaves the lock file, but not the lock

    def shown():
        with open_run(path) as reader:
            info = reader.info()
        assert info.live == is_live(info)
        return info.status, info.live, summarize_run(path).status

    # The PID now names a living process (this one): the free lock says the writer is gone...
    with tamper(path) as db:
        db.execute("UPDATE run SET pid = ?", (os.getpid(),))
    assert shown() == ("interrupted", False, "interrupted")
    # ... and once a reader has tidied the lock file away, the process's start time does.
    assert not lock.exists()
    assert shown() == ("interrupted", False, "interrupted")


def test_a_writer_is_live_by_its_process_when_its_lock_file_is_gone_and_by_its_commits_elsewhere(tmp_path):
    writer = make_writer(tmp_path / "here.resviz", commit_every=1)
    add(writer, 0)
    (tmp_path / "here.resviz-lock").unlink()  # no lock to probe: the process and its start time decide
    assert open_run(writer.path).info().live
    abandon(writer)
    with tamper(writer.path) as db:
        db.execute("UPDATE meta SET value = 'another-boot:1' WHERE key = 'writer_start'")
    assert open_run(writer.path).info().status == "interrupted"  # same PID, another process
    # Written on another machine: live while it commits.
    with tamper(writer.path) as db:
        db.execute("UPDATE run SET host = 'elsewhere.example', updated = ?", (time.time(),))
    assert open_run(writer.path).info().live
    with tamper(writer.path) as db:
        db.execute("UPDATE run SET updated = ?", (time.time() - 3600,))
    assert open_run(writer.path).info().status == "interrupted"


# --------------------------------------------------------------------------------------------
# A full disk


FILLS_ITS_LIMIT = textwrap.dedent("""
    import resource, signal, sys
    import numpy as np
    from resviz.errors import ResvizError
    from resviz.train.store import RunWriter

    writer = RunWriter(sys.argv[1], model_spec=None, config={}, layer_ids=[f"l{i}" for i in range(64)],
                       block_ids=["b"], commit_every=10, commit_seconds=3600)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # as resviz train does: a failed write, not a dead process
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    committed = 0
    try:
        for step in range(100_000):
            writer.add_step(step, epoch=0, loss=1.0, grad_norm=np.full(64, step), weight_norm=np.ones(64),
                            update_ratio=np.ones(64), act_grad_norm=[1.0], dead_relu=[0.0])
            if writer.pending == 0:
                committed = step + 1
    except ResvizError as exc:
        print("step:", exc)
    try:
        writer.finish()
    except ResvizError as exc:
        print("finish:", exc)
    print("committed", committed)
""")


def test_a_full_disk_is_named_and_the_run_ends_failed_with_what_was_committed(tmp_path):
    path = tmp_path / "full.resviz"
    done = subprocess.run([sys.executable, "-c", FILLS_ITS_LIMIT, str(path)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    step_line, finish_line, committed_line = lines[-3:]
    assert step_line.startswith(f"step: run file {path}: cannot write: the file-size limit (262,144 bytes")
    assert step_line.endswith("the steps committed before are kept") and "rollback" not in done.stdout
    assert finish_line.startswith("finish: run file") and "file-size limit" in finish_line
    committed = int(committed_line.split()[1])
    assert committed >= 50
    with open_run(path) as reader:
        info = reader.info()
        steps = reader.read_steps()
        (event,) = reader.events()
        assert reader._query("PRAGMA integrity_check") == [("ok",)]
    assert info.status == "failed" and "file-size limit" in info.error and "could not be written" in info.error
    np.testing.assert_array_equal(steps.step, np.arange(committed))  # every commit kept, nothing torn
    np.testing.assert_array_equal(steps.grad_norm[:, 0], np.arange(committed))
    assert (event.kind, event.step, event.message) == ("error", committed, info.error)


# --------------------------------------------------------------------------------------------
# Every field checked


def test_a_writer_refuses_a_config_entry_readers_would_refuse(tmp_path):
    with pytest.raises(ResvizError, match=r"the training config normalize is 'yes', expected true or false"):
        make_writer(tmp_path / "bad-config.resviz", config={"normalize": "yes"})
    with pytest.raises(ResvizError, match=r"config resolved.input_shape is \[3, 0, 8\], expected 1 to 4 positive"):
        make_writer(tmp_path / "bad-config.resviz", config={"resolved": {"input_shape": (3, 0, 8)}})
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def complete_run(tmp_path_factory):
    """A finished run with a row in every table."""
    path = tmp_path_factory.mktemp("complete") / "complete.resviz"
    with make_writer(path) as writer:
        writer.add_steps(batch_of(np.arange(3)))
        writer.add_eval(step=2, epoch=0, split="test", loss=0.7, acc=0.75, confusion=[[3, 1], [0, 4]],
                        precision=[1.0, 0.8], recall=[0.75, 1.0])
        writer.add_event(1, "info", "something happened", layer="fc")
        writer.add_checkpoint(2, 0, {"w": torch.ones(3)})
    return path.read_bytes()


BLOB = b"\x00\x01not text"
DAMAGE = {
    "run": {"name": [BLOB, None], "config": [BLOB, None, "[1, 2]", "{not json", '{"train_samples": "many"}',
                                             '{"resolved": {"mean": ["a"]}}', '{"resolved": {"input_shape": [3, -8, 8]}}',
                                             '{"normalize": "yes"}', '{"dataset": 5}'],
            "model_spec": [BLOB, '{"options": {}}'], "device": [BLOB, None],
            "layer_ids": [None, '{"a": 1}', "[1, 2]"], "block_ids": [None, "[null]"], "classes": [None, "3"],
            "twin": [BLOB], "status": ["exploded", None, BLOB], "error": [BLOB],
            "created": ["yesterday", None, -5.0, 1e300], "updated": ["yesterday", None, -1.0, math.inf],
            "host": [BLOB], "pid": ["abc", -3, 1.5, 1 << 40]},
    "meta": {"schema_version": ["x", BLOB], "writer_start": [BLOB]},
    "step": {"step": ["x", -1, 1.5], "epoch": ["x", None, -2], "time": ["x", None, -1.0], "loss": ["x", BLOB],
             "acc": [BLOB], "lr": ["x"], "nonfinite": [7, None, "x"], "grad_norm": [None], "dead_relu": ["x"]},
    "eval": {"step": ["x", -1], "epoch": [None, 0.5], "split": [None, BLOB], "loss": ["x"], "acc": ["x"],
             "num_classes": ["x", -1], "confusion": [None], "precision": [b"\x00"], "recall": [None]},
    "event": {"step": ["x", -4], "time": [None, -1.0, "x"], "kind": [None, BLOB], "message": [BLOB],
              "layer": [BLOB]},
    "checkpoint": {"step": ["x"], "epoch": [None, -1], "time": ["x"], "data": [None, "text"]},
}
DAMAGE_CASES = [(table, column, value) for table, columns in DAMAGE.items() for column, values in columns.items()
                for value in values]


def _read_table(reader, table):
    if table in ("run", "meta"):
        return reader.info()
    if table == "step":
        return reader.read_steps()
    if table == "eval":
        return reader.evals()
    if table == "event":
        return reader.events()
    reader.checkpoints()
    return reader.load_checkpoint()


@pytest.mark.parametrize("table, column, value", DAMAGE_CASES,
                         ids=[f"{t}.{c}={v!r:.12}" for t, c, v in DAMAGE_CASES])
def test_every_field_is_type_and_range_checked(tmp_path, complete_run, table, column, value):
    path = tmp_path / "damaged.resviz"
    path.write_bytes(complete_run)
    with tamper(path) as db:
        # Rebuilt without its constraints, so that NULLs and stray types can be planted.
        db.execute(f"CREATE TABLE copy AS SELECT * FROM {table}")
        db.execute(f"DROP TABLE {table}")
        db.execute(f"ALTER TABLE copy RENAME TO {table}")
        if table == "meta":
            db.execute("UPDATE meta SET value = ? WHERE key = ?", (value, column))
        else:
            db.execute(f"UPDATE {table} SET {column} = ?", (value,))
    healthy = finished_run(tmp_path / "healthy.resviz", steps=4)

    with pytest.raises(ResvizError) as raised:
        with open_run(path) as reader:
            _read_table(reader, table)
    message = str(raised.value)
    assert str(path) in message and column in message, message
    if table in ("run", "meta") or (table, column) in (("step", "step"), ("eval", "acc")):  # what a summary reads
        damaged, sound = list_runs(tmp_path)  # listed as unreadable, with the reason; the other as it is
        assert damaged.status == "unreadable" and str(path) in damaged.error and column in damaged.error
        assert (sound.path, sound.status, sound.steps) == (healthy, "finished", 4)


# --------------------------------------------------------------------------------------------
# Readers leave no -wal / -shm behind


def test_reading_a_run_leaves_no_wal_or_shm_once_its_writer_is_gone(tmp_path):
    path = finished_run(tmp_path / "read.resviz", steps=5)

    def beside():
        return sorted(p.name for p in tmp_path.iterdir())

    with open_run(path) as reader:
        reader.read_steps()
        assert beside() == ["read.resviz", "read.resviz-shm", "read.resviz-wal"]  # SQLite's, while reading
    assert beside() == ["read.resviz"]
    summarize_run(path)
    assert beside() == ["read.resviz"]

    # A live writer's files stay while it writes, however many readers come and go.
    live = make_writer(tmp_path / "live.resviz", commit_every=1)
    add(live, 0)
    summarize_run(live.path)
    assert "live.resviz-wal" in beside() and "live.resviz-lock" in beside()
    assert open_run(live.path).read_steps().step.tolist() == [0]
    live.finish()
    assert beside() == ["live.resviz", "read.resviz"]

    # A killed writer's WAL holds committed steps: reading folds them into the file, then removes it.
    process = start_writer(tmp_path, tmp_path / "killed.resviz", total=-1, chunk=3, commit_every=3)
    for line in process.stdout:
        if int(line.split()[1]) >= 30:
            break
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stdout.close()
    assert "killed.resviz-wal" in beside()
    with open_run(tmp_path / "killed.resviz") as reader:
        count = reader.step_count()
    assert count >= 30 and {"killed.resviz-wal", "killed.resviz-shm"}.isdisjoint(beside())
    assert summarize_run(tmp_path / "killed.resviz").steps == count
