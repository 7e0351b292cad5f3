"""The model picker: a zoo model with its options, a user's model file, weights, or a run file.

It only records the choice; the window loads it (asking for trust first when a file's code
would run). ``model_chosen(ModelChoice)`` or ``run_chosen(str)`` fires on OK.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..models import find_twin_pair, is_model_file, list_models, model_entry
from ..models.parts import ACTIVATIONS, INITS, NORMS
from ..models.user import split_reference
from ..views.model_choice import ModelChoice, picker_options
from ..views.run_data import DATA_FITTED_OPTIONS

# Options with a fixed set of values; the rest are typed by their defaults.
CHOICES: dict[str, tuple[str, ...]] = {"norm": NORMS, "activation": ACTIVATIONS, "init": INITS, "shortcut": ("A", "B")}
HIDDEN_OPTIONS = ("residual",)  # the twin check box covers it
MODEL_FILE_FILTERS = ("Model files (*.py *.onnx *.pt2);;Python (*.py);;ONNX (*.onnx);;torch.export programs (*.pt2);;"
                      "All files (*)")


def _browse_row(field: QLineEdit, parent: QWidget, title: str, filters: str) -> QHBoxLayout:
    row = QHBoxLayout()
    row.addWidget(field, 1)
    button = QPushButton("Browse…")
    row.addWidget(button)

    def browse() -> None:
        path, _ = QFileDialog.getOpenFileName(parent, title, field.text() or str(Path.cwd()), filters)
        if path:
            field.setText(path)

    button.clicked.connect(browse)
    return row


class OptionsForm(QWidget):
    """Editors for a zoo model's options, built from its defaults."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.form = QFormLayout(self)
        self.editors: dict[str, QWidget] = {}
        self.defaults: dict[str, Any] = {}
        self.fitted: dict[str, Any] = {}  # the data set's values of options training fits to it

    def show_model(self, name: str, values: dict[str, Any] | None = None, *, dataset: str | None = None) -> None:
        """Editors for ``name``'s options, showing ``values`` and, for the rest, the demo's choices
        and ``dataset``'s classes (``picker_options``)."""
        while self.form.rowCount():
            self.form.removeRow(0)
        self.editors.clear()
        self.defaults = {k: v for k, v in model_entry(name).defaults.items() if k not in HIDDEN_OPTIONS}
        shown = picker_options(name, dataset)
        self.fitted = {k: shown[k] for k in DATA_FITTED_OPTIONS if k in shown}
        values = {**shown, **(values or {})}
        for key, default in self.defaults.items():
            value = values.get(key, default)
            if key in CHOICES:
                editor = QComboBox()
                editor.addItems(list(CHOICES[key]))
                editor.setCurrentText(str(value))
            elif isinstance(default, bool):
                editor = QCheckBox()
                editor.setChecked(bool(value))
            elif isinstance(default, int):
                editor = QSpinBox(minimum=1, maximum=100_000)
                editor.setValue(int(value))
            elif isinstance(default, float):
                editor = QDoubleSpinBox(decimals=4, minimum=0.0, maximum=1e6)
                editor.setValue(float(value))
            else:
                editor = QLineEdit(str(value))
            editor.setObjectName(f"option_{key}")
            self.editors[key] = editor
            self.form.addRow(key.replace("_", " "), editor)

    def options(self) -> dict[str, Any]:
        """The options that differ from the model's defaults."""
        out: dict[str, Any] = {}
        for key, editor in self.editors.items():
            if isinstance(editor, QComboBox):
                value: Any = editor.currentText()
            elif isinstance(editor, QCheckBox):
                value = editor.isChecked()
            elif isinstance(editor, (QSpinBox, QDoubleSpinBox)):
                value = editor.value()
            else:
                value = editor.text()
            if key in self.fitted and value == self.fitted[key]:
                continue  # training fits it to the data set anyway; kept out, another data set still works
            if value != self.defaults[key]:
                out[key] = value
        return out


