"""The "Explain" box of the attribution panel: which class is explained, and the Grad-CAM layer.

Both controls write to the ``AttributionRequest`` and follow it (a click in the architecture
view sets the request's layer, and the box shows it).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QCompleter, QFormLayout, QGroupBox, QLabel, QWidget

from ..attribution.methods import get_method
from ..views.attribution import AttributionRequest


class ExplainBox(QGroupBox):
    def __init__(self, request: AttributionRequest, parent: QWidget | None = None) -> None:
        super().__init__("Explain", parent)
        self.request = request
        form = QFormLayout(self)
        self.target_box = QComboBox()
        self.target_box.addItem("predicted class", None)
        self.target_box.addItem("true label", "label")
        self.target_box.currentIndexChanged.connect(
            lambda index: setattr(self.request, "target", self.target_box.itemData(index)))
        self.layer_box = QComboBox()
        self.layer_box.setEditable(True)
        self.layer_box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.layer_box.lineEdit().setPlaceholderText("default: last spatial layer")
        self.layer_box.setToolTip("The Grad-CAM layer (a module qualified name); click a box in the architecture view")
        self.layer_box.currentTextChanged.connect(lambda text: setattr(self.request, "layer", text))
        self.layer_hint = QLabel("Tip: click a box in the Architecture tab to explain its layer.")
        self.layer_hint.setObjectName("hint")
        self.layer_hint.setWordWrap(True)
        form.addRow("class", self.target_box)
        form.addRow("Grad-CAM layer", self.layer_box)
        form.addRow(self.layer_hint)
        request.events.target.connect(self._show_target)
        request.events.layer.connect(self._show_layer)
        request.events.methods.connect(self._show_methods)
        self._show_methods(request.methods)
        self._show_target(request.target)
        self._show_layer(request.layer)

    def fill_layers(self, names: list[str]) -> None:
        """Offer these layers (those of the model that Grad-CAM can use); a chosen layer the model
        lacks goes back to the default."""
        current = self.request.layer
        self.layer_box.blockSignals(True)
        self.layer_box.clear()
        self.layer_box.addItem("")
        self.layer_box.addItems(names)
        completer = QCompleter(names, self.layer_box)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.layer_box.setCompleter(completer)
        self.layer_box.setEditText(current if current in names else "")
        self.layer_box.blockSignals(False)
        self.request.layer = self.layer_box.currentText()

    def layer_names(self) -> list[str]:
        return [self.layer_box.itemText(i) for i in range(1, self.layer_box.count())]

    def _show_methods(self, methods: tuple[str, ...]) -> None:
        """The layer matters only to the methods that explain a layer (Grad-CAM, Guided Grad-CAM)."""
        needed = any(get_method(name).needs_layer for name in methods)
        self.layer_box.setEnabled(needed)
        self.layer_hint.setEnabled(needed)

    def _show_layer(self, name: str) -> None:
        if self.layer_box.currentText().strip() != name:
            self.layer_box.blockSignals(True)
            self.layer_box.setEditText(name)
            self.layer_box.blockSignals(False)

    def _show_target(self, target: str | None) -> None:
        self.target_box.blockSignals(True)
        self.target_box.setCurrentIndex(self.target_box.findData(target))
        self.target_box.blockSignals(False)
