"""Colours shared by the command line's exports and the window: the colour maps (as numpy
lookup tables), the gradient-norm colour of a box, and the rule that picks a label colour that
reads on its fill. Qt-free, so an exported figure and the window colour every pixel alike.

Colour maps are anchors sampled from well-known perceptual maps (ColorBrewer's RdBu, Blues,
Reds; matplotlib's viridis and inferno), interpolated linearly into uint8 RGB tables.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import ResvizError, did_you_mean

DARK_TEXT = "#1F2933"
LIGHT_TEXT = "#FFFFFF"
MARKED_FILL = "#A3A3A3"  # a marked box (a lesion's deleted block): a neutral grey no colour map uses
NONFINITE_FILL = "#FF2D55"  # a NaN or Inf gradient is shown, never hidden: a colour no colour map uses
MIN_CONTRAST = 4.5  # WCAG AA for normal text
# One colour map for gradient norms everywhere (perceptually uniform, readable in greyscale, so
# "dark = vanished gradient" survives a projector).
GRADIENT_COLORMAP = "viridis"

_ANCHORS: dict[str, list[tuple[int, int, int]]] = {
    # Blue - white - red: negative evidence blue, none white, positive red.
    "diverging": [(5, 48, 97), (42, 113, 178), (107, 172, 209), (194, 221, 236), (247, 246, 246),
                  (251, 204, 180), (228, 128, 102), (186, 40, 50), (103, 0, 31)],
    "viridis": [(68, 1, 84), (72, 24, 106), (71, 45, 123), (66, 64, 134), (59, 82, 139), (51, 99, 141),
                (44, 114, 142), (38, 130, 142), (33, 145, 140), (31, 160, 136), (40, 174, 128), (63, 188, 115),
                (94, 201, 98), (132, 212, 75), (173, 220, 48), (216, 226, 25), (253, 231, 37)],
    "inferno": [(0, 0, 4), (11, 7, 36), (33, 12, 74), (61, 9, 101), (87, 16, 110), (113, 25, 110),
                (138, 34, 106), (163, 44, 97), (188, 55, 84), (210, 70, 68), (228, 90, 49), (241, 115, 29),
                (249, 142, 9), (252, 172, 17), (249, 203, 53), (242, 234, 105), (252, 255, 164)],
    "reds": [(255, 245, 240), (254, 224, 210), (252, 187, 161), (252, 146, 114), (251, 105, 74), (238, 58, 44),
             (202, 24, 29), (163, 15, 21), (103, 0, 13)],
    "blues": [(247, 251, 255), (222, 235, 247), (198, 219, 239), (157, 202, 225), (106, 174, 214), (65, 145, 198),
              (32, 112, 180), (8, 80, 155), (8, 48, 107)],
    "grey": [(0, 0, 0), (255, 255, 255)],
}


def _lut(anchors: list[tuple[int, int, int]], entries: int = 256) -> np.ndarray:
    points = np.asarray(anchors, dtype=np.float64)
    positions = np.linspace(0.0, 1.0, len(points))
    samples = np.linspace(0.0, 1.0, entries)
    table = np.stack([np.interp(samples, positions, points[:, c]) for c in range(3)], axis=1)
    table = np.clip(np.round(table), 0, 255).astype(np.uint8)
    table.setflags(write=False)
    return table


COLORMAPS: dict[str, np.ndarray] = {name: _lut(anchors) for name, anchors in _ANCHORS.items()}


def list_colormaps() -> list[str]:
    return list(COLORMAPS)


def get_colormap(name: str) -> np.ndarray:
    """The (256, 3) uint8 lookup table called ``name``."""
    try:
        return COLORMAPS[name]
    except KeyError:
        raise ResvizError(f"unknown colour map {name!r}{did_you_mean(name, COLORMAPS)}; "
                          f"colour maps are {', '.join(COLORMAPS)}") from None


def hex_colour(rgb: tuple[int, int, int] | np.ndarray) -> str:
    r, g, b = (int(v) for v in rgb)
    return f"#{r:02X}{g:02X}{b:02X}"


# Gradient colours ------------------------------------------------------------------------------

def gradient_lut(entries: int = 256) -> np.ndarray:
    """The gradient colour map as an (entries, 3) uint8 lookup table."""
    return COLORMAPS[GRADIENT_COLORMAP] if entries == 256 else _lut(_ANCHORS[GRADIENT_COLORMAP], entries)


_GRADIENT_HEX = [hex_colour(rgb) for rgb in gradient_lut()]


def gradient_fraction_colour(fraction: float) -> str:
    """The gradient map's colour at ``fraction`` (0 = lowest, 1 = highest, clipped)."""
    return _GRADIENT_HEX[int(round(min(1.0, max(0.0, fraction)) * (len(_GRADIENT_HEX) - 1)))]


def gradient_colour(value: float | None, levels: tuple[float, float]) -> str | None:
    """The colour of a gradient norm on a log10 scale between ``levels`` (log10 units).

    Zero and values below the range take the lowest colour; NaN/Inf a loud magenta so a
    non-finite gradient is never mistaken for a small one; None means no data (no colour).
    """
    if value is None:
        return None
    if not math.isfinite(value):
        return NONFINITE_FILL
    low, high = levels
    if value <= 0:
        return _GRADIENT_HEX[0]
    return gradient_fraction_colour((math.log10(value) - low) / (high - low) if high > low else 0.5)


# Label contrast --------------------------------------------------------------------------------

def _rgb(colour: str) -> tuple[float, float, float]:
    """An SVG hex colour ("#RGB" or "#RRGGBB") as 0-1 channels; anything else counts as white."""
    text = colour.lstrip("#")
    if len(text) == 3:
        text = "".join(c * 2 for c in text)
    try:
        r, g, b = (int(text[i:i + 2], 16) / 255 for i in (0, 2, 4))
    except ValueError:
        return 1.0, 1.0, 1.0
    return r, g, b


def relative_luminance(colour: str) -> float:
    """WCAG relative luminance of an sRGB colour."""
    channels = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in _rgb(colour)]
    return 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2]


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two colours (1 to 21)."""
    la, lb = relative_luminance(a), relative_luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def text_colour_on(fill: str, colour: str, dark: str = DARK_TEXT) -> str:
    """The colour a label drawn in ``colour`` takes on ``fill``.

    The label keeps its colour where it reads well (contrast 4.5, WCAG AA); otherwise it turns
    white or dark, whichever stands out more, so grey detail lines stay legible on mid-tone fills.
    """
    if contrast(fill, colour) >= MIN_CONTRAST:
        return colour
    return LIGHT_TEXT if contrast(fill, LIGHT_TEXT) >= contrast(fill, dark) else dark


__all__ = ["COLORMAPS", "DARK_TEXT", "GRADIENT_COLORMAP", "LIGHT_TEXT", "MIN_CONTRAST", "NONFINITE_FILL", "contrast",
           "get_colormap", "gradient_colour", "gradient_fraction_colour", "gradient_lut", "hex_colour",
           "list_colormaps", "relative_luminance", "text_colour_on"]
