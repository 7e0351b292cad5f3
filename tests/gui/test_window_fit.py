"""The window fits a projector: at most 1024×700 is needed in either theme, and at 1024×700
no title, label or button text is cut off, and no figure draws past its edge."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QAbstractButton, QApplication, QCheckBox, QLabel, QStyle, QWidget

from resviz.benchmarks.synthetic import write_synthetic_run
from resviz.gui.fitting import ElidedLabel, FlowLayout

SMALL = (1024, 700)


def write_twins(folder: Path) -> Path:
    residual, plain = folder / "fit-residual.resviz", folder / "fit-plain.resviz"
    write_synthetic_run(residual, steps=120, residual=True, twin=plain)
    write_synthetic_run(plain, steps=120, residual=False, twin=residual)
    return residual


def settle(qtbot) -> None:
    for _ in range(3):
        QApplication.processEvents()
        qtbot.wait(30)


def fits(size, limit=SMALL) -> bool:
    return size.width() <= limit[0] and size.height() <= limit[1]


def cut_texts(root: QWidget) -> list[str]:
    """The texts of visible one-line labels and buttons under ``root`` wider than their widget."""
    cut = []
    for widget in root.findChildren(QWidget):
        if not widget.isVisible() or isinstance(widget, ElidedLabel):
            continue
        if isinstance(widget, QLabel) and not widget.wordWrap() and widget.textFormat() != 1:
            text, room = widget.text(), widget.contentsRect().width()
        elif isinstance(widget, QAbstractButton) and widget.text():
            text = widget.text().replace("&", "")
            style = widget.style()
            if isinstance(widget, QCheckBox):
                extra = (style.pixelMetric(QStyle.PM_IndicatorWidth, None, widget)
                         + style.pixelMetric(QStyle.PM_CheckBoxLabelSpacing, None, widget))
            else:
                extra = 2 * style.pixelMetric(QStyle.PM_ButtonMargin, None, widget)
                extra += 0 if widget.icon().isNull() else widget.iconSize().width() + 4
            room = widget.width() - extra
        else:
            continue
        if "<" in text or "\n" in text:
            continue  # rich text: measured by its document, not here
        if widget.fontMetrics().horizontalAdvance(text) > room + 1:
            cut.append(f"{type(widget).__name__} {text!r}: {widget.fontMetrics().horizontalAdvance(text)} > {room}")
    return cut


def figures_past_their_edge(window) -> list[str]:
    """Figures whose plots reach past the figure's right edge (a matrix cut off, say)."""
    out = []
    for figure in window.training_view.figures:
        if not figure.isVisible():
            continue
        for item in figure.ci.items:
            if item.isVisible() and item.sceneBoundingRect().right() > figure.width() + 1:
                out.append(f"{figure.slug} {type(item).__name__}: {item.sceneBoundingRect().right():.0f} > {figure.width()}")
    return out


def test_every_tab_fits_1024_by_700_in_both_themes(qtbot, make_window, tmp_path):
    window = make_window(open_default=True, tab="architecture")
    qtbot.waitUntil(lambda: window.loaded is not None, timeout=30_000)
    window.open_run_file(write_twins(tmp_path / "runs"))
    qtbot.waitUntil(lambda: len(window.comparison) == 2, timeout=10_000)
    before = window.minimumSizeHint()
    for presenting in (False, True):
        window.set_presentation(presenting)
        settle(qtbot)
        assert fits(window.minimumSizeHint()), (presenting, window.minimumSizeHint())
        window.showNormal()
        window.resize(*SMALL)
        for index in range(window.tabs.count()):
            window.tabs.setCurrentIndex(index)
            tab = window.tabs.widget(index)
            assert fits(tab.minimumSizeHint()), (presenting, window.tabs.tabText(index), tab.minimumSizeHint())
            if tab is window.architecture:
                qtbot.waitUntil(lambda: not window.architecture.is_busy() and not window.architecture.pending,
                                timeout=60_000)
            settle(qtbot)
            assert window.width() <= SMALL[0]
            assert cut_texts(window) == [], (presenting, window.tabs.tabText(index))
            if tab is window.training_view:
                window.training_view.refresh(force=True)
                settle(qtbot)
                assert figures_past_their_edge(window) == [], presenting
        assert window.architecture.twins.plain_view.title_label.text() == "plain20"
    window.set_presentation(False)
    assert before.width() <= SMALL[0]


def test_a_flow_layout_wraps_instead_of_widening(qtbot):
    holder = QWidget()
    layout = FlowLayout(holder)
    layout.setContentsMargins(0, 0, 0, 0)
    buttons = [QLabel(f"control number {i}") for i in range(6)]
    for button in buttons:
        layout.addWidget(button)
    qtbot.addWidget(holder)
    widest = max(b.sizeHint().width() for b in buttons)
    assert layout.minimumSize().width() <= widest + 8  # one item per row at the least
    assert layout.heightForWidth(widest + 8) > 3 * layout.heightForWidth(10_000)  # rows stack when narrow
    holder.resize(widest + 8, layout.heightForWidth(widest + 8))
    holder.show()
    settle(qtbot)
    assert all(b.geometry().right() <= holder.width() for b in buttons)


def test_an_elided_label_keeps_its_text_in_the_tooltip(qtbot):
    label = ElidedLabel("resnet110 (norm=none, shortcut=B) vs plain110")
    qtbot.addWidget(label)
    label.resize(80, 20)
    label.show()
    settle(qtbot)
    assert label.text().endswith("…") and label.toolTip() == label.full_text()
    assert label.minimumSizeHint().width() < label.sizeHint().width() / 3
