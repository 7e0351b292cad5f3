"""Turning attribution maps into pictures, in numpy only: sign, outlier clipping, colour, overlay.

Normalising is separate from drawing (as in Captum's visualisation): ``normalize`` gives
values in [0, 1] (one sign) or [-1, 1] (``sign="all"``), ``colorize`` looks them up in a
256-entry table, ``overlay`` lays them on the input image with an opacity that grows with the
attribution, so the image shows through where the map says nothing.
"""

from __future__ import annotations

import numpy as np

from ..colours import get_colormap
from ..errors import ResvizError

SIGNS = ("positive", "negative", "absolute", "all")
DEFAULT_COLORMAPS = {"positive": "inferno", "absolute": "inferno", "negative": "blues", "all": "diverging"}
OVERLAY_COLORMAPS = {"positive": "reds", "absolute": "reds", "negative": "blues", "all": "diverging"}


def check_sign(sign: str) -> str:
    if sign not in SIGNS:
        raise ResvizError(f"sign {sign!r} is not one of {', '.join(SIGNS)}")
    return sign


def signed_values(attribution: np.ndarray, sign: str) -> np.ndarray:
    """The part of the map a sign shows: positive or negative evidence (as magnitudes), |a|, or a itself."""
    check_sign(sign)
    a = np.asarray(attribution, dtype=np.float32)
    if sign == "positive":
        return np.maximum(a, 0.0)
    if sign == "negative":
        return np.maximum(-a, 0.0)
    if sign == "absolute":
        return np.abs(a)
    return a


def attribution_scale(attribution: np.ndarray, sign: str = "all", clip_percentile: float = 1.0) -> float:
    """The magnitude that maps to full colour: the (100 - clip_percentile)th percentile of |values|,
    so a few outlier pixels do not wash out the rest. 0 when the map is empty."""
    if not 0.0 <= clip_percentile < 100.0:
        raise ResvizError(f"clip percentile {clip_percentile} must be in [0, 100)")
    magnitudes = np.abs(signed_values(attribution, sign)).ravel()
    magnitudes = magnitudes[np.isfinite(magnitudes)]
    if magnitudes.size == 0:
        return 0.0
    scale = float(np.percentile(magnitudes, 100.0 - clip_percentile))
    if scale <= 0.0:  # sparse maps: fewer non-zero pixels than the percentile
        scale = float(magnitudes.max())
    return scale


def normalize(attribution: np.ndarray, sign: str = "all", clip_percentile: float = 1.0,
              scale: float | None = None) -> np.ndarray:
    """One map (H, W) to [0, 1] (one sign) or [-1, 1] (``all``), outliers clipped.

    A batch (N, H, W) is normalised map by map unless ``scale`` is given (shared scales keep
    magnitudes comparable, e.g. across checkpoints)."""
    a = np.asarray(attribution, dtype=np.float32)
    if a.ndim == 3 and scale is None:
        return np.stack([normalize(m, sign, clip_percentile) for m in a])
    values = signed_values(a, sign)
    scale = attribution_scale(a, sign, clip_percentile) if scale is None else float(scale)
    if scale <= 0.0 or not np.isfinite(scale):
        return np.zeros_like(values, dtype=np.float32)
    low = -1.0 if sign == "all" else 0.0
    out = np.clip(np.nan_to_num(values / scale, nan=0.0), low, 1.0)
    return out.astype(np.float32)


def _lut_index(normalized: np.ndarray, sign: str) -> np.ndarray:
    values = (normalized + 1.0) / 2.0 if sign == "all" else normalized
    return np.clip(np.round(values * 255.0), 0, 255).astype(np.intp)


def colorize(normalized: np.ndarray, sign: str = "all", cmap: str | np.ndarray | None = None) -> np.ndarray:
    """Normalised values (H, W) to an (H, W, 3) uint8 RGB image through a 256-entry table."""
    check_sign(sign)
    table = _table(cmap, DEFAULT_COLORMAPS[sign])
    return table[_lut_index(np.asarray(normalized, dtype=np.float32), sign)]


def _table(cmap: str | np.ndarray | None, default: str) -> np.ndarray:
    if cmap is None:
        return get_colormap(default)
    if isinstance(cmap, str):
        return get_colormap(cmap)
    table = np.asarray(cmap)
    if table.shape != (256, 3) or table.dtype != np.uint8:
        raise ResvizError(f"a colour map must be a (256, 3) uint8 table, not {table.shape} {table.dtype}")
    return table


def as_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, 1|3|4) or (1|3, H, W) uint8 or [0, 1] float to (H, W, 3) uint8."""
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3, 4):
        array = np.moveaxis(array, 0, -1)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 3, 4):
        raise ResvizError(f"an image of shape {np.asarray(image).shape} is not (H, W), (H, W, C) or (C, H, W)")
    if array.dtype != np.uint8:
        array = np.clip(np.round(np.asarray(array, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    return np.ascontiguousarray(array[..., :3])


def overlay(image: np.ndarray, normalized: np.ndarray, sign: str = "all", cmap: str | np.ndarray | None = None,
            alpha: float = 0.7, background: str = "grey") -> np.ndarray:
    """The map laid over the image: opacity ``alpha * |value|``, so strong evidence is coloured and
    the image shows through elsewhere. ``background="grey"`` desaturates the image first so the
    colours stand out; ``"colour"`` keeps it as it is."""
    check_sign(sign)
    if not 0.0 <= alpha <= 1.0:
        raise ResvizError(f"alpha {alpha} must be between 0 and 1")
    if background not in ("grey", "colour"):
        raise ResvizError(f"background {background!r} is not 'grey' or 'colour'")
    rgb = as_rgb(image).astype(np.float32)
    values = np.asarray(normalized, dtype=np.float32)
    if values.shape != rgb.shape[:2]:
        raise ResvizError(f"the map is {values.shape[0]}x{values.shape[1]} and the image "
                          f"{rgb.shape[0]}x{rgb.shape[1]}; they must be the same size")
    if background == "grey":
        grey = rgb @ np.asarray([0.299, 0.587, 0.114], dtype=np.float32)
        rgb = np.repeat(grey[..., None], 3, axis=-1) * 0.85 + 0.15 * 255.0 * 0.5
    colours = _table(cmap, OVERLAY_COLORMAPS[sign])[_lut_index(values, sign)].astype(np.float32)
    weight = (alpha * np.clip(np.abs(values), 0.0, 1.0))[..., None]
    out = rgb * (1.0 - weight) + colours * weight
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def render(attribution: np.ndarray, image: np.ndarray | None = None, *, sign: str = "all",
           cmap: str | np.ndarray | None = None, clip_percentile: float = 1.0, alpha: float = 0.7,
           scale: float | None = None, background: str = "grey") -> np.ndarray:
    """One map (H, W) to an (H, W, 3) uint8 picture: a heat map, or an overlay when ``image`` is given."""
    attribution = np.asarray(attribution)
    if attribution.ndim != 2:
        raise ResvizError(f"render takes one map (H, W), not an array of shape {attribution.shape}")
    normalized = normalize(attribution, sign, clip_percentile, scale)
    if image is None:
        return colorize(normalized, sign, cmap)
    return overlay(image, normalized, sign, cmap, alpha, background)


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement, so small inputs stay crisp when shown large."""
    if factor < 1:
        raise ResvizError(f"upscale factor {factor} must be at least 1")
    if factor == 1:
        return image
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)
