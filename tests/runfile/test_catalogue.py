"""Listing the runs in a folder."""

from __future__ import annotations

import numpy as np
import pytest
from runfile_support import add, batch_of, make_writer

from resviz.errors import ResvizError
from resviz.models import ModelSpec
from resviz.runfile import list_runs, summarize_run


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
