"""The timeline scrubber: play or pause a replay at a chosen speed, seek, or follow the newest step."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSlider, QStyle, QToolButton, QWidget

from ..views.timeline import Timeline


def speed_label(steps_per_second: float) -> str:
    return f"{steps_per_second:g} steps/s"


class TimelineBar(QWidget):
    """Widgets over a ``Timeline``: they show it and write to it, never hold the step themselves."""

    seeked = Signal(int)  # the user moved the scrubber

    def __init__(self, timeline: Timeline, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.timeline = timeline
        style = self.style()
        self.icons = {name: style.standardIcon(getattr(QStyle, f"SP_Media{name}"))
                      for name in ("SkipBackward", "Play", "Pause")}
        self.start_button = QToolButton()
        self.start_button.setIcon(self.icons["SkipBackward"])
        self.start_button.setToolTip("Go to the first step (Home)")
        self.play_button = QToolButton()
        self.play_button.setIcon(self.icons["Play"])
        self.play_button.setToolTip("Play or pause the replay (Space)")
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setToolTip("Scrub through the recorded steps")
        self.slider.setTracking(True)
        self.step_label = QLabel("no steps yet")
        self.step_label.setMinimumWidth(150)
        self.speed_box = QComboBox()
        self.speed_box.setToolTip("Replay speed")
        for speed in Timeline.SPEEDS:
            self.speed_box.addItem(speed_label(speed), speed)
        self.live_button = QToolButton(text="● Latest")
        self.live_button.setCheckable(True)
        self.live_button.setToolTip("Follow the newest step (End)")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        for widget in (self.start_button, self.play_button):
            layout.addWidget(widget)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.step_label)
        layout.addWidget(self.speed_box)
        layout.addWidget(self.live_button)

        self.start_button.clicked.connect(lambda: self.timeline.seek(self.timeline.first))
        self.play_button.clicked.connect(self.timeline.toggle_play)
        self.slider.valueChanged.connect(self._slider_moved)
        self.speed_box.currentIndexChanged.connect(self._speed_chosen)
        self.live_button.clicked.connect(self._live_clicked)
        self._updating = False
        self.timeline.changed.connect(self.sync)
        self.sync()

    def _slider_moved(self, value: int) -> None:
        if self._updating:
            return
        self.timeline.pause()
        self.timeline.seek(value)
        self.seeked.emit(value)

    def _speed_chosen(self, index: int) -> None:
        if not self._updating and index >= 0:
            self.timeline.set_speed(float(self.speed_box.itemData(index)))

    def _live_clicked(self) -> None:
        self.timeline.follow_latest()

    def sync(self) -> None:
        """Show the timeline's state (called whenever it changes)."""
        timeline = self.timeline
        self._updating = True
        try:
            empty = timeline.empty
            for widget in (self.slider, self.play_button, self.start_button, self.speed_box):
                widget.setEnabled(not empty)
            if not empty:
                self.slider.setRange(timeline.first, timeline.last)
                self.slider.setValue(timeline.step)
            self.play_button.setIcon(self.icons["Pause" if timeline.playing else "Play"])
            self.live_button.setChecked(timeline.following)
            speeds = [self.speed_box.itemData(i) for i in range(self.speed_box.count())]
            if timeline.speed in speeds:
                self.speed_box.setCurrentIndex(speeds.index(timeline.speed))
            if empty:
                self.step_label.setText("no steps yet")
            else:
                self.step_label.setText(f"step {timeline.step:,} / {timeline.last:,}")
        finally:
            self._updating = False

    def closeEvent(self, event) -> None:
        self.timeline.changed.disconnect(self.sync)
        super().closeEvent(event)