class ModelPicker(QDialog):
    model_chosen = Signal(object)  # ModelChoice
    run_chosen = Signal(str)  # path of a run file

    def __init__(self, current: ModelChoice | None = None, parent: QWidget | None = None, *,
                 runs_folder: str | Path = "runs", dataset: str | None = None) -> None:
        super().__init__(parent)
        self.dataset = dataset  # the data set training will use: the options show its classes
        self.setObjectName("modelPicker")
        self.setWindowTitle("Open a model")
        self.resize(860, 560)
        current = current or ModelChoice.embedded_default()
        self.tabs = QTabWidget()

        # The zoo: a list of models, their description and options.
        self.zoo_list = QListWidget()
        for name in list_models():
            entry = model_entry(name)
            item = QListWidgetItem(name)
            item.setData(Qt.UserRole, name)
            item.setToolTip(entry.description)
            self.zoo_list.addItem(item)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.options_form = OptionsForm()
        self.twin_box = QCheckBox("Compare with its twin (the same net with / without skips)")
        self.twin_box.setChecked(current.twin)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.addWidget(self.description)
        right_layout.addWidget(self.twin_box)
        right_layout.addWidget(self.options_form, 1)
        splitter = QSplitter()
        splitter.addWidget(self.zoo_list)
        splitter.addWidget(right)
        splitter.setSizes([260, 560])
        self.tabs.addTab(splitter, "Model zoo")

        # A user's file: path and factory; it runs only after the trust confirmation.
        file_page = QWidget()
        file_form = QFormLayout(file_page)
        self.file_field = QLineEdit()
        self.file_field.setPlaceholderText("path/to/model.py, model.onnx or model.pt2")
        self.factory_field = QLineEdit()
        self.factory_field.setPlaceholderText("build_model (or the nn.Module class name); empty: the only one")
        file_form.addRow("Model file:", _browse_row(self.file_field, self, "Model file", MODEL_FILE_FILTERS))
        file_form.addRow("Factory:", self.factory_field)
        note = QLabel("Loading a Python file runs its code, and loading a torch.export program (.pt2) can: you "
                      "will be shown its path and SHA-256 and asked to confirm before anything runs. An ONNX file "
                      "is read, never run (it is drawn, not trained). The factory applies to Python files only.")
        note.setWordWrap(True)
        file_form.addRow(note)
        if current.is_user_file:
            path, factory = split_reference(current.reference)
            self.file_field.setText(str(path))
            self.factory_field.setText(factory or "")
        self.tabs.addTab(file_page, "Your model file")

        # A run file: replayed (or followed while it is written).
        run_page = QWidget()
        run_form = QFormLayout(run_page)
        self.run_field = QLineEdit()
        self.run_field.setPlaceholderText(str(Path(runs_folder) / "NAME.resviz"))
        run_form.addRow("Run file:", _browse_row(self.run_field, self, "Run file", "resviz runs (*.resviz)"))
        run_note = QLabel("A finished run is replayed with a timeline; a run still being written (by this window, "
                          "'resviz train' or resviz.watch in a script) is followed live.")
        run_note.setWordWrap(True)
        run_form.addRow(run_note)
        self.tabs.addTab(run_page, "Run file")

        # Weights apply to the zoo model or the file.
        self.weights_field = QLineEdit(current.weights or "")
        self.weights_field.setPlaceholderText("optional: .safetensors or a state dict (read with weights_only=True)")
        weights_form = QFormLayout()
        weights_form.addRow("Checkpoint / weights:", _browse_row(self.weights_field, self, "Weights",
                                                                 "Weights (*.safetensors *.pt *.pth);;All files (*)"))
        buttons = QDialogButtonBox(QDialogButtonBox.Open | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        self.error_label = QLabel()
        self.error_label.setStyleSheet("color: #C62828")
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addLayout(weights_form)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)

        self.zoo_list.currentItemChanged.connect(self._model_selected)
        reference = current.reference if not current.is_user_file else "resnet20"
        matches = self.zoo_list.findItems(reference, Qt.MatchExactly)
        if matches:
            self.zoo_list.setCurrentItem(matches[0])
            self.options_form.show_model(reference, current.options, dataset=dataset)
        self.tabs.setCurrentIndex(1 if current.is_user_file else 0)
        self.setWindowModality(Qt.WindowModal)

    def select_zoo_model(self, name: str) -> None:
        matches = self.zoo_list.findItems(name, Qt.MatchExactly)
        if matches:
            self.tabs.setCurrentIndex(0)
            self.zoo_list.setCurrentItem(matches[0])

    def _model_selected(self, item: QListWidgetItem | None, _previous=None) -> None:
        if item is None:
            return
        name = item.data(Qt.UserRole)
        pair = find_twin_pair(name)
        twin = f" Its twin: <b>{pair.other}</b>." if pair else " It has no twin."
        self.description.setText(f"<b>{name}</b>: {model_entry(name).description}.{twin}")
        self.twin_box.setEnabled(pair is not None)
        self.options_form.show_model(name, dataset=self.dataset)

    def choice(self) -> ModelChoice | str:
        """What the dialog holds now: a ``ModelChoice``, or the path of a run file."""
        weights = self.weights_field.text().strip() or None
        page = self.tabs.currentIndex()
        if page == 0:
            item = self.zoo_list.currentItem()
            if item is None:
                raise ValueError("choose a model from the list")
            name = item.data(Qt.UserRole)
            twin = self.twin_box.isChecked() and find_twin_pair(name) is not None
            return ModelChoice(name, self.options_form.options(), twin, weights)
        if page == 1:
            path = self.file_field.text().strip()
            if not path:
                raise ValueError("choose a model file")
            factory = self.factory_field.text().strip() if not is_model_file(path) else ""
            return ModelChoice(f"{path}:{factory}" if factory else path, {}, False, weights)
        path = self.run_field.text().strip()
        if not path:
            raise ValueError("choose a run file")
        return path

    def _accept(self) -> None:
        try:
            choice = self.choice()
        except ValueError as exc:
            self.error_label.setText(str(exc))
            return
        self.accept()
        if isinstance(choice, str):
            self.run_chosen.emit(choice)
        else:
            self.model_chosen.emit(choice)
