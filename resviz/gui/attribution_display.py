"""The attribution panel's display settings: sign, outlier clipping, colour map and overlay.

Changing them re-renders the maps the grid keeps; nothing is computed again.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QSlider, QWidget

from ..attribution.render import SIGNS
from ..colours import list_colormaps
from ..errors import ResvizError
from .attribution_drawing import DrawSettings


class DisplaySettingsBox(QGroupBox):
    """Signal: ``settings_changed(DrawSettings)`` on every change."""

    settings_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Display", parent)
        draw_form = QFormLayout(self)
        self.sign_box = QComboBox()
        self.sign_box.addItem("method default", None)
        for sign in SIGNS:
            self.sign_box.addItem(sign, sign)
        self.percentile_box = QDoubleSpinBox()
        self.percentile_box.setRange(0.0, 50.0)
        self.percentile_box.setSingleStep(0.5)
        self.percentile_box.setValue(1.0)
        self.percentile_box.setSuffix(" %")
        self.percentile_box.setToolTip("Clip the top percent of values as outliers, so they do not wash out the map")
        self.cmap_box = QComboBox()
        self.cmap_box.addItem("default", None)
        for name in list_colormaps():
            self.cmap_box.addItem(name, name)
        self.overlay_check = QCheckBox("overlay on the image")
        self.overlay_check.setChecked(True)
        self.alpha_slider = QSlider(Qt.Orientation.Horizontal)
        self.alpha_slider.setRange(0, 100)
        self.alpha_slider.setValue(70)
        self.alpha_slider.setToolTip("Overlay opacity")
        draw_form.addRow("sign", self.sign_box)
        draw_form.addRow("clip outliers", self.percentile_box)
        draw_form.addRow("colour map", self.cmap_box)
        draw_form.addRow(self.overlay_check)
        draw_form.addRow("opacity", self.alpha_slider)
        for signal in (self.sign_box.currentIndexChanged, self.cmap_box.currentIndexChanged,
                       self.percentile_box.valueChanged, self.overlay_check.toggled, self.alpha_slider.valueChanged):
            signal.connect(self._on_settings_changed)

    def set_display(self, *, sign: str | None = ..., clip_percentile: float | None = None, cmap: str | None = ...,
                    overlay: bool | None = None, alpha: float | None = None) -> None:
        """Change how maps are drawn (re-renders the kept maps; nothing is recomputed).

        ``sign``: None for each method's default, or positive / negative / absolute / all;
        ``cmap``: None for the sign's default, or a colour map name.
        """
        if sign is not ...:
            index = self.sign_box.findData(sign)
            if index < 0:
                raise ResvizError(f"sign {sign!r} is not one of positive, negative, absolute, all")
            self.sign_box.setCurrentIndex(index)
        if cmap is not ...:
            index = self.cmap_box.findData(cmap)
            if index < 0:
                raise ResvizError(f"unknown colour map {cmap!r}")
            self.cmap_box.setCurrentIndex(index)
        if clip_percentile is not None:
            self.percentile_box.setValue(float(clip_percentile))
        if overlay is not None:
            self.overlay_check.setChecked(bool(overlay))
        if alpha is not None:
            self.alpha_slider.setValue(int(round(float(alpha) * 100)))

    def draw_settings(self) -> DrawSettings:
        return DrawSettings(sign=self.sign_box.currentData(), clip_percentile=float(self.percentile_box.value()),
                            cmap=self.cmap_box.currentData(), overlay=self.overlay_check.isChecked(),
                            alpha=self.alpha_slider.value() / 100.0)

    def _on_settings_changed(self, *args) -> None:
        self.alpha_slider.setEnabled(self.overlay_check.isChecked())
        self.settings_changed.emit(self.draw_settings())
