"""``ImageData``: a whole split of an image data set held in memory as uint8 tensors."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import ResvizError
from ..limits import format_bytes

# The most a data set converted to a model's input (resized, grey<->colour) may take in memory.
CONVERTED_MAX_BYTES = 4_000_000_000
_BLOCK_VALUES = 32_000_000  # pixel values converted at a time (float32: 128 MB)


@dataclass
class ImageData:
    """Images (N, C, H, W) uint8, labels (N,) int64, class names, and for shapes the object masks."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    name: str
    masks: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(f"{self.name}: images must be a (N, C, H, W) uint8 tensor, got "
                             f"{tuple(self.images.shape)} {self.images.dtype}")
        self.labels = self.labels.to(torch.int64).reshape(-1)
        if len(self.labels) != len(self.images):
            raise ValueError(f"{self.name}: {len(self.images)} images but {len(self.labels)} labels")
        if self.masks is not None and (self.masks.dtype != torch.bool
                                       or tuple(self.masks.shape) != (len(self.images), *self.images.shape[2:])):
            raise ValueError(f"{self.name}: masks must be (N, H, W) bool, got {tuple(self.masks.shape)} "
                             f"{self.masks.dtype}")
        if len(self.labels) and (int(self.labels.min()) < 0 or int(self.labels.max()) >= len(self.classes)):
            raise ValueError(f"{self.name}: labels must lie in 0..{len(self.classes) - 1}")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        _, c, h, w = self.images.shape
        return (c, h, w)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def subset(self, indices: torch.Tensor) -> ImageData:
        indices = torch.as_tensor(indices, dtype=torch.int64)
        return ImageData(self.images[indices], self.labels[indices], list(self.classes), self.name,
                         None if self.masks is None else self.masks[indices])

    def class_counts(self) -> list[int]:
        return torch.bincount(self.labels, minlength=len(self.classes)).tolist()


def sample_indices(total: int, n: int | None, seed: int) -> torch.Tensor | None:
    """The sorted indices of a seeded random subset of ``n`` out of ``total`` samples; None to keep them all.

    Readers call it before decoding, so only the chosen samples are ever held in memory.
    """
    if n is None or n >= total:
        return None
    generator = torch.Generator().manual_seed(int(seed) + 0x5EED)
    return torch.randperm(total, generator=generator)[:n].sort().values


def check_memory(where: str, what: str, nbytes: int, limit: int,
                 hint: str = "use fewer samples (--samples N)") -> None:
    """A one-line ``ResvizError`` when holding ``what`` (``nbytes``) would pass a reader's ceiling ``limit``."""
    if nbytes > limit:
        raise ResvizError(f"{where}: {what} would take {format_bytes(nbytes)} in memory, more than the "
                          f"{format_bytes(limit)} resviz allows here; {hint}")


def dataset_stats(data: ImageData, chunk: int = 4096) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation in [0, 1] units (accumulated in float64, in chunks)."""
    if len(data) == 0:
        raise ResvizError(f"data set {data.name} is empty: no statistics to compute")
    channels = data.images.shape[1]
    total = torch.zeros(channels, dtype=torch.float64)
    squares = torch.zeros(channels, dtype=torch.float64)
    for start in range(0, len(data), chunk):
        block = data.images[start:start + chunk].to(torch.float64).div_(255.0)
        total += block.sum(dim=(0, 2, 3)).cpu()
        squares += block.square().sum(dim=(0, 2, 3)).cpu()
    count = len(data) * data.images.shape[2] * data.images.shape[3]
    mean = total / count
    std = (squares / count - mean.square()).clamp_min(0).sqrt().clamp_min(1e-6)
    return tuple(mean.tolist()), tuple(std.tolist())


def convert_images(images: torch.Tensor, *, size: int | None = None, channels: int | None = None,
                   name: str = "images") -> torch.Tensor:
    """Resize (square, antialiased bilinear) and convert grey<->colour, keeping uint8.

    Used to feed a data set to a model whose input differs (MNIST at 28x28x1 into a CIFAR
    ResNet expecting 32x32x3).
    """
    n, c, h, w = images.shape
    out_channels, out_size = channels or c, (size, size) if size is not None else (h, w)
    check_memory(name, f"{n} images converted to {out_channels}x{out_size[0]}x{out_size[1]}",
                 n * out_channels * out_size[0] * out_size[1], CONVERTED_MAX_BYTES,
                 "use fewer samples (--samples N) or a model with a smaller input size")
    if out_channels != c and (c, out_channels) not in ((1, 3), (3, 1)):
        raise ResvizError(f"cannot convert images with {c} channels to {channels} channels")
    if (out_channels, *out_size) == (c, h, w):
        return images
    # In blocks, so the float intermediates stay small whatever the number of images.
    step = max(1, min(2048, _BLOCK_VALUES // (max(c, out_channels) * max(h * w, out_size[0] * out_size[1]))))
    out = images.new_empty((n, out_channels, *out_size))
    for start in range(0, n, step):
        block = images[start:start + step]
        if out_channels == 3 and c == 1:
            block = block.expand(-1, 3, h, w)
        elif out_channels == 1 and c == 3:
            # ITU-R 601 luma, as PIL's "L" conversion.
            weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
            block = (block.float() * weights).sum(1, keepdim=True).round_().clamp_(0, 255).to(torch.uint8)
        if out_size != (h, w):
            block = F.interpolate(block.float(), size=out_size, mode="bilinear", align_corners=False,
                                  antialias=out_size[0] < max(h, w)).round_().clamp_(0, 255).to(torch.uint8)
        out[start:start + step] = block
    return out
