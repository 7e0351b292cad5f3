"""The runs the training view compares: fixed twin colours, shared levels and timeline, warnings."""

from __future__ import annotations

import numpy as np

from resviz.runfile import EventRecord
from resviz.views.run_comparison import RunComparison
from resviz.views.run_data import PLAIN_COLOUR, RESIDUAL_COLOUR

from .run_support import make_batch, make_info


def test_warnings_are_reached_with_the_timeline():
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
