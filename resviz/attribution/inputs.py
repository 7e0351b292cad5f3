"""Getting images into the shape a model expects, and back out for display.

A model declares ``input_shape`` (C, H, W). Inputs of another size are resized (bilinear,
antialiased); grey images become RGB by repeating the channel, RGB becomes grey by luminance,
an alpha channel is dropped. Anything else is refused with what the model expects.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ResvizError
from ..models.registry import model_device  # noqa: F401 - re-exported for this package

LUMINANCE = (0.299, 0.587, 0.114)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def as_batch(inputs: torch.Tensor | np.ndarray) -> torch.Tensor:
    """A float32 (N, C, H, W) tensor from a batch (N, C, H, W), one image (C, H, W) or a grey image (H, W)."""
    if isinstance(inputs, np.ndarray):
        inputs = torch.from_numpy(np.ascontiguousarray(inputs))
    if not isinstance(inputs, torch.Tensor):
        raise ResvizError(f"inputs must be a tensor or a numpy array, not {type(inputs).__name__}")
    if inputs.dim() == 2:
        inputs = inputs[None, None]
    elif inputs.dim() == 3:
        inputs = inputs[None]
    elif inputs.dim() != 4:
        raise ResvizError(f"inputs of shape {tuple(inputs.shape)} are not images: give (N, C, H, W), (C, H, W) "
                          f"or (H, W)")
    if inputs.shape[0] == 0:
        raise ResvizError("inputs are an empty batch")
    if not inputs.is_floating_point():
        raise ResvizError(f"inputs are {inputs.dtype}; give float images as the model sees them "
                          f"(to_model_input converts uint8 images)")
    return inputs.float()


def convert_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """Grey to RGB (repeat), RGB(A) to grey (luminance), RGBA to RGB; else ResvizError."""
    have = x.shape[1]
    if have == channels:
        return x
    if have == 4 and channels in (1, 3):
        x, have = x[:, :3], 3
        if channels == 3:
            return x
    if have == 1 and channels == 3:
        return x.expand(-1, 3, -1, -1).contiguous()
    if have == 3 and channels == 1:
        weights = torch.tensor(LUMINANCE, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x * weights).sum(1, keepdim=True)
    raise ResvizError(f"images have {have} channels and the model expects {channels}; only grey, RGB and RGBA "
                      f"images can be converted")


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrinking = x.shape[-2] > size[0] or x.shape[-1] > size[1]
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrinking)


def fit_inputs(x: torch.Tensor, expected: Sequence[int] | None, *, convert: bool = True) -> tuple[torch.Tensor, list[str]]:
    """``x`` converted to the model's (C, H, W), with a note for each conversion made.

    ``convert=False`` refuses mismatches instead of converting them.
    """
    if expected is None or len(expected) != 3:
        return x, []
    channels, height, width = (int(v) for v in expected)
    have = tuple(x.shape[1:])
    if have == (channels, height, width):
        return x, []
    if not convert:
        raise ResvizError(f"images are {_shape_text(have)} but the model expects {_shape_text((channels, height, width))}")
    notes = []
    if have[0] != channels:
        x = convert_channels(x, channels)
        notes.append(f"converted {_channel_text(have[0])} to {_channel_text(channels)}")
    if have[1:] != (height, width):
        x = resize(x, (height, width))
        notes.append(f"resized {have[1]}x{have[2]} to {height}x{width}")
    return x, notes


def _channel_text(channels: int) -> str:
    return {1: "grey", 3: "RGB", 4: "RGBA"}.get(channels, f"{channels} channels")


def _shape_text(shape: Sequence[int]) -> str:
    c, h, w = shape
    return f"{c}x{h}x{w} (C x H x W)"


def model_input_shape(model: nn.Module) -> tuple[int, ...] | None:
    shape = getattr(model, "input_shape", None)
    return tuple(int(v) for v in shape) if shape is not None else None


def to_model_input(images: torch.Tensor | np.ndarray, mean: Sequence[float] | None = None,
                   std: Sequence[float] | None = None) -> torch.Tensor:
    """uint8 images (N, C, H, W) to float32 in [0, 1], then normalised per channel when mean/std are given."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images))
    if images.dim() == 3:
        images = images[None]
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    if mean is not None and std is not None:
        channels = x.shape[1]
        m = torch.tensor(list(mean)[:channels], dtype=x.dtype).view(1, -1, 1, 1)
        s = torch.tensor(list(std)[:channels], dtype=x.dtype).view(1, -1, 1, 1)
        x = (x - m) / s
    return x


