"""Switching the window into presentation mode and back: full screen, large fonts, the
high-contrast theme and the caption line, then the window as it was."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication, QMainWindow

from .theme import LIGHT, PRESENTATION, apply_application_theme

FONT_SCALE = 1.5  # presentation fonts, relative to the user's


class PresentationMode:
    """Remembers what presentation mode changes (font size, runs panel, geometry) to restore it."""

    def __init__(self, window: QMainWindow) -> None:
        self.window = window
        self._normal_font_size: float | None = None
        self._dock_was_visible = True
        self._normal_geometry = None
        self._normal_tab: int | None = None

    def set(self, on: bool) -> None:
        window = self.window
        if on == window.presenting:
            window.presentation_action.setChecked(on)
            return
        window.presenting = on
        window.presentation_action.setChecked(on)
        window.leave_presentation_action.setEnabled(on)
        window.theme = PRESENTATION if on else LIGHT
        app = QApplication.instance()
        if on:
            self._normal_font_size = app.font().pointSizeF()
            self._dock_was_visible = window.runs_dock.isVisible()
            self._normal_geometry = window.geometry()
            apply_application_theme(app, window.theme, base_font_size=self._normal_font_size * FONT_SCALE)
            window.runs_dock.hide()
            window.statusBar().hide()
            screen = window.screen() or QApplication.primaryScreen()
            if screen is not None:
                window.setGeometry(screen.geometry())  # full screen with or without a window manager
            window.showFullScreen()
            self._normal_tab = window.tabs.currentIndex()
            window.tabs.setCurrentWidget(window.lecture)  # the whole story on one page
        else:
            apply_application_theme(app, window.theme, base_font_size=self._normal_font_size)
            if self._dock_was_visible:
                window.runs_dock.show()
            window.statusBar().show()
            window.showNormal()
            if self._normal_geometry is not None:
                window.setGeometry(self._normal_geometry)
            if self._normal_tab is not None and window.tabs.currentWidget() is window.lecture:
                window.tabs.setCurrentIndex(self._normal_tab)  # back where the lecturer was, unless they moved
            self._normal_tab = None
        window.fix_label_sizes(app.font())
        window.caption.style_for(window.theme)
        window.caption.setVisible(on)
        window.lecture.caption.setVisible(not on)  # the window's caption line says it, editable
        window.training_view.set_presentation_layout(on)
        window.training_view.apply_theme(window.theme)
        window.architecture.apply_theme(window.theme)
        apply_theme = getattr(window.attribution, "apply_theme", None)
        if callable(apply_theme):  # a placeholder label when the panel could not start
            apply_theme(window.theme)
        window.why.apply_theme(window.theme)
        window.update_caption()
