"""The run file: round trip, batching, tailing a live run, a killed writer, damaged files, listing."""

from __future__ import annotations

import contextlib
import math
import os
import signal
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
from resviz.train.store import (SCHEMA_VERSION, EvalRecord, RunReader, RunWriter, StepBatch, list_runs,
                                mark_run_ended, open_run, summarize_run)

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


def test_writer_rejects_bad_steps_and_existing_files(tmp_path):
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
