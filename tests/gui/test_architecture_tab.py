"""The Architecture tab opens useful and stays as chosen: fitted, at a readable level with
repeats folded, and the user's level, folding and expansions kept across a model switch."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from resviz.views.model_choice import ModelChoice


def fitted(view) -> bool:
    shown = view.canvas.mapFromScene(view.graph_scene.sceneRect()).boundingRect()
    return view.canvas.viewport().rect().adjusted(-2, -2, 2, 2).contains(shown)


def folded(view) -> dict[str, int]:
    return {n: box.folded for n, box in view.layout_data.nodes.items() if box.folded > 1}


def test_opens_fitted_at_blocks_folded_and_keeps_the_choice_across_a_model_switch(qtbot, make_window):
    window = make_window(open_default=True, tab="architecture")
    tab = window.architecture
    qtbot.waitUntil(lambda: window.loaded is not None and not tab.pending and not tab.is_busy(), timeout=60_000)
    twins = tab.twins
    for view in twins.views:
        assert view.level() == "blocks" and view.fold_check.isChecked()
        assert folded(view) == {"layer1.0": 3, "layer2.1": 2, "layer3.1": 2}
        assert fitted(view)
    # A pane that changes size is fitted again, until the user zooms or pans it.
    window.resize(window.width() - 300, window.height() - 200)
    qtbot.waitUntil(lambda: all(fitted(view) for view in twins.views), timeout=5_000)
    view = twins.residual_view
    centre = QPointF(view.canvas.viewport().rect().center())
    wheel = QWheelEvent(centre, QPointF(view.canvas.viewport().mapToGlobal(centre.toPoint())), QPoint(0, 0),
                        QPoint(0, 480), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(view.canvas.viewport(), wheel)
    zoom = view.canvas.zoom()
    window.resize(window.width() + 200, window.height() + 100)
    qtbot.wait(50)
    assert view.canvas.zoom() == zoom  # the user's zoom stays

    # The user's choice: stages, one stage opened, unfolded.
    twins.residual_view.level_box.setCurrentText("stages")
    assert twins.residual_view.expand("layer2")
    twins.plain_view.fold_check.setChecked(False)
    with qtbot.waitSignal(tab.graph_ready, timeout=60_000):
        window.open_model_choice(ModelChoice("resnet32", {"norm": "none"}))  # the same family, deeper
    qtbot.waitUntil(lambda: not tab.is_busy(), timeout=60_000)
    for view in twins.views:
        assert view.level() == "stages" and view.level_box.currentText() == "stages"
        assert not view.fold_check.isChecked() and view.model.state.expanded == ("layer2",)
        assert "layer2.0" in view.node_ids() and "layer3" in view.node_ids()  # layer2 open, layer3 one box
    # Ticked again: applied at once.
    twins.residual_view.fold_check.setChecked(True)
    qtbot.waitUntil(lambda: all(view.layout_data is not None and view.model.drawn.shown.fold
                                for view in twins.views), timeout=10_000)
    assert folded(twins.residual_view).get("layer2.1") == 4


def test_the_legends_stay_beside_the_graph_and_apart_when_the_font_grows(qtbot, make_window, tmp_path):
    from resviz.benchmarks.synthetic import write_synthetic_run

    window = make_window(open_default=True, tab="architecture")
    tab = window.architecture
    qtbot.waitUntil(lambda: window.loaded is not None and not tab.pending and not tab.is_busy(), timeout=60_000)
    residual, plain = tmp_path / "runs" / "colours-residual.resviz", tmp_path / "runs" / "colours-plain.resviz"
    write_synthetic_run(residual, steps=20, residual=True, twin=plain)
    write_synthetic_run(plain, steps=20, residual=False, twin=residual)
    window.watch_run(residual)  # gradient colours: the colour bar shows under the legend
    window.tabs.setCurrentWidget(tab)

    def apart() -> bool:
        for view in tab.twins.views:
            canvas = view.canvas
            legend, bar = canvas.legend.geometry(), canvas.colour_bar.geometry()
            if canvas.colour_bar.isHidden() or legend.intersects(bar):
                return False
            if legend.left() < canvas.viewport().geometry().right() or bar.left() < canvas.viewport().geometry().right():
                return False  # over the graph
        return True

    qtbot.waitUntil(apart, timeout=10_000)
    window.set_presentation(True)  # the Lecture page shows; larger fonts; the legends placed again meanwhile  # larger fonts: larger legends, placed again
    qtbot.wait(200)
    window.tabs.setCurrentWidget(tab)
    qtbot.waitUntil(apart, timeout=5_000)
    window.set_presentation(False)
