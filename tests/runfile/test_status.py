"""The words a run's status is shown as: the window and `resviz runs` say the same."""

from __future__ import annotations

import pytest

from resviz.runfile import status_label, status_sentence


@pytest.mark.parametrize("status, error, live, word", [
    ("running", None, True, "running"),
    ("running", None, None, "running"),  # the reader cannot tell: the run is taken at its word
    ("running", None, False, "interrupted"),  # marked running, its writer gone
    ("finished", None, None, "finished"),
    ("stopped", None, None, "stopped"),  # the Stop button
    ("stopped", "interrupted", None, "interrupted"),  # Ctrl+C or a signal
    ("failed", "the training process was killed by signal 9", None, "failed"),
    ("unreadable", "run file x is damaged", None, "unreadable"),
])
def test_status_words(status, error, live, word):
    assert status_label(status, error, live=live) == word


def test_a_stopped_run_is_never_called_finished():
    assert status_label("stopped", None) != "finished"
    assert "before its last step" in status_sentence("stopped")


def test_the_sentence_gives_the_recorded_reason():
    assert status_sentence("failed", "ValueError: bad\ntraceback") == "failed (ValueError: bad)"
    assert status_sentence("interrupted", "interrupted").startswith("interrupted: ")
