"""Colours, fonts and line widths of the window: the everyday theme and the lecture-hall one.

Presentation mode swaps in a high-contrast theme with large fonts and thick lines; every
figure re-styles itself from the ``Theme`` it is given, so nothing is re-created.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

from ..colours import GRADIENT_COLORMAP, NONFINITE_FILL, get_colormap

NONFINITE_COLOUR = NONFINITE_FILL  # non-finite events: a colour no colour map uses
# Run statuses (resviz.runfile.status words) that call for attention, in the status bar and the runs panel.
STATUS_COLOURS = {"running": "#2E7D32", "live": "#2E7D32", "paused": "#7B1FA2", "finished": "#1565C0",
                  "stopped": "#B45F06", "interrupted": "#C62828", "failed": "#C62828", "unreadable": "#C62828"}
# The health-warning banner: dark text on amber, readable in both themes.
WARNING_BACKGROUND = "#FFF3CD"
WARNING_BORDER = "#E0A800"
WARNING_TEXT = "#533F03"


DISABLED_TEXT = QColor("#6E6E6E")  # a dark theme's disabled labels and buttons


@dataclass(frozen=True)
class Theme:
    name: str
    background: str
    foreground: str
    panel: str  # widget backgrounds around the plots
    grid_alpha: float
    font_size: float  # points, for axes and labels
    title_size: float
    line_width: float
    marker_size: float
    dark: bool

    def font(self, scale: float = 1.0, bold: bool = False) -> QFont:
        font = QFont()
        font.setPointSizeF(self.font_size * scale)
        font.setBold(bold)
        return font


LIGHT = Theme("light", background="#FFFFFF", foreground="#1F2933", panel="#F5F7FA", grid_alpha=0.25,
              font_size=9.0, title_size=11.0, line_width=1.6, marker_size=6.0, dark=False)
PRESENTATION = Theme("presentation", background="#000000", foreground="#FFFFFF", panel="#101010", grid_alpha=0.35,
                     font_size=14.0, title_size=18.0, line_width=3.0, marker_size=10.0, dark=True)


def lookup_table(name: str = GRADIENT_COLORMAP) -> np.ndarray:
    """A 256-entry uint8 RGB lookup table of a colour map (``resviz.colours``' table, as the graph uses)."""
    return np.ascontiguousarray(get_colormap(name), dtype=np.uint8)


def colour_map(name: str = GRADIENT_COLORMAP) -> pg.ColorMap:
    """The same table as a pyqtgraph colour map, for colour bars."""
    table = get_colormap(name)
    return pg.ColorMap(np.linspace(0.0, 1.0, len(table)), table)


def apply_application_theme(app: QApplication, theme: Theme, base_font_size: float | None = None) -> None:
    """The Qt palette and font of the widgets around the plots."""
    palette = QPalette()
    if theme.dark:
        window, text, base = QColor("#0B0B0B"), QColor("#FFFFFF"), QColor("#141414")
        for role, colour in ((QPalette.Window, window), (QPalette.WindowText, text), (QPalette.Base, base),
                             (QPalette.AlternateBase, QColor("#1E1E1E")), (QPalette.Text, text),
                             (QPalette.Button, QColor("#1E1E1E")), (QPalette.ButtonText, text),
                             (QPalette.ToolTipBase, QColor("#000000")), (QPalette.ToolTipText, text),
                             (QPalette.Highlight, QColor("#FFD60A")), (QPalette.HighlightedText, QColor("#000000")),
                             (QPalette.PlaceholderText, QColor("#A0A0A0"))):
            palette.setColor(role, colour)
        # Disabled controls must look it: grey text on a darker button, never the enabled white.
        for role, colour in ((QPalette.WindowText, DISABLED_TEXT), (QPalette.Text, DISABLED_TEXT),
                             (QPalette.ButtonText, DISABLED_TEXT), (QPalette.Button, QColor("#0F0F0F")),
                             (QPalette.Base, QColor("#0B0B0B"))):
            palette.setColor(QPalette.Disabled, role, colour)
    else:
        palette = app.style().standardPalette()
    app.setPalette(palette)
    font = app.font()
    if base_font_size is not None:
        font.setPointSizeF(base_font_size)
    app.setFont(font)
