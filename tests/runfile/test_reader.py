"""Reading a run file: tailing a live run, a killed writer's commits, busy files, damaged files, every field checked."""

from __future__ import annotations

import math
import signal
import sqlite3
import threading
import time

import numpy as np
import pytest
import torch
from runfile_support import STRUCTURE, add, batch_of, finished_run, make_writer, start_writer, tamper

from resviz.errors import ResvizError
from resviz.runfile import SCHEMA_VERSION, RunReader, StepBatch, list_runs, open_run, summarize_run


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


def test_readers_see_a_finished_run_in_a_file_copied_elsewhere(tmp_path):
    path = finished_run(tmp_path / "orig.resviz", steps=60)
    assert not (tmp_path / "orig.resviz-wal").exists()  # finished runs are one self-contained file
    copy = tmp_path / "copy.resviz"
    copy.write_bytes(path.read_bytes())
    with open_run(copy) as reader:
        assert len(reader.read_steps()) == 60 and reader.info().status == "finished"


def test_a_finished_run_in_a_read_only_place_opens_as_immutable(tmp_path, monkeypatch):
    import resviz.runfile.writer as store

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


@pytest.fixture(scope="module")
def complete_run(tmp_path_factory):
    """A finished run with a row in every table, and every field of the run record set."""
    path = tmp_path_factory.mktemp("complete") / "complete.resviz"
    with make_writer(path, structure=STRUCTURE) as writer:
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
            "host": [BLOB], "pid": ["abc", -3, 1.5, 1 << 40],
            "structure": [BLOB, "{not json", "[1]", '{"layer_kinds": ["weight"], "block_layers": [[]]}',
                          '{"layer_kinds": ["weight", "norm", "conv"], "block_layers": [[]]}',
                          '{"layer_kinds": ["weight", "weight", "weight"], "block_layers": [["elsewhere"]]}',
                          '{"layer_kinds": ["weight", "weight", "weight"]}']},
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
