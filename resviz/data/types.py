"""``ImageData``: a whole split of an image data set held in memory as uint8 tensors."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import ResvizError


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


def convert_images(images: torch.Tensor, *, size: int | None = None, channels: int | None = None) -> torch.Tensor:
    """Resize (square, antialiased bilinear) and convert grey<->colour, keeping uint8.

    Used to feed a data set to a model whose input differs (MNIST at 28x28x1 into a CIFAR
    ResNet expecting 32x32x3).
    """
    n, c, h, w = images.shape
    if channels is not None and channels != c:
        if channels == 3 and c == 1:
            images = images.expand(n, 3, h, w).contiguous()
        elif channels == 1 and c == 3:
            # ITU-R 601 luma, as PIL's "L" conversion.
            weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
            images = (images.float() * weights).sum(1, keepdim=True).round_().clamp_(0, 255).to(torch.uint8)
        else:
            raise ResvizError(f"cannot convert images with {c} channels to {channels} channels")
    if size is not None and (h, w) != (size, size):
        resized = []
        for start in range(0, n, 2048):
            block = images[start:start + 2048].float()
            block = F.interpolate(block, size=(size, size), mode="bilinear", align_corners=False,
                                  antialias=size < max(h, w))
            resized.append(block.round_().clamp_(0, 255).to(torch.uint8))
        images = torch.cat(resized) if resized else images.new_zeros((0, images.shape[1], size, size))
    return images