def to_display(image: torch.Tensor | np.ndarray, mean: Sequence[float] | None = None,
               std: Sequence[float] | None = None) -> np.ndarray:
    """One image as (H, W, 3) uint8 RGB for drawing.

    uint8 images are taken as they are; float images are un-normalised with mean/std when given,
    else taken as [0, 1] when they lie there, else stretched min-to-max.
    """
    array = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if array.ndim == 4:
        if array.shape[0] != 1:
            raise ResvizError(f"to_display takes one image, not a batch of {array.shape[0]}")
        array = array[0]
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3:
        raise ResvizError(f"an image of shape {array.shape} cannot be displayed")
    if array.shape[0] not in (1, 3, 4) and array.shape[-1] in (1, 3, 4):
        array = np.moveaxis(array, -1, 0)  # (H, W, C) -> (C, H, W)
    if array.dtype == np.uint8:
        out = array
    else:
        array = array.astype(np.float32)
        if mean is not None and std is not None:
            c = array.shape[0]
            array = array * np.asarray(std, np.float32)[:c, None, None] + np.asarray(mean, np.float32)[:c, None, None]
        elif array.min() < 0.0 or array.max() > 1.0:
            low, high = float(array.min()), float(array.max())
            array = (array - low) / (high - low) if high > low else np.zeros_like(array)
        out = np.clip(np.round(array * 255.0), 0, 255).astype(np.uint8)
    if out.shape[0] == 1:
        out = np.repeat(out, 3, axis=0)
    return np.ascontiguousarray(np.moveaxis(out[:3], 0, -1))


def load_image_file(path: str | Path, channels: int = 3, size: tuple[int, int] | None = None) -> tuple[np.ndarray, list[str]]:
    """An image file as uint8 (C, H, W), converted to ``channels`` and resized to ``size`` (H, W)."""
    from PIL import Image, UnidentifiedImageError

    from ..data.images import open_image

    path = Path(path)
    if not path.is_file():
        raise ResvizError(f"{path}: no such image file")
    try:
        with open_image(path) as image:  # refuses images too large to decode, from their header
            image.load()
            original = image.size
            mode = image.mode
            image = image.convert("L" if channels == 1 else "RGB")
            notes = []
            if channels not in (1, 3):
                raise ResvizError(f"{path}: the model expects {channels} channels; image files give grey or RGB")
            if (mode in ("L", "LA", "I", "I;16", "F", "1")) != (channels == 1):
                notes.append(f"{path.name}: converted {'grey' if mode in ('L', 'LA', 'I', 'I;16', 'F', '1') else mode} "
                             f"to {_channel_text(channels)}")
            if size is not None and (original[1], original[0]) != tuple(size):
                image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
                notes.append(f"{path.name}: resized {original[1]}x{original[0]} to {size[0]}x{size[1]}")
            array = np.asarray(image, dtype=np.uint8)
    except Image.DecompressionBombError as exc:  # a header claiming more pixels than Pillow's ceiling
        raise ResvizError(f"{path}: too large an image to read ({exc})") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ResvizError(f"{path}: not an image file that can be read ({exc})") from None
    if array.ndim == 2:
        array = array[None]
    else:
        array = np.moveaxis(array, -1, 0)
    return np.ascontiguousarray(array), notes
