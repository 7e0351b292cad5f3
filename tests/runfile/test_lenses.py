"""Lens results in the run file: stored beside a finished or live run, read back as stored,
absent in files from before lenses, refused when they are not plain numbers."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from runfile_support import add, make_writer

from resviz.errors import ResvizError
from resviz.runfile import LensResult, open_run, store_lens_result


def test_a_result_reads_back_as_stored(tmp_path):
    path = tmp_path / "run.resviz"
    with make_writer(path) as writer:
        add(writer, 0)
    with open_run(path) as reader:
        assert reader.lens_results() == []  # no lens table yet
    grid = np.linspace(0, 1, 12).reshape(3, 4)
    first = LensResult("landscape", params={"grid": 3, "seed": 7}, arrays={"loss": grid, "alphas": np.arange(3)},
                       summary={"roughness": 0.25})
    store_lens_result(path, first)
    store_lens_result(path, LensResult("lesion", arrays={"accuracy": np.array([0.9, 0.1])}))
    with open_run(path) as reader:
        results = reader.lens_results()
        only = reader.lens_results("landscape")
        assert reader.read_steps().step.tolist() == [0]  # the run itself is untouched
    assert [r.name for r in results] == ["landscape", "lesion"]
    assert len(only) == 1 and only[0].id == first.id
    assert only[0].params == {"grid": 3, "seed": 7} and only[0].summary == {"roughness": 0.25}
    np.testing.assert_array_equal(only[0].arrays["loss"], grid)
    assert only[0].arrays["alphas"].dtype == np.arange(3).dtype
    assert only[0].created == pytest.approx(first.created)


def test_stored_while_the_writer_is_writing(tmp_path):
    path = tmp_path / "run.resviz"
    with make_writer(path, commit_every=1) as writer:
        add(writer, 0)
        store_lens_result(path, LensResult("signal", arrays={"ratio": np.array([1.0])}))
        add(writer, 1)
    with open_run(path) as reader:
        assert reader.read_steps().step.tolist() == [0, 1]
        assert reader.lens_results()[0].arrays["ratio"].tolist() == [1.0]


def test_what_cannot_be_stored_is_refused_and_nothing_is_written(tmp_path):
    path = tmp_path / "run.resviz"
    with make_writer(path) as writer:
        add(writer, 0)
    with pytest.raises(ValueError, match="'names'.*not numbers"):
        store_lens_result(path, LensResult("paths", arrays={"names": np.array(["a", "b"], dtype=object)}))
    with pytest.raises(ValueError, match="lens name"):
        store_lens_result(path, LensResult("Bad Name"))
    with pytest.raises(ResvizError, match="does not exist"):
        store_lens_result(tmp_path / "missing.resviz", LensResult("paths"))
    with open_run(path) as reader:
        assert reader.lens_results() == []


def test_damaged_arrays_are_one_line(tmp_path):
    path = tmp_path / "run.resviz"
    with make_writer(path) as writer:
        add(writer, 0)
    store_lens_result(path, LensResult("signal", arrays={"ratio": np.array([1.0])}))
    with sqlite3.connect(path) as db:
        db.execute("UPDATE lens SET arrays = ?", (b"not an npz",))
    with open_run(path) as reader, pytest.raises(ResvizError, match="signal lens .*damaged|damaged.*signal lens"):
        reader.lens_results()
