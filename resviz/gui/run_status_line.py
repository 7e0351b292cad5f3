"""The status bar's permanent labels: the open model, and how the shown runs stand.

"2 runs · replay · 1 finished, 1 interrupted · step 1,200 / 3,900": refreshed twice a second
from the ``RunComparison``; a tooltip gives each run's status in a sentence.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QApplication, QLabel, QStatusBar

from ..runfile import FINISHED, RUNNING, status_sentence
from ..views.run_comparison import RunComparison
from .fitting import ElidedLabel
from .theme import STATUS_COLOURS

RUN_SAMPLE = "2 runs · replay · 1 finished, 1 interrupted · step 1,234,567 / 1,234,567"


class RunStatusLine:
    """The model and run labels, added to ``status_bar`` as permanent widgets."""

    def __init__(self, status_bar: QStatusBar) -> None:
        self.model_label = ElidedLabel()  # a long model name is elided, never widens the window
        self.run_label = QLabel()
        self.run_label.setObjectName("runStatus")
        self.run_label.setTextFormat(Qt.RichText)  # statuses that call for attention are coloured
        status_bar.addPermanentWidget(self.run_label)
        status_bar.addPermanentWidget(self.model_label)

    def show(self, comparison: RunComparison, model_label: str, check_writers: bool = True, *,
             paused: bool = False) -> None:
        """Say what is shown. ``check_writers`` looks whether live runs' writers still run (a file
        system probe: every half second, not on every frame of a replay); ``paused``: the training
        that writes the runs is paused (they still say running)."""
        self.model_label.setText(model_label)
        if check_writers:
            comparison.refresh_statuses()  # a writer that died leaves its run marked running
        runs = comparison.ordered
        if not runs:
            self.run_label.setText("no run open")
            self.run_label.setToolTip("")
            return
        timeline = comparison.timeline
        live = any(run.status_word == RUNNING for run in runs)
        parts = [f"{len(runs)} run{'s' if len(runs) > 1 else ''}"]
        if live and paused:
            parts.append(f"<span style='color:{STATUS_COLOURS['paused']}; font-weight:bold'>paused</span>")
        elif live and timeline.following:
            parts.append("live")
        elif not timeline.following:
            parts.append("replay")
        if not all(run.status_word == RUNNING for run in runs):  # how they ended, in 'resviz runs' words
            parts.append(runs_status_html(runs))
        if not timeline.empty:
            parts.append(f"step {timeline.step:,} / {timeline.last:,}")
        rate = steps_per_second(runs[0])
        if live and rate and not paused:
            parts.append(f"{rate:.1f} steps/s")
        self.run_label.setText(" · ".join(parts))
        self.run_label.setToolTip("\n".join(
            f"{run.style.label}: {status_sentence(run.status_word, run.info.error)}" for run in runs))


def fix_label_sizes(samples: list[tuple[QLabel, str]], font: QFont | None = None) -> None:
    """Give labels whose text changes several times a second a fixed size, wide enough for ``sample``.

    A label whose text changes width asks the window to lay itself out again; with live
    figures that relayout (and the repaint of everything it moves) is what freezes a busy
    machine for tens of milliseconds. Fixed sizes make a new text a repaint of the label.
    """
    metrics = QFontMetrics(font or QApplication.font())
    height = metrics.height() + 6
    for label, sample in samples:
        label.setFixedSize(metrics.horizontalAdvance(sample) + 8, height)


def runs_status_html(runs: list) -> str:
    """How the runs stand, in one short phrase: "finished", "stopped", or "1 finished, 1 stopped".

    Words other than finished and running are coloured, so a run that did not end as planned
    stands out in the status bar.
    """
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.status_word] = counts.get(run.status_word, 0) + 1

    def word(text: str) -> str:
        colour = STATUS_COLOURS.get(text) if text not in (FINISHED, RUNNING) else None
        return f"<span style='color:{colour}; font-weight:bold'>{text}</span>" if colour else text

    if len(counts) == 1:
        return word(next(iter(counts)))
    return ", ".join(f"{n} {word(text)}" for text, n in counts.items())


def steps_per_second(run: Any) -> float | None:
    """The run's recent speed, over its last 50 recorded steps; None with fewer than two."""
    n = len(run)
    if n < 2:
        return None
    first = max(0, n - 50)
    steps = run.step.data[n - 1] - run.step.data[first]
    seconds = run.time.data[n - 1] - run.time.data[first]
    return float(steps / seconds) if seconds > 0 else None
