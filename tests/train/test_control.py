"""Stop signals: a watched training loop is asked to stop at its next step; otherwise, or at a second
signal, the stop is raised where the program is."""

from __future__ import annotations

import os
import signal

import pytest

from resviz.train.control import StopSignal, StopSignals, TrainingControl


def test_a_watched_loop_is_asked_to_stop_and_a_second_signal_stops_at_once():
    before = signal.getsignal(signal.SIGTERM)
    with StopSignals() as signals:
        assert not signals.control.stop_requested  # a loop asks: from now on it is watched
        os.kill(os.getpid(), signal.SIGHUP)
        assert signals.control.stop_requested and (signals.received, signals.exit_code) == (signal.SIGHUP, 129)
        with pytest.raises(StopSignal, match="stopped by SIGTERM") as raised:
            os.kill(os.getpid(), signal.SIGTERM)
        assert raised.value.exit_code == 143 and isinstance(raised.value, KeyboardInterrupt)
        os.kill(os.getpid(), signal.SIGTERM)  # any more are ignored: the end gets written
    assert signal.getsignal(signal.SIGTERM) == before  # handlers as they were


def test_with_no_loop_watching_the_first_signal_stops_at_once():
    control = TrainingControl()
    with StopSignals(control) as signals:
        with pytest.raises(StopSignal, match="stopped by SIGTERM"):
            os.kill(os.getpid(), signal.SIGTERM)
        assert signals.received == signal.SIGTERM and not control._stop.is_set()
    # A stop asked for already (the window's Stop, then SIGTERM from its shutdown): at once, too.
    control = TrainingControl()
    control.stop()
    assert control.stop_requested
    with StopSignals(control), pytest.raises(StopSignal):
        os.kill(os.getpid(), signal.SIGTERM)
