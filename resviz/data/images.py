"""Opening image files safely: the size in the header is checked before any pixel is decoded."""

from __future__ import annotations

import os
import warnings
from typing import TYPE_CHECKING

from ..errors import ResvizError

if TYPE_CHECKING:
    from PIL import Image as PILImage

# The most pixels resviz decodes from one image file (a 24-megapixel camera photo fits twice).
# Larger images, and Pillow's decompression bombs, are refused from their header.
MAX_IMAGE_PIXELS = 50_000_000
_LIMIT_TEXT = f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels, the most resviz decodes from one image"


def open_image(path: str | os.PathLike) -> PILImage.Image:
    """The image, opened lazily (header only); a one-line ``ResvizError`` naming the file when it is larger
    than ``MAX_IMAGE_PIXELS``. Files that are not images raise what Pillow raises (``OSError``)."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            # Pillow warns between its own limits; resviz's is lower and says so in one line.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
    except Image.DecompressionBombError:
        raise ResvizError(f"image {path} is larger than {_LIMIT_TEXT}") from None  # Pillow's own, higher limit
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS:
        image.close()
        raise ResvizError(f"image {path} is {width}x{height} pixels, larger than {_LIMIT_TEXT}")
    return image
