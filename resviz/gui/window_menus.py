"""The main window's actions and menus: every command with its shortcut, in one place.

Each action is added to the window too, so its shortcut works in full screen, where the menu
bar may be hidden. The actions become attributes of the window (``window.open_model_action``...).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow

TABS = ("architecture", "training", "attribution", "lecture", "why")


def make_action(window: QMainWindow, text: str, slot: Callable, shortcut: str | QKeySequence | None = None, *,
                tip: str = "", checkable: bool = False) -> QAction:
    action = QAction(text, window)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    if tip:
        action.setStatusTip(tip)
        action.setToolTip(tip)
    action.setCheckable(checkable)
    action.triggered.connect(slot)
    window.addAction(action)  # shortcuts work in full screen, where menus may be hidden
    return action


def build_actions(window: QMainWindow) -> None:
    """Create the window's actions (its attributes ``*_action`` and ``preset_actions``, ``tab_actions``)."""
    from ..presets import list_presets

    w = window

    def a(*args, **kwargs) -> QAction:
        return make_action(w, *args, **kwargs)

    w.open_model_action = a("&Open model…", w.show_model_picker, QKeySequence.Open,
                            tip="Choose a zoo model, your model file, or weights")
    w.open_run_action = a("Open &run file…", w.choose_run_file, "Ctrl+Shift+O",
                          tip="Replay a finished run, or follow one being written")
    w.default_action = a("Open the &default (ResNet-20 vs Plain-20, no norm layers)", w.open_default,
                         "Ctrl+Shift+D")
    w.export_action = a("&Export figure…", w.show_export_dialog, "Ctrl+E",
                        tip="Save a figure as PNG or SVG at a chosen size")
    w.quit_action = a("&Quit", w.close, QKeySequence.Quit)
    w.train_twins_action = a("Train &twins", w.train_twins, "Ctrl+T",
                             tip="Train the residual net and its plain twin from the same seed")
    w.train_one_action = a("Train this &model", w.train_one, "Ctrl+Shift+T")
    w.pause_action = a("&Pause / resume training", w.toggle_pause, "Ctrl+P")
    w.stop_action = a("&Stop training", w.stop_training, "Ctrl+.")
    w.preset_actions = [a(f"{preset.name}: {preset.title}",
                          lambda checked=False, name=preset.name: w.run_preset(name),
                          tip=preset.description.replace("\n", " "))
                        for preset in list_presets()]
    timeline = w.comparison.timeline
    w.play_action = a("Play / pause &replay", timeline.toggle_play, "Space")
    w.first_step_action = a("&First step", lambda: timeline.seek(timeline.first), "Home")
    w.latest_action = a("Follow the &latest step", timeline.follow_latest, "End")
    w.step_actions = [a(text, lambda checked=False, n=n: timeline.step_by(n), key) for text, n, key in (
        ("Step &back", -1, "Left"), ("Step &forward", 1, "Right"),
        ("Ten steps back", -10, "PgUp"), ("Ten steps forward", 10, "PgDown"))]
    # The replay keys act while a page that shows the timeline has focus, not in the graph's search field.
    w.replay_actions = [w.play_action, w.first_step_action, w.latest_action, *w.step_actions]
    for action in w.replay_actions:
        action.setShortcutContext(Qt.WidgetWithChildrenShortcut)
        w.training_view.addAction(action)
        w.lecture.addAction(action)
    w.tab_actions = [a(f"&{i + 1} {name.title()}", lambda checked=False, i=i: w.tabs.setCurrentIndex(i),
                       f"Ctrl+{i + 1}") for i, name in enumerate(TABS)]
    w.presentation_action = a("Presentation &mode", w.toggle_presentation, "F11", checkable=True,
                              tip="Full screen, large fonts, high contrast and a caption line")
    w.leave_presentation_action = a("Leave presentation mode", lambda: w.set_presentation(False), "Esc")
    w.leave_presentation_action.setEnabled(False)
    w.runs_panel_action = w.runs_dock.toggleViewAction()
    w.runs_panel_action.setShortcut(QKeySequence("Ctrl+R"))
    w.addAction(w.runs_panel_action)
    w.shortcuts_action = a("&Keyboard shortcuts", w.show_shortcuts, QKeySequence.HelpContents)
    w.about_action = a("&About resviz", w.show_about)


def build_menus(window: QMainWindow) -> None:
    """The menu bar: File, View, Run (with the seeds' experiments and replay) and Help."""
    w = window
    bar = w.menuBar()
    file_menu = bar.addMenu("&File")
    for action in (w.open_model_action, w.open_run_action, w.default_action):
        file_menu.addAction(action)
    file_menu.addSeparator()
    file_menu.addAction(w.export_action)
    file_menu.addSeparator()
    file_menu.addAction(w.quit_action)
    view_menu = bar.addMenu("&View")
    for action in w.tab_actions:
        view_menu.addAction(action)
    view_menu.addSeparator()
    view_menu.addAction(w.runs_panel_action)
    view_menu.addAction(w.presentation_action)
    run_menu = bar.addMenu("&Run")
    for action in (w.train_twins_action, w.train_one_action, w.pause_action, w.stop_action):
        run_menu.addAction(action)
    presets_menu = run_menu.addMenu("The seeds' &experiments")
    presets_menu.setToolTipsVisible(True)
    for action in w.preset_actions:
        presets_menu.addAction(action)
    run_menu.addSeparator()
    replay_menu = run_menu.addMenu("&Replay")
    for action in w.replay_actions:
        replay_menu.addAction(action)
    help_menu = bar.addMenu("&Help")
    help_menu.addAction(w.shortcuts_action)
    help_menu.addAction(w.about_action)
