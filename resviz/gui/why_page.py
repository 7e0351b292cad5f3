"""The "Why it trains" page: four lenses on the twins, side by side on shared scales.

Signal propagation needs no run (the family's twins at initialisation); the loss landscape, the
lesion study and the paths work on the runs the window shows (their latest checkpoints) and are
stored in each run file, so opening those runs later shows them again without recomputing. What
the page shows lives in the Qt-free ``WhyItTrains``; each panel draws it and runs its own worker.
"""

from __future__ import annotations

from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from ..views.run_comparison import RunComparison
from ..views.why_it_trains import WhyItTrains, family_of, why_runs
from .lens_landscape_panel import LandscapePanel
from .lens_lesion_panel import LesionPanel
from .lens_panel import LensPanel
from .lens_paths_panel import PathsPanel
from .lens_signal_panel import SignalPanel
from .theme import LIGHT, Theme


class WhyPage(QWidget):
    """The page over the window's ``comparison`` (its runs) and a ``WhyItTrains`` model."""

    def __init__(self, comparison: RunComparison, model: WhyItTrains | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("whyPage")
        self.comparison = comparison
        self.model = model or WhyItTrains()
        self.theme: Theme = LIGHT
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        self.intro = QLabel("Why residual networks train: the plain twin (vermillion) against the residual "
                            "twin (blue), each lens on one scale for both.")
        self.intro.setWordWrap(True)
        layout.addWidget(self.intro)
        grid = QGridLayout()
        layout.addLayout(grid, 1)
        self.signal = SignalPanel(self.model)
        self.landscape = LandscapePanel(self.model)
        self.lesion = LesionPanel(self.model)
        self.paths = PathsPanel(self.model)
        for index, panel in enumerate(self.panels):
            grid.addWidget(panel, index // 2, index % 2)
            panel.enlarge_toggled.connect(lambda lens, on: self.enlarge(lens if on else None))
        self.enlarged: str | None = None
        self._runs_stale = True
        self.apply_theme(self.theme)
        comparison.runs_changed.connect(self._on_runs_changed)

    @property
    def panels(self) -> list[LensPanel]:
        return [self.signal, self.landscape, self.lesion, self.paths]

    def enlarge(self, lens: str | None) -> None:
        """Show only ``lens``'s panel, over the whole page; None shows all four again."""
        self.enlarged = lens
        for panel in self.panels:
            alone = panel.lens == lens
            panel.setVisible(lens is None or alone)
            panel.enlarge_button.blockSignals(True)
            panel.enlarge_button.setChecked(alone)
            panel.enlarge_button.blockSignals(False)
            panel.enlarge_button.setText("All four lenses" if alone else "Enlarge")

    def _on_runs_changed(self, *args) -> None:
        self._runs_stale = True
        if self.isVisible():
            self.show_runs()

    def show_runs(self) -> None:
        """Show the window's runs: their stored lens results, and the family of their model."""
        self._runs_stale = False
        runs = why_runs(self.comparison.ordered)
        model_name = None
        for run in self.comparison.ordered:
            spec = getattr(getattr(run, "info", None), "model_spec", None)
            model_name = getattr(spec, "name", None) or model_name
        family = family_of(model_name)
        if family != self.model.family:
            self.model.set_family(family)
            self.signal.set_depths()
        if self.model.set_runs(runs):
            for panel in self.panels[1:]:
                panel.cancel()
                panel.redraw()
                if panel.lens in self.model.replayed:
                    panel.status.setText("Stored in the run file(s): shown without recomputing.")

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._runs_stale:
            self.show_runs()
        if self.model.signal_at() is None and not self.signal.is_busy():
            self.signal.compute()

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.setStyleSheet(f"QWidget#whyPage {{ background: {theme.background}; }}"
                           f"QWidget#whyPage QLabel {{ color: {theme.foreground}; }}" if theme.dark else "")
        for panel in self.panels:
            panel.apply_theme(theme)

    def export_targets(self) -> list[tuple[str, str]]:
        return [(f"Why it trains: {panel.title}", f"why_{panel.lens}") for panel in self.panels]

    def panel_by_slug(self, slug: str) -> LensPanel:
        return next(panel for panel in self.panels if f"why_{panel.lens}" == slug)

    def shutdown(self) -> None:
        for panel in self.panels:
            panel.shutdown()
