"""The synthetic shapes data set: the offline default, with ground-truth masks for attribution scoring.

Every image holds one shape of a class (circle, square, triangle, cross, ring, stripes) at
a random position, scale and rotation, in a random colour (or grey level) on a contrasting
background, plus Gaussian noise. The mask marks the shape's own pixels. Everything comes
from one seed, so the same call gives the same images on every machine.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import ResvizError
from .types import ImageData, check_memory

SHAPE_CLASSES = ("circle", "square", "triangle", "cross", "ring", "stripes")
DEFAULT_NOISE = 0.05
_CHUNK = 1024  # samples drawn at a time, to bound memory for large sizes
_CHUNK_VALUES = 16_000_000  # ... and fewer for large images (float64 intermediates: 128 MB each)
# The most the generated images and masks may take in memory.
SHAPES_MAX_BYTES = 4_000_000_000


def _shape_masks(kind: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Masks for one class in rotated coordinates scaled by the radius (the shape fits the unit disc)."""
    name = SHAPE_CLASSES[kind]
    if name == "circle":
        return a * a + b * b <= 1.0
    if name == "ring":
        r2 = a * a + b * b
        return (r2 <= 1.0) & (r2 >= 0.5 ** 2)
    if name == "square":
        return np.maximum(np.abs(a), np.abs(b)) <= 0.7
    if name == "triangle":
        inside = np.ones(a.shape, bool)
        for k in range(3):  # three half-planes at inradius 0.5: an equilateral triangle in the unit circle
            angle = np.pi / 2 + 2 * np.pi * k / 3
            inside &= a * np.cos(angle) + b * np.sin(angle) <= 0.5
        return inside
    if name == "cross":
        return (((np.abs(a) <= 0.25) & (np.abs(b) <= 0.95)) | ((np.abs(b) <= 0.25) & (np.abs(a) <= 0.95)))
    if name == "stripes":
        inside = np.maximum(np.abs(a), np.abs(b)) <= 0.72
        band = np.floor((a + 0.72) / 0.24).astype(np.int64)
        return inside & (band % 2 == 0)
    raise AssertionError(name)


def make_shapes(n: int, *, size: int = 32, channels: int = 3, seed: int = 0, noise: float = DEFAULT_NOISE,
                variant: int = 0) -> ImageData:
    """``n`` images (channels x size x size) of the shape classes, balanced, deterministic from ``seed``.

    ``variant`` picks an independent stream of the same seed (the test split uses 1).
    """
    if n < 0:
        raise ResvizError(f"shapes: the number of samples must be positive, got {n}")
    if size < 8:
        raise ResvizError(f"shapes: images must be at least 8 pixels wide, got size {size}")
    if channels not in (1, 3):
        raise ResvizError(f"shapes: channels must be 1 (grey) or 3 (colour), got {channels}")
    if noise < 0:
        raise ResvizError(f"shapes: noise must be >= 0, got {noise}")
    check_memory("shapes", f"{n} images of {channels}x{size}x{size} and their masks", n * (channels + 1) * size * size,
                 SHAPES_MAX_BYTES, "make fewer (--samples N) or smaller images")
    rng = np.random.default_rng([seed, variant, size, channels, 0x5A])
    k = len(SHAPE_CLASSES)
    labels = rng.permutation(np.arange(n) % k)
    radius = size * rng.uniform(0.22, 0.38, n)
    cx = rng.uniform(radius + 0.5, size - radius - 0.5)
    cy = rng.uniform(radius + 0.5, size - radius - 0.5)
    theta = rng.uniform(0.0, 2 * np.pi, n)
    # Light shape on dark ground or the reverse; colours vary per channel within each band,
    # so the luminance contrast stays at least ~0.2 (the shape survives a grey conversion).
    light_shape = rng.random(n) < 0.5
    dark = rng.uniform(0.0, 0.4, (n, channels))
    light = rng.uniform(0.6, 1.0, (n, channels))
    foreground = np.where(light_shape[:, None], light, dark)
    background = np.where(light_shape[:, None], dark, light)

    images = np.empty((n, channels, size, size), np.uint8)
    masks = np.empty((n, size, size), bool)
    coords = np.arange(size, dtype=np.float64) + 0.5
    chunk = max(1, min(_CHUNK, _CHUNK_VALUES // (channels * size * size)))
    for start in range(0, n, chunk):
        part = slice(start, min(n, start + chunk))
        m = part.stop - part.start
        dx = coords[None, None, :] - cx[part, None, None]
        dy = coords[None, :, None] - cy[part, None, None]
        cos, sin = np.cos(theta[part])[:, None, None], np.sin(theta[part])[:, None, None]
        r = radius[part, None, None]
        a = (dx * cos + dy * sin) / r
        b = (-dx * sin + dy * cos) / r
        chunk_masks = np.zeros((m, size, size), bool)
        chunk_labels = labels[part]
        for kind in range(k):
            rows = np.flatnonzero(chunk_labels == kind)
            if len(rows):
                chunk_masks[rows] = _shape_masks(kind, a[rows], b[rows])
        fg = foreground[part, :, None, None]
        bg = background[part, :, None, None]
        pixels = bg + (fg - bg) * chunk_masks[:, None].astype(np.float64)
        if noise:
            pixels = pixels + rng.normal(0.0, noise, pixels.shape)
        images[part] = np.clip(np.rint(pixels * 255.0), 0, 255).astype(np.uint8)
        masks[part] = chunk_masks
    return ImageData(images=torch.from_numpy(images), labels=torch.from_numpy(labels.astype(np.int64)),
                     classes=list(SHAPE_CLASSES), name="shapes", masks=torch.from_numpy(masks))
