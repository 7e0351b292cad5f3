"""Whether a run's writer is still writing it: more than a PID."""

from __future__ import annotations

import os
import signal
import time

from runfile_support import abandon, add, make_writer, start_writer, tamper

from resviz.runfile import is_live, open_run, summarize_run


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
