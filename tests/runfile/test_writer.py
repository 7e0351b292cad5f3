"""Writing a run file: the round trip, batched commits, one writer per path, atomic creation, a full disk."""

from __future__ import annotations

import math
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
import torch
from runfile_support import BLOCKS, LAYERS, add, batch_of, finished_run, make_writer, tamper

from resviz.errors import ResvizError
from resviz.models import ModelSpec
from resviz.runfile import (
    SCHEMA_VERSION,
    EvalRecord,
    RunReader,
    RunWriter,
    StepBatch,
    list_runs,
    open_run,
    summarize_run,
)


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
    import resviz.runfile.writer as store

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


def test_two_writers_claiming_one_path_at_once_leave_one_working_run(tmp_path, monkeypatch):
    import resviz.runfile.writer as store

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
    import resviz.runfile.writer as store

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


FILLS_ITS_LIMIT = textwrap.dedent("""
    import resource, signal, sys
    import numpy as np
    from resviz.errors import ResvizError
    from resviz.runfile import RunWriter

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


def test_a_writer_refuses_a_config_entry_readers_would_refuse(tmp_path):
    with pytest.raises(ResvizError, match=r"the training config normalize is 'yes', expected true or false"):
        make_writer(tmp_path / "bad-config.resviz", config={"normalize": "yes"})
    with pytest.raises(ResvizError, match=r"config resolved.input_shape is \[3, 0, 8\], expected 1 to 4 positive"):
        make_writer(tmp_path / "bad-config.resviz", config={"resolved": {"input_shape": (3, 0, 8)}})
    assert list(tmp_path.iterdir()) == []
