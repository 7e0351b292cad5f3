"""The attribution panel: a grid of sample images × attribution methods, for a model or a run.

The window gives it a model (``set_model``) or a run file (``set_run``: the model of a
checkpoint, with the data set and normalisation it was trained on); the user picks samples of
the data set or image files, methods, the Grad-CAM layer (``set_layer``, connected to a click
in the architecture view) and how the maps are drawn. Computing runs in a worker thread with
progress and Cancel; drawing settings (sign, outlier percentile, colour map, overlay) re-render
the kept maps without computing again. The grid is painted by one function for the screen and
for the exported PNG, so the file shows what the panel shows.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ..attribution.grid import (
    GridResult,
    SampleSet,
    compute_grid,
    panel_source,
    resolve_sources,
    subset_samples,
)
from ..errors import ResvizError
from ..views.attribution import AttributionRequest
from .attribution_display import DisplaySettingsBox
from .attribution_drawing import DARK_GRID, LIGHT_GRID, DrawSettings
from .attribution_explain import ExplainBox
from .attribution_grid import IDLE_TEXT, AttributionGrid
from .attribution_options import MethodOptionsEditor
from .attribution_samples import SamplePicker
from .dialogs import announce_saved, ask_png_export
from .fitting import VerticalScrollArea
from .theme import Theme
from .workers_tasks import MODEL_LOCK, TaskThread, stop_all_tasks

POOL_SIZE = 24  # samples offered to pick from (balanced over the classes)


class AttributionPanel(QWidget):
    """Samples × methods attribution grid for the window's model or a run checkpoint.

    Signals: ``run_started()``, ``run_finished()`` (the grid is shown), ``run_failed(str)``,
    ``run_cancelled()``, ``samples_ready()`` (the sample pool is loaded), ``layer_changed(str)``,
    ``busy_changed(bool)``.
    """

    run_started = Signal()
    run_finished = Signal()
    run_failed = Signal(str)
    run_cancelled = Signal()
    samples_ready = Signal()
    layer_changed = Signal(str)
    busy_changed = Signal(bool)

    def __init__(self, request: AttributionRequest | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from ..attribution import METHODS

        self.request = request if request is not None else AttributionRequest()
        self._methods_info = METHODS
        self._model_sources: list[Any] = []  # ModelSource per model the window gave
        self._resolved: dict[tuple, Any] = {}  # ("model", i) / ("run", step) -> ModelSource
        self._pool_key: tuple = ("model", 0)  # the source whose input shape and data set the samples follow
        self._run_paths: list[Path] = []
        self._run_steps: list[list[int]] = []  # each run's checkpoint steps
        self._task: TaskThread | None = None
        self._task_kind = ""
        self._pending_run = False
        self._error: str | None = None
        self.grid_result: GridResult | None = None
        self._build_ui()
        events = self.request.events
        events.sources.connect(self._show_sources)
        events.source.connect(self._show_source)
        events.methods.connect(self._show_methods)
        events.layer.connect(self._show_layer)
        self._show_sources()
        self._show_methods(self.request.methods)
        self._update_enabled()

    # construction ---------------------------------------------------------------------------

    def _build_ui(self) -> None:

        controls = QWidget()
        column = QVBoxLayout(controls)
        column.setContentsMargins(6, 6, 6, 6)

        model_box = QGroupBox("Model")
        model_form = QFormLayout(model_box)
        self.model_label = QLabel("none")
        self.model_label.setWordWrap(True)
        self.source_box = QComboBox()
        self.source_box.setToolTip("Which model to explain: one of the window's models, all side by side, "
                                   "a checkpoint of the run, or checkpoints across its training")
        self.source_box.currentIndexChanged.connect(self._on_source_chosen)
        model_form.addRow("model", self.model_label)
        model_form.addRow("explain", self.source_box)
        column.addWidget(model_box)

        self.samples_box = SamplePicker(self.request)
        self.samples_box.dataset_chosen.connect(self.set_dataset)
        self.samples_box.add_files_clicked.connect(self._on_add_file)
        self.sample_list, self.dataset_box = self.samples_box.sample_list, self.samples_box.dataset_box
        column.addWidget(self.samples_box)

        methods_box = QGroupBox("Methods")
        methods_grid = QGridLayout(methods_box)
        self.method_checks: dict[str, QCheckBox] = {}
        for i, (name, info) in enumerate(self._methods_info.items()):
            check = QCheckBox(info.title)
            check.setToolTip(info.description)
            check.toggled.connect(lambda used, name=name: self.request.use_method(name, used))
            self.method_checks[name] = check
            methods_grid.addWidget(check, i // 2, i % 2)
        self.options_editor = MethodOptionsEditor(self.request)  # from each method's description
        methods_grid.addWidget(self.options_editor, (len(self._methods_info) + 1) // 2, 0, 1, 2)
        column.addWidget(methods_box)

        self.explain_box = ExplainBox(self.request)
        self.target_box, self.layer_box = self.explain_box.target_box, self.explain_box.layer_box
        column.addWidget(self.explain_box)

        self.display_box = DisplaySettingsBox()
        self.display_box.settings_changed.connect(self._on_display_changed)
        column.addWidget(self.display_box)
        column.addStretch(1)

        scroll = VerticalScrollArea(controls)  # as wide as the controls need, in either theme

        self.grid_view = AttributionGrid()
        self.run_button = QPushButton("Explain")
        self.run_button.setDefault(True)
        self.run_button.setToolTip("Compute the chosen methods on the chosen samples")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.export_button = QPushButton("Export PNG…")
        self.export_button.clicked.connect(self._on_export_clicked)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.status = QLabel("")
        self._status_error = False
        self._colours = LIGHT_GRID
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bar = QHBoxLayout()
        bar.addWidget(self.run_button)
        bar.addWidget(self.cancel_button)
        bar.addWidget(self.progress, 1)
        bar.addWidget(self.export_button)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(4, 4, 4, 4)
        right_layout.addLayout(bar)
        right_layout.addWidget(self.status)
        right_layout.addWidget(self.grid_view, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(scroll)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([330, 900])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

    # sources --------------------------------------------------------------------------------

    def set_model(self, model, input_shape: Sequence[int] | None = None, title: str = "", *,
                  dataset: str | None = None, classes: Sequence[str] = (), mean: Sequence[float] | None = None,
                  std: Sequence[float] | None = None) -> None:
        """Explain ``model``, whose inputs are ``input_shape`` (C, H, W) (default: its ``input_shape``).

        ``dataset`` (default: the panel's choice, shapes at first) gives the samples; ``mean``/``std``
        the input normalisation when the model was trained with one.
        """
        self.set_models({title or type(model).__name__: model}, input_shape, dataset=dataset, classes=classes,
                        mean=mean, std=std)

    def set_models(self, models: Mapping[str, Any], input_shape: Sequence[int] | None = None, *,
                   dataset: str | None = None, classes: Sequence[str] = (), mean: Sequence[float] | None = None,
                   std: Sequence[float] | None = None) -> None:
        """Explain one of several models (by label), or all side by side (e.g. a residual net and
        its plain twin, one column per model and method). They must take the same input shape."""
        if not models:
            raise ResvizError("attribution panel: no model given")
        sources = []
        for label, model in models.items():
            shape = tuple(input_shape) if input_shape is not None else getattr(model, "input_shape", None)
            if shape is None or len(shape) != 3:
                raise ResvizError(f"{label}: give the input shape (C, H, W); the model declares none")
            sources.append(panel_source(model, str(label), shape, dataset or self.request.dataset, classes, mean, std))
        shapes = {tuple(s.input_shape) for s in sources}
        if len(shapes) > 1:
            raise ResvizError("attribution panel: the models take different input shapes "
                              + ", ".join("x".join(map(str, sh)) for sh in sorted(shapes)))
        self.cancel()
        if dataset:
            self.request.dataset = dataset
        self._run_paths, self._run_steps = [], []
        self._model_sources = sources
        self._resolved = {("model", i): src for i, src in enumerate(sources)}
        self._pool_key = ("model", 0)
        self.request.model_source_choices([src.label for src in sources])
        self.source_box.setEnabled(len(sources) > 1)
        self.model_label.setText(html.escape(", ".join(src.label for src in sources)))
        self._clear_grid()
        self._load_pool()

    def set_run(self, path: str | os.PathLike, step: int | None = None) -> None:
        """Explain the model of a run file at checkpoint ``step`` (latest when None), on the data set
        and with the normalisation it was trained with; "across training" compares checkpoints."""
        self.set_runs([path], step)

    def set_runs(self, paths: Sequence[str | os.PathLike], step: int | None = None) -> None:
        """Explain the models of run files (the trained twins, or any runs on one data set) side by
        side on the same samples, each at its newest checkpoint; one run: at ``step`` (newest when None)."""
        from ..attribution.sources import open_run_reader

        paths = [Path(p) for p in paths]
        if not paths:
            raise ResvizError("attribution panel: no run given")
        names, all_steps, datasets = [], [], set()
        for path in paths:
            with open_run_reader(path) as reader:
                info = reader.info()
                steps = [c.step for c in reader.checkpoints()]
            if not steps:
                raise ResvizError(f"run file {path} has no checkpoint to explain")
            names.append(info.model_spec.name if info.model_spec else info.name)
            all_steps.append(steps)
            datasets.add((info.config or {}).get("dataset") or "shapes")
        if len(datasets) > 1:
            raise ResvizError("attribution panel: the runs were trained on different data sets "
                              f"({', '.join(sorted(datasets))}); explain them one at a time")
        chosen = all_steps[0][-1] if step is None else int(step)
        if chosen not in all_steps[0]:
            raise ResvizError(f"run file {paths[0]} has no checkpoint at step {chosen}; it has "
                              f"{', '.join(map(str, all_steps[0][-6:]))}")
        self.cancel()
        self._run_paths, self._run_steps = paths, all_steps
        self._model_sources = []
        self._resolved = {}
        self._pool_key = ("run", 0, chosen)
        self.request.run_source_choices(list(zip(names, all_steps)), chosen)
        self.source_box.setEnabled(True)
        self.request.dataset = datasets.pop()
        self.model_label.setText(html.escape(", ".join(f"{name} ({path.name})" for name, path in zip(names, paths))))
        self._clear_grid()
        self._load_pool()

    def _on_source_chosen(self, index: int) -> None:
        if index >= 0:
            self.request.source = self.source_box.itemData(index)

    def _show_sources(self) -> None:
        self.source_box.blockSignals(True)
        self.source_box.clear()
        for key, label in self.request.source_choices:
            self.source_box.addItem(label, key)
        self.source_box.setCurrentIndex(self.source_box.findData(self.request.source))
        self.source_box.blockSignals(False)

    def _show_source(self, key: str | None) -> None:
        self.source_box.blockSignals(True)
        self.source_box.setCurrentIndex(self.source_box.findData(key))
        self.source_box.blockSignals(False)
        self._clear_grid()

    def source_choices(self) -> list[str]:
        """The entries of the "explain" list (models, checkpoints, side by side, across training)."""
        return [self.source_box.itemText(i) for i in range(self.source_box.count())]

    def choose_source(self, text_or_index: str | int) -> None:
        """Pick an entry of ``source_choices()`` by its text or index."""
        index = text_or_index if isinstance(text_or_index, int) else self.source_box.findText(text_or_index)
        if not 0 <= index < self.source_box.count():
            raise ResvizError(f"attribution panel: no choice {text_or_index!r}; choices are "
                              f"{', '.join(self.source_choices())}")
        self.source_box.setCurrentIndex(index)

    def checkpoint(self) -> int | None:
        """The run checkpoint chosen, or None (no run, or across training)."""
        return self.request.checkpoint()

    @Slot(str)
    def set_layer(self, qualified_name: str) -> None:
        """The Grad-CAM layer by module qualified name ("" for the default: the last spatial layer)."""
        self.request.layer = qualified_name or ""

    def layer(self) -> str:
        return self.request.layer

    def _show_layer(self, name: str) -> None:
        self.layer_changed.emit(name)

    def set_dataset(self, name: str) -> None:
        """Take samples from another data set (its images are converted to the model's input)."""
        if name == self.request.dataset and self.samples_box.pool is not None:
            return
        self.request.dataset = name
        self.samples_box.set_pool(None)
        if self._model_sources or self._run_paths:
            self._load_pool()

    # samples --------------------------------------------------------------------------------

    def _load_pool(self) -> None:
        key, dataset, run_paths = self._pool_key, self.request.dataset, list(self._run_paths)
        resolved = dict(self._resolved)

        def job(progress, cancel):
            from ..attribution.sources import dataset_samples

            progress(0, 0, "Loading samples…")
            sources = resolve_sources([key], resolved, run_paths)
            source = sources[key]
            samples = dataset_samples(source, dataset if dataset != source.dataset else None, count=POOL_SIZE)
            return sources, SampleSet(samples, dataset), _layer_choices(source)

        self._start(job, "samples", self._on_pool_loaded)

    @Slot(object)
    def _on_pool_loaded(self, result) -> None:
        self._finish_task()
        sources, pool, layers = result
        self._resolved.update(sources)
        self.explain_box.fill_layers(layers)
        self.samples_box.set_pool(pool)
        self._set_status(f"{len(pool.samples.names)} samples of {pool.dataset}; pick some and press Explain.")
        self.samples_ready.emit()
        if self._pending_run:
            self._pending_run = False
            self.run()

    def sample_names(self) -> list[str]:
        return self.samples_box.sample_names()

    def selected_samples(self) -> list[int]:
        """Indices (into ``sample_names()``) of the samples that will be explained, in list order."""
        return list(self.request.samples)

    def select_samples(self, indices: Sequence[int]) -> None:
        self.request.samples = indices

    def add_image_files(self, paths: Sequence[str | os.PathLike]) -> None:
        """Add image files to the samples (first in the list, selected); converted to the model's input."""
        from ..attribution.sources import file_samples

        source = self._resolved.get(self._pool_key)
        if source is None:
            raise ResvizError("attribution panel: choose a model before adding images")
        added = file_samples(source, [str(p) for p in paths])
        self.samples_box.add_files(added)
        if added.notes:
            self._set_status("; ".join(added.notes))

    def _on_add_file(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Explain image files", "",
                                                "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp)")
        if paths:
            try:
                self.add_image_files(paths)
            except ResvizError as error:
                self._set_status(str(error), error=True)

    # methods and settings -------------------------------------------------------------------

    def methods(self) -> list[str]:
        return list(self.request.methods)

    def set_methods(self, names: Sequence[str]) -> None:
        self.request.methods = names

    def _show_methods(self, methods: tuple[str, ...]) -> None:
        for name, check in self.method_checks.items():
            check.blockSignals(True)
            check.setChecked(name in methods)
            check.blockSignals(False)
        self._update_enabled()

    @property
    def ig_steps(self) -> QWidget:
        """The control of Integrated Gradients' steps along the path."""
        return self.options_editor.control("integrated_gradients", "n_steps")

    @property
    def nt_samples(self) -> QWidget:
        """The control of SmoothGrad's noisy samples per input."""
        return self.options_editor.control("smoothgrad", "nt_samples")

    def set_display(self, **settings) -> None:
        """Change how maps are drawn (re-renders the kept maps; nothing is recomputed); see
        ``DisplaySettingsBox.set_display``."""
        self.display_box.set_display(**settings)

    def draw_settings(self) -> DrawSettings:
        return self.display_box.draw_settings()

    def _on_display_changed(self, settings: DrawSettings) -> None:
        self.grid_view.set_settings(settings)

    # computing ------------------------------------------------------------------------------

    def run(self) -> bool:
        """Compute the grid in a worker (progress and Cancel beside the buttons); False if it cannot start."""
        request = self.request
        if self._task is not None and self._task_kind == "samples":
            self._pending_run = True  # run as soon as the samples are there
            return True
        if self._task is not None:
            return False
        samples = self.samples_box.all_samples()
        problem = request.problem()
        if problem is None and samples is None:
            problem = "Pick at least one sample."
        if problem is not None:
            self._set_status(problem, error=True)
            return False
        chosen = subset_samples(samples, request.samples)
        target = request.target
        if target == "label":
            if chosen.labels is None:
                self._set_status("The true label is unknown for image files; explain the predicted class.", error=True)
                return False
            target = [int(v) for v in chosen.labels]
        methods, layer, options = list(request.methods), request.layer, request.method_options()
        keys = self.request.source_keys(len(self._model_sources), self._run_steps)
        resolved, run_paths = dict(self._resolved), list(self._run_paths)

        def job(progress, cancel):
            sources = resolve_sources(keys, resolved, run_paths, progress, cancel)
            with MODEL_LOCK:
                grid = compute_grid([sources[k] for k in keys], chosen, methods, target=target, layer=layer,
                                    method_options=options, cancel=cancel,
                                    progress=lambda f: progress(int(round(f * 1000)), 1000, ""))
            return sources, grid

        self._start(job, "explain", self._on_grid_ready)
        self.run_started.emit()
        return True

    def _start(self, function, kind: str, on_done: Callable[[Any], None]) -> None:
        self.cancel()
        task = TaskThread(function, f"attribution-{kind}", owner=self)
        task.progressed.connect(self._on_progress)
        task.succeeded.connect(on_done)
        task.failed.connect(self._on_failed)
        task.cancelled.connect(self._on_cancelled)
        self._task, self._task_kind = task, kind
        self._error = None
        self.progress.setRange(0, 0 if kind == "samples" else 1000)
        self.progress.setValue(0)
        self._set_status("Loading samples…" if kind == "samples" else "Computing…")
        self.grid_view.set_placeholder("Loading samples…" if kind == "samples" else
                                       "Computing the maps… (progress below; Cancel stops)")
        self._update_enabled()
        self.busy_changed.emit(True)
        task.start_task()

    def is_busy(self) -> bool:
        return self._task is not None

    def cancel(self) -> None:
        """Stop the computation before its next forward pass; the grid shown so far stays."""
        task, kind, self._task = self._task, self._task_kind, None
        self._pending_run = False
        if task is None:
            return
        task.cancel()
        for signal in (task.progressed, task.succeeded, task.failed, task.cancelled):
            signal.disconnect()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.grid_view.set_placeholder(IDLE_TEXT)
        self._set_status("Cancelled.")
        self._update_enabled()
        self.busy_changed.emit(False)
        if kind == "explain":
            self.run_cancelled.emit()

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Cancel any work and wait for its threads to end (the window calls it before closing)."""
        self.cancel()
        stop_all_tasks(timeout_ms, owner=self)

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)

    @Slot(int, int, str)
    def _on_progress(self, done: int, total: int, text: str) -> None:
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
        if text:
            self._set_status(text)

    def _finish_task(self) -> str:
        kind, self._task = self._task_kind, None
        self.grid_view.set_placeholder(IDLE_TEXT)
        self.progress.setRange(0, 1000)
        self._update_enabled()
        self.busy_changed.emit(False)
        return kind

    @Slot(object)
    def _on_grid_ready(self, result) -> None:
        self._finish_task()
        sources, grid = result
        self._resolved.update(sources)
        self.grid_result = grid
        self._update_enabled()
        self.progress.setValue(1000)
        self.grid_view.set_settings(self.draw_settings())
        self.grid_view.set_grid(grid)
        failed = [c for c in grid.columns if c.error]
        timing = ", ".join(f"{c.label} {c.seconds:.2f} s" for c in grid.columns if c.error is None)
        text = timing
        if failed:
            text += ("; " if text else "") + "; ".join(f"{c.label}: {c.error}" for c in failed)
        if grid.notes:
            text += " — " + "; ".join(grid.notes[:3])
        self._set_status(text, error=bool(failed))
        self.run_finished.emit()

    @Slot(str, str)
    def _on_failed(self, message: str, details: str) -> None:
        kind = self._finish_task()
        self._pending_run = False
        self._error = message
        self._set_status(message, error=True)
        if kind == "explain" or kind == "samples":
            self.run_failed.emit(message)

    @Slot()
    def _on_cancelled(self) -> None:
        kind = self._finish_task()
        self._set_status("Cancelled.")
        if kind == "explain":
            self.run_cancelled.emit()

    @property
    def error(self) -> str | None:
        return self._error

    def apply_theme(self, theme: Theme) -> None:
        """The window's theme: the grid dark around its maps in the presentation theme, and the
        status line in that theme's colours."""
        self._colours = DARK_GRID if theme.dark else LIGHT_GRID
        self.grid_view.set_theme(theme)
        self._set_status(self.status.text(), self._status_error)

    def _set_status(self, text: str, error: bool = False) -> None:
        self._status_error = error
        self.status.setText(text)
        # A palette, not a style sheet: a widget with its own style sheet keeps its font when the
        # presentation theme enlarges the application's.
        palette = self.status.palette()
        palette.setColor(QPalette.ColorRole.WindowText, QColor(self._colours.error if error else self._colours.muted))
        self.status.setPalette(palette)

    def _update_enabled(self) -> None:
        busy = self._task is not None
        self.cancel_button.setEnabled(busy)
        self.run_button.setEnabled(not busy and bool(self.methods()))
        self.export_button.setEnabled(self.grid_result is not None)

    def _clear_grid(self) -> None:
        self.grid_result = None
        self.grid_view.set_grid(None)
        self._update_enabled()

    # export ---------------------------------------------------------------------------------

    def export_png(self, path: str | os.PathLike, cell: int = 160) -> Path:
        """Save the grid as shown (titles, labels, legend) with ``cell``-pixel images."""
        return self.grid_view.export_png(path, cell)

    def _on_export_clicked(self) -> None:
        if self.grid_result is None:
            return
        self.replace_question = ask_png_export(self, "Export the attribution grid", "attribution.png", self._save_png)

    def _save_png(self, path: Path) -> None:
        try:
            saved = self.export_png(path)
        except ResvizError as error:
            self._set_status(str(error), error=True)
            return
        self._set_status(announce_saved(self, [saved]))


def _layer_choices(source) -> list[str]:
    """The layers Grad-CAM can use in the source's model (one probe pass, in the worker); every
    named module when the probe cannot run, so the list is never empty for a reason the user cannot see."""
    from ..attribution.layer_choice import grad_cam_layers

    try:
        with MODEL_LOCK:
            return grad_cam_layers(source.model, tuple(source.input_shape))
    except Exception:  # noqa: BLE001 - the explanation itself reports why the model cannot run
        return [name for name, _ in source.model.named_modules() if name]
