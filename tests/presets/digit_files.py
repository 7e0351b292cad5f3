"""Small MNIST-format files of printed digits: learnable like MNIST, written by the tests (no download)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def _glyphs() -> list[Image.Image]:
    font = ImageFont.load_default(size=18)
    glyphs = []
    for digit in range(10):
        image = Image.new("L", (14, 20), 0)
        ImageDraw.Draw(image).text((7, 10), str(digit), fill=255, font=font, anchor="mm")
        glyphs.append(image)
    return glyphs


def digit_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` 28x28 digits: each printed at a random size, near the centre, with noise; balanced labels."""
    rng = np.random.default_rng(seed)
    glyphs = _glyphs()
    labels = rng.permutation(np.arange(n) % 10).astype(np.uint8)
    images = np.zeros((n, 28, 28), np.uint8)
    for i, label in enumerate(labels):
        size = int(rng.integers(13, 18))
        glyph = np.asarray(glyphs[label].resize((size, int(size * 20 / 14)), Image.BILINEAR), np.float64)
        h, w = glyph.shape
        # Centred within a few pixels, as MNIST's digits are (by their centre of mass).
        top = min(max((28 - h) // 2 + int(rng.integers(-2, 3)), 0), 28 - h)
        left = min(max((28 - w) // 2 + int(rng.integers(-3, 4)), 0), 28 - w)
        canvas = np.zeros((28, 28))
        canvas[top:top + h, left:left + w] = glyph
        canvas += rng.normal(0, 10, canvas.shape)
        images[i] = np.clip(canvas, 0, 255).astype(np.uint8)
    return images, labels


def _idx(array: np.ndarray) -> bytes:
    return bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", s) for s in array.shape) + array.tobytes()


def write_digit_files(folder: Path, *, n_train: int, n_test: int, seed: int = 0) -> Path:
    """The four MNIST files (gzipped IDX) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n, stream in (("train", n_train, 0), ("t10k", n_test, 1)):
        images, labels = digit_images(n, seed * 2 + stream)
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(images), compresslevel=1))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx(labels), compresslevel=1))
    return folder
