"""The colour levels every compared run shares: set by the first data, widened in whole decades."""

from __future__ import annotations

import pytest

from resviz.views.colour_levels import ColourLevels


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
