"""Reading run files off the GUI thread: following a run another process writes, bad files."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from resviz.benchmarks.synthetic import write_synthetic_run
from resviz.gui.run_feed import RunFeed

from gui_support import WRITER


@pytest.fixture
def feed(qtbot):
    feed = RunFeed(interval_ms=20)
    yield feed
    feed.close()
    assert not feed.running


def test_follows_a_run_written_by_another_process(qtbot, feed, tmp_path):
    path, gate = tmp_path / "live.resviz", tmp_path / "go"
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(gate)])
    try:
        qtbot.waitUntil(path.exists, timeout=30_000)
        qtbot.wait(300)  # the writer's first commit makes the file a readable run file
        batches, infos, records, opened = [], [], [], []
        feed.opened.connect(lambda p, info, mask: opened.append(info))
        feed.steps_arrived.connect(lambda p, batch: batches.append(batch))
        feed.info_changed.connect(lambda p, info: infos.append(info.status))
        feed.records_changed.connect(lambda p, evals, events: records.append(evals))
        feed.watch(path)
        qtbot.waitUntil(lambda: sum(len(b) for b in batches) == 30, timeout=30_000)
        assert opened[0].status == "running" and set(infos) <= {"running"}  # half-written: still running
        gate.touch()
        qtbot.waitUntil(lambda: "finished" in infos, timeout=30_000)
        qtbot.waitUntil(lambda: bool(records and records[-1]), timeout=10_000)
    finally:
        process.wait(timeout=30)
    assert opened and opened[0].status == "running"
    steps = np.concatenate([b.step for b in batches])
    assert np.array_equal(steps, np.arange(1, 61))  # every step once, in order
    assert records[-1][0].acc == 0.75


def test_replays_a_long_run_in_chunks(qtbot, feed, tmp_path):
    path = write_synthetic_run(tmp_path / "long.resviz", steps=4500, layers=4, blocks=2)
    batches, caught_up = [], []
    feed.steps_arrived.connect(lambda p, batch: batches.append(len(batch)))
    feed.caught_up.connect(caught_up.append)
    feed.watch(path)
    qtbot.waitUntil(lambda: bool(caught_up), timeout=20_000)
    assert sum(batches) == 4500 and max(batches) <= 2000  # chunks: the GUI thread never gets one huge read


@pytest.mark.parametrize("content, message", [
    (b"", "empty or truncated"),
    (b"not a database at all, just text" * 10, "not an SQLite database"),
], ids=["empty", "text"])
def test_bad_files_are_reported_not_raised(qtbot, feed, tmp_path, content, message):
    path = tmp_path / "bad.resviz"
    path.write_bytes(content)
    failures = []
    feed.failed.connect(lambda p, text, details: failures.append(text))
    feed.watch(path)
    qtbot.waitUntil(lambda: bool(failures), timeout=10_000)
    assert message in failures[0] and str(path) in failures[0]


def test_a_missing_file_is_reported(qtbot, feed, tmp_path):
    failures = []
    feed.failed.connect(lambda p, text, details: failures.append(text))
    feed.watch(tmp_path / "nowhere.resviz")
    qtbot.waitUntil(lambda: bool(failures), timeout=10_000)
    assert "does not exist" in failures[0]
