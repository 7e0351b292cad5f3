"""The presentation caption fits its line: a long caption gets a smaller font, never cut off."""

from __future__ import annotations

from PySide6.QtGui import QFont, QFontMetrics

from resviz.gui.presentation import MIN_CAPTION_POINTS, CaptionBar
from resviz.gui.theme import PRESENTATION


def shown_width(bar: CaptionBar) -> int:
    font = QFont(bar.font())
    font.setBold(True)
    font.setPointSizeF(bar._points)
    return QFontMetrics(font).horizontalAdvance(bar.text())


def test_a_long_caption_shrinks_to_fit_and_a_short_one_keeps_the_title_size(qtbot):
    bar = CaptionBar()
    qtbot.addWidget(bar)
    bar.resize(1024, 60)
    bar.show()
    bar.style_for(PRESENTATION)
    bar.show_automatic("ResNet-20 vs Plain-20 · step 12")
    assert bar._points == PRESENTATION.title_size
    # The Lecture page's caption, cut off at 1024 px in the title size before.
    bar.show_automatic("step 149 · first layer's gradient / last layer's: resnet20 1.9× · plain20 1/16M")
    assert MIN_CAPTION_POINTS <= bar._points < PRESENTATION.title_size
    assert shown_width(bar) <= bar.width() - 24
    bar.resize(1920, 60)  # a wider screen: larger again
    qtbot.waitUntil(lambda: bar._points > MIN_CAPTION_POINTS)
    assert shown_width(bar) <= bar.width() - 24
