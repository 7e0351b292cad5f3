"""The timeline: following the newest step, scrubbing, and replay at a chosen speed."""

from __future__ import annotations

import pytest

from resviz.views.timeline import Timeline


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


def test_timeline_steps_one_or_ten_at_a_time_for_narration():
    timeline = Timeline()
    timeline.set_range(1, 0)
    timeline.step_by(1)  # nothing recorded: nothing to step through
    assert timeline.following
    timeline.set_range(1, 50)
    timeline.step_by(-1)  # from the newest step, one back
    assert timeline.step == 49 and not timeline.following
    timeline.play()
    timeline.step_by(10)
    assert timeline.step == 50 and not timeline.playing and not timeline.following  # stays at the chosen step
    timeline.step_by(-10)
    timeline.step_by(-100)
    assert timeline.step == 1
    timeline.set_range(1, 80)
    assert timeline.step == 1  # new steps do not move it
    timeline.set_speed(1.0)
    timeline.play()
    timeline.advance(2.5)  # the slowest speed: a step a second
    assert timeline.step == 3
    assert min(Timeline.SPEEDS) == 1.0
