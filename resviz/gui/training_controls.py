"""The bar above the training figures: start, pause, resume and stop, and the run's settings.

It holds no training state: buttons ask the window's host, and ``show_state`` reflects what
the host reports.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSpinBox,
    QStyle,
    QToolButton,
    QWidget,
    QWidgetAction,
)

from .fitting import FlowLayout, group
from .theme import STATUS_COLOURS

DATASETS = (("shapes (synthetic, offline)", "shapes"), ("MNIST", "mnist"), ("Fashion-MNIST", "fashion"),
            ("CIFAR-10", "cifar10"), ("CIFAR-100", "cifar100"))
DEVICES = ("auto", "cpu", "cuda", "mps")
RECIPE = "recipe"  # the optimiser, rate and batch of the model's training recipe (resviz.models.recipes)
OPTIMIZERS = (RECIPE, "sgd", "adam")


class TrainingControls(QWidget):
    train_twins_clicked = Signal()
    train_one_clicked = Signal()
    pause_clicked = Signal()
    resume_clicked = Signal()
    stop_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        style = self.style()
        self.twins_button = QPushButton(style.standardIcon(QStyle.SP_MediaPlay), "Train twins")
        self.twins_button.setObjectName("trainTwinsButton")
        self.twins_button.setToolTip("Train the residual net and its plain twin side by side, from the same seed "
                                     "and data order (Ctrl+T)")
        self.one_button = QPushButton("Train this model")
        self.one_button.setToolTip("Train only the chosen model (Ctrl+Shift+T)")
        self.pause_button = QPushButton(style.standardIcon(QStyle.SP_MediaPause), "Pause")
        self.pause_button.setToolTip("Pause at the next step; press again to resume (Ctrl+P)")
        self.stop_button = QPushButton(style.standardIcon(QStyle.SP_MediaStop), "Stop")
        self.stop_button.setToolTip("Stop at the next step; everything recorded is kept (Ctrl+.)")
        self.dataset_box = QComboBox()
        for label, name in DATASETS:
            self.dataset_box.addItem(label, name)
        self.dataset_box.setToolTip("Training data; real data sets are read from the data folder or downloaded")
        self.epochs_box = QSpinBox(minimum=1, maximum=10_000, value=5)
        # 0 shows "recipe": the model's training recipe decides (the command line's default too).
        self.batch_box = QSpinBox(minimum=0, maximum=65_536, value=0)
        self.batch_box.setSpecialValueText(RECIPE)
        self.optimizer_box = QComboBox()
        self.optimizer_box.addItems(list(OPTIMIZERS))
        self.optimizer_box.setToolTip("recipe: the model's own (SGD with momentum for nets with norm layers, as in "
                                      "the ResNet paper; Adam for nets without, which SGD would make diverge)")
        self.lr_box = QDoubleSpinBox(decimals=4, minimum=0.0, maximum=10.0, value=0.0, singleStep=0.001)
        self.lr_box.setSpecialValueText(RECIPE)
        self._recipe_text = ""
        self.device_box = QComboBox()
        self.device_box.addItems(list(DEVICES))
        self.device_box.setToolTip("Where to train: auto picks CUDA, then MPS, then the CPU")
        # The settings live in a drop-down form; the bar shows their summary, so it stays narrow.
        form_widget = QWidget()
        form = QFormLayout(form_widget)
        form.addRow("Data set", self.dataset_box)
        form.addRow("Epochs", self.epochs_box)
        form.addRow("Batch size", self.batch_box)
        form.addRow("Optimiser", self.optimizer_box)
        form.addRow("Learning rate", self.lr_box)
        form.addRow("Device", self.device_box)
        menu = QMenu(self)
        action = QWidgetAction(menu)
        action.setDefaultWidget(form_widget)
        menu.addAction(action)
        self.settings_button = QToolButton()
        self.settings_button.setObjectName("trainingSettings")
        self.settings_button.setPopupMode(QToolButton.InstantPopup)
        self.settings_button.setMenu(menu)
        self.settings_button.setToolTip("Training settings")
        for box in (self.epochs_box, self.batch_box):
            box.valueChanged.connect(self._show_summary)
        self.lr_box.valueChanged.connect(self._show_summary)
        for box in (self.dataset_box, self.device_box, self.optimizer_box):
            box.currentIndexChanged.connect(self._show_summary)
        self.status_label = QLabel("ready")
        self.status_label.setObjectName("trainingStatus")
        # The bar wraps instead of widening the window (a 1024-pixel projector, large fonts).
        layout = FlowLayout(self, spacing=12)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.addWidget(group(self.twins_button, self.one_button, self.pause_button, self.stop_button, spacing=4))
        layout.addWidget(self.settings_button)
        layout.addWidget(self.status_label)
        self.twins_button.clicked.connect(self.train_twins_clicked)
        self.one_button.clicked.connect(self.train_one_clicked)
        self.pause_button.clicked.connect(self._pause_or_resume)
        self.stop_button.clicked.connect(self.stop_clicked)
        self._paused = False
        self._show_summary()
        self.show_state("idle")

    def show_recipe(self, text: str) -> None:
        """The open model's recipe, in words, for the settings' summary."""
        self._recipe_text = text
        self._show_summary()

    def _show_summary(self, *_args) -> None:
        values = self.settings()
        batch = values.get("batch_size") or RECIPE
        self.settings_button.setText(f"{values['dataset']} · {values['epochs']} epochs · batch {batch} ")
        optimiser = values.get("optimizer") or RECIPE
        rate = f"{values['lr']:g}" if values.get("lr") else RECIPE
        recipe = f"; the model's recipe: {self._recipe_text}" if self._recipe_text else ""
        self.settings_button.setToolTip(f"Training settings: {values['dataset']}, {values['epochs']} epochs, batch "
                                        f"{batch}, optimiser {optimiser} at learning rate {rate}, device "
                                        f"{values['device']}{recipe} (click to change)")

    def _pause_or_resume(self) -> None:
        (self.resume_clicked if self._paused else self.pause_clicked).emit()

    def show_state(self, state: str, text: str | None = None, *, can_twin: bool = True) -> None:
        """``state``: idle, starting, running, paused or stopping."""
        active = state in ("starting", "running", "paused", "stopping")
        self._paused = state == "paused"
        self.twins_button.setEnabled(not active and can_twin)
        self.one_button.setEnabled(not active)
        self.pause_button.setEnabled(state in ("running", "paused"))
        self.pause_button.setText("Resume" if self._paused else "Pause")
        self.pause_button.setIcon(self.style().standardIcon(QStyle.SP_MediaPlay if self._paused
                                                            else QStyle.SP_MediaPause))
        self.stop_button.setEnabled(state in ("starting", "running", "paused"))
        self.settings_button.setEnabled(not active)
        # A paused run says so on the page, in the paused colour, not only in the button's text.
        self.status_label.setStyleSheet(f"color: {STATUS_COLOURS['paused']}; font-weight: bold;"
                                        if self._paused else "")
        if text is not None:
            self.status_label.setText(text)

    def settings(self) -> dict[str, Any]:
        """The training settings chosen here (``TrainConfig`` field names; None: the model's recipe)."""
        optimizer = self.optimizer_box.currentText()
        return {"dataset": self.dataset_box.currentData(), "epochs": self.epochs_box.value(),
                "batch_size": self.batch_box.value() or None, "optimizer": None if optimizer == RECIPE else optimizer,
                "lr": self.lr_box.value() or None, "device": self.device_box.currentText()}

    def set_settings(self, values: dict[str, Any]) -> None:
        index = self.dataset_box.findData(values.get("dataset", "shapes"))
        if index >= 0:
            self.dataset_box.setCurrentIndex(index)
        for key, box in (("epochs", self.epochs_box), ("batch_size", self.batch_box)):
            if isinstance(values.get(key), int):
                box.setValue(values[key])
            elif key == "batch_size" and key in values and values[key] is None:
                box.setValue(0)
        optimizer = values.get("optimizer")
        self.optimizer_box.setCurrentText(optimizer if optimizer in OPTIMIZERS else RECIPE)
        if isinstance(values.get("lr"), (int, float)):
            self.lr_box.setValue(float(values["lr"]))
        elif "lr" in values:
            self.lr_box.setValue(0.0)
        if values.get("device") in DEVICES:
            self.device_box.setCurrentText(values["device"])
