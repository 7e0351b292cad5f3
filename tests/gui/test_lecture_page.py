"""The lecture page, driven as a lecturer would: from a cold start to the whole picture in at
most three clicks, on one dark page at 1280x720 with labels readable from the back of a hall."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QFontInfo

from resviz.gui.lecture_page import LECTURE_LEVEL
from resviz.gui.theme import PRESENTATION
from resviz.views.lecture import reach

MIN_LABEL_PX = 18


def page_rect(widget, page) -> QRect:
    return QRect(widget.mapTo(page, QPoint(0, 0)), widget.size())


@pytest.mark.timeout(240)
def test_cold_start_to_the_whole_picture_in_three_clicks(qtbot, make_window):
    window = make_window(open_default=True, tab="architecture")  # a cold launch opens the first tab
    window.resize(1280, 720)
    clicks = []

    def click(widget, pos=None) -> None:
        clicks.append(widget)
        qtbot.mouseClick(widget, Qt.LeftButton, pos=pos if pos is not None else widget.rect().center())

    qtbot.waitUntil(lambda: window.loaded is not None, timeout=30_000)
    window.max_steps = 4  # a short budget; the real default is timed by ``resviz bench lecture``
    bar = window.tabs.tabBar()
    lecture_index = window.tabs.indexOf(window.lecture)
    assert bar.tabText(lecture_index) == "Lecture"
    click(bar, bar.tabRect(lecture_index).center())
    page = window.lecture
    assert window.tabs.currentWidget() is page
    qtbot.waitUntil(lambda: page.train_button.isEnabled() and not page.pending and not page.is_busy(),
                    timeout=60_000)
    click(page.train_button)
    assert len(clicks) <= 3

    comparison = window.comparison
    qtbot.waitUntil(lambda: len(comparison) == 2 and all(len(run) >= 3 for run in comparison.ordered),
                    timeout=150_000)
    assert window.tabs.currentWidget() is page  # training from the page stays on the page
    qtbot.waitUntil(lambda: "first layer" in page.caption.text(), timeout=10_000)
    qtbot.waitUntil(lambda: page.architecture.gradient_levels() is not None, timeout=10_000)
    qtbot.waitUntil(lambda: window.host.state == "idle", timeout=120_000)

    # The difference is in the picture: the plain twin's first layer gets orders of magnitude
    # less of the last layer's gradient than the residual net's (seen: about 10^7 less).
    runs = {run.style.residual: run for run in comparison.ordered}
    step = comparison.step
    assert reach(runs[False], step) < reach(runs[True], step) / 100
    assert all(figure._last_key is not None for figure in page.figures)  # every figure drew a frame

    # The graphs: blocks level, repeats folded, coloured, each fitted whole into its pane.
    for view in page.architecture.views:
        assert view.level() == LECTURE_LEVEL and view.model.state.fold
        assert any(box.folded > 1 for box in view.layout_data.nodes.values())
        assert view.model.node_norms()  # coloured by gradient
        shown = view.canvas.mapFromScene(view.graph_scene.sceneRect()).boundingRect()
        assert view.canvas.viewport().rect().adjusted(-2, -2, 2, 2).contains(shown)
        # the legend sits beside the graphs, never over them
        assert not page_rect(view.canvas, page).intersects(page_rect(page.legend, page))
        assert not view.legend.isVisible() and not view.colour_bar.isVisible()
    assert page.legend.isVisible()

    # One dark page, labels readable from the back of a hall.
    assert page.heatmap.theme is PRESENTATION and page.heatmap.backgroundBrush().color().name() == "#000000"
    for label in (page.heading, page.caption, page.train_button):
        assert QFontInfo(label.font()).pixelSize() >= MIN_LABEL_PX, label.objectName()
    assert QFontInfo(PRESENTATION.font()).pixelSize() >= MIN_LABEL_PX  # the figures' axes and ticks
    assert window.errors == []


def test_f11_shows_the_lecture_page_and_esc_goes_back(qtbot, make_window):
    window = make_window(tab="training")
    window.presentation_action.trigger()
    assert window.tabs.currentWidget() is window.lecture
    assert window.caption.isVisible() and not window.lecture.caption.isVisible()  # one caption line
    window.update_caption()
    assert "Train twins" in window.caption.text()
    window.leave_presentation_action.trigger()
    assert window.tabs.currentWidget() is window.training_view and not window.lecture.caption.isHidden()


def test_presentation_mode_darkens_every_tab_and_greys_disabled_controls(qtbot, make_window):
    from PySide6.QtGui import QPalette
    from PySide6.QtWidgets import QApplication

    window = make_window(open_default=True, tab="architecture")
    tab = window.architecture
    qtbot.waitUntil(lambda: window.loaded is not None and not tab.pending and not tab.is_busy(), timeout=60_000)
    scenes = [view.graph_scene for view in tab.twins.views]
    assert all(scene.backgroundBrush().color().name() == "#ffffff" for scene in scenes)
    window.set_presentation(True)
    palette = QApplication.instance().palette()
    for role in (QPalette.ButtonText, QPalette.WindowText, QPalette.Text):
        assert palette.color(QPalette.Disabled, role) != palette.color(QPalette.Active, role)
    assert all(scene.backgroundBrush().color().name() == "#000000" for scene in scenes)
    lecture_scenes = [view.graph_scene for view in window.lecture.architecture.views]
    assert all(scene.backgroundBrush().color().name() == "#000000" for scene in lecture_scenes)
    grid = window.attribution.grid_view  # the attribution grid too, and its status line's font grows
    assert grid.grab().toImage().pixelColor(2, 2).name() == "#000000"
    status = window.attribution.status
    qtbot.waitUntil(lambda: status.font().pointSizeF() == QApplication.instance().font().pointSizeF(), timeout=2000)
    window.set_presentation(False)
    assert all(scene.backgroundBrush().color().name() == "#ffffff" for scene in scenes)
    assert grid.grab().toImage().pixelColor(2, 2).name() == "#ffffff"
