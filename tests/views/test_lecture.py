"""The lecture page's caption: the runs, the step, and each run's gradient reach in one number."""

from __future__ import annotations

import numpy as np

from resviz.views.lecture import EMPTY_CAPTION, format_reach, lecture_caption, reach
from resviz.views.run_comparison import RunComparison

from .run_support import make_batch, make_info


def test_fractions_read_at_a_glance():
    assert [format_reach(r) for r in (0.0021, 0.5, 0.04, 1.0, 3.2, 2e-8, 1.2e-10)] == \
        ["1/480", "1/2", "1/25", "1×", "3.2×", "1/50M", "1/8.3G"]


def test_the_caption_puts_the_twins_difference_in_numbers():
    comparison = RunComparison()
    assert lecture_caption(comparison) == EMPTY_CAPTION
    plain = comparison.add(make_info("p", "plain20", layers=5))
    residual = comparison.add(make_info("r", "resnet20", layers=5))
    assert lecture_caption(comparison) == EMPTY_CAPTION  # no step yet
    comparison.append_steps(plain.path, make_batch(1, 50, residual=False))
    comparison.append_steps(residual.path, make_batch(1, 50))
    comparison.timeline.seek(40)
    text = lecture_caption(comparison)
    assert text.startswith("step 40 · ") and text.endswith(
        f"resnet20 {format_reach(reach(residual, 40))} · plain20 {format_reach(reach(plain, 40))}")
    row = plain.row_at(40)
    assert reach(plain, 40) == plain.grad_norm.data[row][0] / plain.grad_norm.data[row][-1]
    assert reach(plain, 40) < reach(residual, 40)  # the synthetic runs: the plain net's first layers get ~10^4 less


def test_reach_is_unknown_without_data_or_with_a_zero_or_nonfinite_norm():
    comparison = RunComparison()
    run = comparison.add(make_info("p", "plain20", layers=3))
    assert reach(run, 5) is None
    batch = make_batch(1, 2, layers=3)
    batch.grad_norm[0, 0], batch.grad_norm[1, -1] = 0.0, np.inf
    comparison.append_steps(run.path, batch)
    assert reach(run, 1) is None and reach(run, 2) is None
