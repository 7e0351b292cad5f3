"""Recording how a run ended when its writer died."""

from __future__ import annotations

import signal
import sqlite3

import numpy as np
import pytest
from runfile_support import abandon, add, finished_run, make_writer, start_writer, tamper

from resviz.errors import ResvizError
from resviz.runfile import SCHEMA_VERSION, mark_run_ended, open_run, summarize_run


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
