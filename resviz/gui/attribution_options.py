"""The option controls of the attribution methods, generated from each method's description.

One control per ``OptionField`` of an ``AttributionRequest``: a check box (true/false), a spin
box (numbers; "auto" at the bottom of the range for an optional value) or a list (choices).
Only the chosen methods' options are shown. A control writes to the request and follows it.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from ..views.attribution import AttributionRequest, OptionField

AUTO = "auto"


class MethodOptionsEditor(QWidget):
    """Controls for every method's options; ``control(method, name)`` is the one for an option."""

    def __init__(self, request: AttributionRequest, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from ..attribution import METHODS

        self.request = request
        self._controls: dict[tuple[str, str], QWidget] = {}
        self._groups: dict[str, QWidget] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for method, info in METHODS.items():
            fields = request.fields(method)
            if not fields:
                continue
            group = QWidget()
            form = QFormLayout(group)
            form.setContentsMargins(0, 2, 0, 2)
            heading = QLabel(f"<b>{info.title}</b>")
            form.addRow(heading)
            for option in fields:
                control = self._make_control(option)
                control.setToolTip(f"{info.title}: {option.help}" if option.help else info.title)
                self._controls[(method, option.name)] = control
                form.addRow(option.label, control)
            self._groups[method] = group
            layout.addWidget(group)
        request.events.options.connect(self._on_option)
        request.events.methods.connect(self._on_methods)
        self._on_methods(request.methods)

    def control(self, method: str, name: str) -> QWidget:
        return self._controls[(method, name)]

    def controls(self) -> dict[tuple[str, str], QWidget]:
        return dict(self._controls)

    def _make_control(self, option: OptionField) -> QWidget:
        value = self.request.option(option.method, option.name)
        if option.kind == "bool":
            control = QCheckBox()
            control.setChecked(bool(value))
            control.toggled.connect(lambda checked, o=option: self._write(o, bool(checked)))
        elif option.kind == "choice":
            control = QComboBox()
            control.addItems(list(option.choices))
            control.setCurrentText(str(value))
            control.currentTextChanged.connect(lambda text, o=option: self._write(o, text))
        elif option.kind == "float":
            control = QDoubleSpinBox()
            control.setDecimals(3)
            control.setSingleStep(0.05)
            control.setRange(-0.001 if option.optional else 0.0, 1e6)
            self._set_special(control, option)
            control.setValue(control.minimum() if value is None else float(value))
            control.valueChanged.connect(lambda v, o=option, c=control: self._write(o, self._read(c, o)))
        else:  # int and size: whole numbers of at least 1; 0 is "auto" when optional
            control = QSpinBox()
            control.setRange(0 if option.optional else 1, 100_000)
            self._set_special(control, option)
            control.setValue(control.minimum() if value is None else int(value))
            control.valueChanged.connect(lambda v, o=option, c=control: self._write(o, self._read(c, o)))
        return control

    @staticmethod
    def _set_special(control: QSpinBox | QDoubleSpinBox, option: OptionField) -> None:
        if option.optional:
            control.setSpecialValueText(AUTO)

    @staticmethod
    def _read(control: QSpinBox | QDoubleSpinBox, option: OptionField) -> Any:
        value = control.value()
        if option.optional and value == control.minimum():
            return None
        return float(value) if option.kind == "float" else int(value)

    def _write(self, option: OptionField, value: Any) -> None:
        self.request.set_option(option.method, option.name, value)

    def _on_option(self, method: str, name: str, value: Any) -> None:
        control = self._controls.get((method, name))
        if control is None:
            return
        control.blockSignals(True)
        try:
            if isinstance(control, QCheckBox):
                control.setChecked(bool(value))
            elif isinstance(control, QComboBox):
                control.setCurrentText(str(value))
            else:
                control.setValue(control.minimum() if value is None else value)
        finally:
            control.blockSignals(False)

    def _on_methods(self, methods: tuple[str, ...]) -> None:
        for method, group in self._groups.items():
            group.setVisible(method in methods)
