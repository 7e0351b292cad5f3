"""The window's Qt-free parts: timeline, colour levels, max-pooling, run data, the comparison."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

from resviz.gui.comparison import RunComparison
from resviz.gui.decimate import MaxPyramid, max_pool_rows
from resviz.gui.run_data import LOG_FLOOR, LOG_NONFINITE, PLAIN_COLOUR, RESIDUAL_COLOUR, RunData, log10_norms
from resviz.gui.state import ColourLevels, Timeline
from resviz.runfile import EvalRecord

from gui_support import make_batch, make_info

# -- timeline ---------------------------------------------------------------------------------


def test_timeline_follows_until_seeked_and_clamps():
    timeline = Timeline()
    timeline.set_range(1, 100)
    assert timeline.following and timeline.step == 100
    timeline.seek(40)
    assert not timeline.following and timeline.step == 40
    timeline.set_range(1, 200)  # new steps do not move a scrubbed view
    assert timeline.step == 40
    timeline.seek(10_000)  # past the end: follow the newest again
    assert timeline.following and timeline.step == 200
    timeline.seek(-5)
    assert timeline.step == 1


def test_timeline_plays_at_its_speed_and_stops_at_the_end():
    timeline = Timeline()
    timeline.set_range(0, 1000)
    timeline.set_speed(100.0)
    timeline.seek(0)
    timeline.play()
    timeline.advance(0.5)
    assert timeline.step == 50 and timeline.playing
    timeline.advance(2.0)
    assert timeline.step == 250
    timeline.advance(100.0)
    assert timeline.step == 1000 and not timeline.playing
    timeline.play()  # at the end, play starts again from the first step
    assert timeline.step == 0 and timeline.playing
    with pytest.raises(ValueError):
        timeline.set_speed(0)


def test_timeline_suggests_a_preset_that_replays_in_about_twenty_seconds():
    timeline = Timeline()
    timeline.set_range(0, 20_000)
    assert timeline.suggest_speed(20.0) == 1000.0
    timeline.set_range(0, 200)
    assert timeline.suggest_speed(20.0) == 10.0


# -- colour levels ----------------------------------------------------------------------------


def test_levels_are_set_by_the_first_data_then_only_widen_in_whole_decades():
    levels = ColourLevels()
    seen = []
    levels.changed.connect(lambda: seen.append(levels.levels))
    levels.include(-5.4, -1.2)
    assert levels.levels == (-6.0, -1.0)
    levels.include(-2.0, -1.5)  # inside: nothing changes (no refit per frame)
    assert levels.levels == (-6.0, -1.0) and len(seen) == 1
    levels.include(-7.5, -1.0)
    assert levels.levels == (-8.0, -1.0) and len(seen) == 2
    levels.include(float("nan"), 3.0)  # non-finite bounds are ignored
    assert levels.levels == (-8.0, -1.0)


def test_locked_levels_ignore_data():
    levels = ColourLevels()
    levels.lock(-6.0, -1.0)
    levels.include(-12.0, 4.0)
    assert levels.levels == (-6.0, -1.0)
    with pytest.raises(ValueError):
        levels.lock(1.0, 1.0)
    levels.unlock()
    levels.include(-12.2, 4.0)
    assert levels.levels == (-13.0, 4.0)


# -- max-pooling to screen width --------------------------------------------------------------


def test_pyramid_matches_a_one_shot_max_pool_while_growing_in_chunks():
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((5000, 7)).astype(np.float32)
    rows[3333, 4] = 50.0  # a one-step spike must survive pooling
    pyramid = MaxPyramid(7, max_columns=64)
    for end in range(0, 5001, 137):
        pyramid.update(rows, end)
    pyramid.update(rows, 5000)
    image = pyramid.image(rows, 5000)
    assert len(image) <= 64
    bin_ = pyramid.bin
    assert bin_ == 128  # the smallest power of two that fits 5000 rows in 64 columns
    expected = np.stack([rows[i:i + bin_].max(axis=0) for i in range(0, 5000, bin_)])
    np.testing.assert_array_equal(image, expected)
    assert image.max() == 50.0 and image[3333 // bin_, 4] == 50.0


def test_pyramid_prefix_images_show_only_the_first_rows():
    rows = np.arange(1000 * 3, dtype=np.float32).reshape(1000, 3)
    pyramid = MaxPyramid(3, max_columns=16)
    pyramid.update(rows, 1000)
    image = pyramid.image(rows, 300)
    assert image.max() == rows[299].max()
    assert len(image) == int(np.ceil(300 / pyramid.bin))
    pooled, bin_ = max_pool_rows(rows[:10], 16)
    assert bin_ == 1 and np.array_equal(pooled, rows[:10])


# -- run data ---------------------------------------------------------------------------------


def test_log_norms_mark_zero_and_non_finite_at_the_ends_of_the_scale():
    out = log10_norms(np.array([[1e-3, 0.0, np.inf, np.nan, 10.0]]))
    np.testing.assert_allclose(out[0], [-3.0, LOG_FLOOR, LOG_NONFINITE, LOG_NONFINITE, 1.0])


def test_run_data_appends_in_order_and_drops_re_read_rows():
    run = RunData(make_info())
    run.append(make_batch(1, 100))
    run.append(make_batch(90, 30))  # steps 90..119 overlap 90..100: only 101..119 are new
    assert len(run) == 119
    assert np.array_equal(run.step.values, np.arange(1, 120))
    assert run.rows_until(50) == 50 and run.row_at(0) is None and run.row_at(10_000) == 118
    norms = run.layer_norms_at(60)
    assert list(norms) == ["l0", "l1", "l2", "l3", "l4"]
    assert norms["l2"] == pytest.approx(float(run.grad_norm.data[59, 2]))


def test_run_data_smooths_the_loss_and_keeps_non_finite_flags():
    run = RunData(make_info())
    run.append(make_batch(1, 50, nonfinite_at=(20,)))
    assert np.isnan(run.loss.values[19])  # the raw loss is kept as recorded
    assert np.isfinite(run.loss_smooth.values).all()  # the average steps over it
    assert list(run.nonfinite_steps()) == [20]
    assert run.grad_log.values[19, 2] == LOG_NONFINITE


def _evals_at(*steps: int, split: str = "test") -> list[EvalRecord]:
    confusion = np.eye(2, dtype=np.int64)
    return [EvalRecord(step=s, epoch=i, split=split, loss=1.0, acc=i / 10, confusion=confusion,
                       precision=np.ones(2), recall=np.ones(2)) for i, s in enumerate(steps)]


def test_run_data_finds_the_latest_evaluation_at_a_step():
    run = RunData(make_info())
    run.append(make_batch(0, 41))  # steps 0..40
    run.evals = _evals_at(10, 20, 30, split="val")
    assert run.eval_at(5) is None
    assert run.eval_at(25).step == 20
    assert run.eval_at(30, "val").step == 30 and run.eval_at(30, "test") is None


def test_an_evaluation_shows_from_the_last_step_it_saw():
    # The trainer records steps 0..140 and evaluates after 47, 94 and 141 steps: each evaluation
    # carries the number of steps done, one past the index of the last step it saw.
    run = RunData(make_info())
    run.append(make_batch(0, 141))
    run.evals = _evals_at(47, 94, 141)
    assert run.last_step == 140
    assert run.eval_at(140).step == 141  # the end of the run shows its final evaluation
    assert [e.step for e in run.evals_until(140)] == [47, 94, 141]
    assert run.eval_at(139).step == 94
    assert run.eval_at(93).step == 94 and run.eval_at(92).step == 47
    assert run.eval_at(45) is None


def test_a_one_epoch_run_shows_its_evaluation():
    run = RunData(make_info())
    run.append(make_batch(0, 47))  # steps 0..46, evaluated after 47
    run.evals = _evals_at(47)
    assert run.eval_at(run.last_step).step == 47


def test_the_last_evaluation_shows_when_the_last_steps_were_not_recorded():
    run = RunData(make_info())
    batch = make_batch(0, 141)
    run.append(batch[batch.step % 10 == 0])  # one step in ten recorded: 0, 10, ..., 140
    run.evals = _evals_at(47, 94, 145)  # 145 steps trained, the last five unrecorded
    assert run.eval_at(run.last_step).step == 145
    assert run.eval_at(130).step == 94


def test_warnings_are_reached_with_the_timeline():
    from resviz.runfile import EventRecord

    comparison = RunComparison()
    run = comparison.add(make_info("p", "plain20"))
    comparison.append_steps(run.path, make_batch(0, 100))
    comparison.set_records(run.path, None, [
        EventRecord(step=0, time=0.0, kind="info", message="training plain20"),
        EventRecord(step=12, time=1.0, kind="warning", message="loss diverged at step 12 (2.3 -> 10.4)"),
    ])
    assert [event.message for _, event in comparison.warnings_at()] == ["loss diverged at step 12 (2.3 -> 10.4)"]
    assert comparison.warnings_at(5) == []
    comparison.timeline.seek(20)
    assert len(comparison.warnings_at()) == 1


def test_run_status_words_follow_the_run_file_and_its_writer():
    import socket
    import subprocess
    import sys

    info = make_info()
    info.host, info.pid = socket.gethostname(), os.getpid()
    run = RunData(info)
    assert run.status_word == "running"  # its writer (this process) is alive
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    info.pid = dead.pid
    assert run.refresh_status() and run.status_word == "interrupted"  # the writer is gone
    for status, error, word in (("finished", None, "finished"), ("stopped", None, "stopped"),
                                ("stopped", "interrupted", "interrupted"), ("failed", "boom", "failed")):
        run.set_info(dataclasses.replace(info, status=status, error=error))
        assert run.status_word == word


# -- the comparison ---------------------------------------------------------------------------


def test_twins_get_fixed_colours_residual_first_and_share_levels():
    comparison = RunComparison()
    plain = comparison.add(make_info("p", "plain20"))
    residual = comparison.add(make_info("r", "resnet20"))
    assert [run.name for run in comparison.ordered] == ["r", "p"]
    assert residual.style.colour == RESIDUAL_COLOUR and plain.style.colour == PLAIN_COLOUR
    comparison.append_steps(plain.path, make_batch(1, 200, residual=False))
    comparison.append_steps(residual.path, make_batch(1, 100))
    low, high = comparison.levels.levels
    plain_low, _ = plain.log_range
    assert low <= plain_low and low == np.floor(low)  # the plain net's tiny gradients set the shared floor
    frame = comparison.frame()
    assert (frame.first_step, frame.last_step, frame.step) == (1, 200, 200)
    revision = frame.revision
    comparison.timeline.seek(50)
    assert comparison.frame().step == 50 and comparison.frame().revision == revision
    comparison.remove(plain.path)
    assert comparison.timeline.last == 100 and len(comparison) == 1
