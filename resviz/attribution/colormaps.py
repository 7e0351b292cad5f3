"""Colour maps as 256-entry lookup tables (uint8 RGB), in numpy only.

The anchors are sampled from well-known perceptual maps (ColorBrewer's RdBu, Blues, Reds;
matplotlib's viridis and inferno) and interpolated linearly; the window's image items take
the same tables.
"""

from __future__ import annotations

import numpy as np

from ..errors import ResvizError, did_you_mean

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


def _lut(anchors: list[tuple[int, int, int]]) -> np.ndarray:
    points = np.asarray(anchors, dtype=np.float64)
    positions = np.linspace(0.0, 1.0, len(points))
    samples = np.linspace(0.0, 1.0, 256)
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
