"""``BatchLoader``: batches of a split on the target device, normalised, optionally augmented.

The whole split moves to the device once as uint8; each batch is gathered, converted to
float and normalised there, so a training step never waits for a host-side data pipeline.
The order of epoch ``e`` depends only on (seed, e): two loaders with the same seed give the
same batches (the plain and residual twins see identical data), and a resumed run can
continue from any epoch with ``set_epoch``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F

from .types import ImageData, dataset_stats

CIFAR_PAD = 4  # He et al. 2016, section 4.2: pad 4, random 32x32 crop, horizontal flip


def _epoch_generator(seed: int, epoch: int, stream: int) -> torch.Generator:
    generator = torch.Generator()
    generator.manual_seed((int(seed) * 1_000_003 + int(epoch) * 7_919 + stream) % (1 << 63))
    return generator


def draw_augmentation(n: int, *, pad: int = CIFAR_PAD, generator: torch.Generator | None = None,
                      flip: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Random (2, n) crop offsets in 0..2*pad and (n,) flip flags, drawn on the CPU (device-independent)."""
    offsets = torch.randint(0, 2 * pad + 1, (2, n), generator=generator)
    flips = torch.rand(n, generator=generator) < 0.5 if flip else torch.zeros(n, dtype=torch.bool)
    return offsets, flips


def augment_batch(images: torch.Tensor, *, pad: int = CIFAR_PAD, generator: torch.Generator | None = None,
                  flip: bool = True, offsets: torch.Tensor | None = None,
                  flips: torch.Tensor | None = None) -> torch.Tensor:
    """Pad by ``pad`` zeros, crop back to the original size at a random offset, flip half horizontally.

    Done on the images' device with one gather. The offsets and flips are drawn from
    ``generator`` unless given (the loader draws a whole epoch's at once, so a step moves
    nothing to the device). Applied after normalisation, so the padding is the mean colour,
    as in the paper.
    """
    n, c, h, w = images.shape
    if n == 0:
        return images
    if offsets is None or flips is None:
        offsets, flips = draw_augmentation(n, pad=pad, generator=generator, flip=flip)
    device = images.device
    offsets, flips = offsets.to(device, non_blocking=True), flips.to(device, non_blocking=True)
    padded = F.pad(images, (pad, pad, pad, pad))
    rows = offsets[0, :, None] + torch.arange(h, device=device)  # (n, h)
    columns = torch.arange(w, device=device).expand(n, w)
    columns = torch.where(flips[:, None], columns.flip(1), columns) + offsets[1, :, None]  # (n, w)
    batch = torch.arange(n, device=device)[:, None, None]
    # Advanced indexing on dims 0, 2, 3 gives (n, h, w, c); move channels back.
    return padded[batch, :, rows[:, :, None], columns[:, None, :]].permute(0, 3, 1, 2).contiguous()


class BatchLoader:
    """Iterates a split in batches of float32 (B, C, H, W) images and int64 labels on ``device``."""

    def __init__(self, data: ImageData, *, batch_size: int, shuffle: bool, seed: int,
                 device: str | torch.device = "cpu", normalize: bool = True, augment: bool = False,
                 drop_last: bool = False, mean: Sequence[float] | None = None,
                 std: Sequence[float] | None = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.data = data
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.device = torch.device(device)
        self.normalize = normalize
        self.augment = augment
        self.drop_last = drop_last
        self.epoch = 0
        channels = data.images.shape[1]
        if normalize and (mean is None or std is None):
            stats_mean, stats_std = dataset_stats(data)
            mean = stats_mean if mean is None else mean
            std = stats_std if std is None else std
        if not normalize:
            mean, std = (0.0,) * channels, (1.0,) * channels
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        if len(self.mean) != channels or len(self.std) != channels:
            raise ValueError(f"mean and std need {channels} values (one per channel)")
        # uint8 -> normalised float as x * scale + shift, computed once on the device.
        std_tensor = torch.tensor(self.std, dtype=torch.float32)
        self._scale = (1.0 / (255.0 * std_tensor)).view(1, -1, 1, 1).to(self.device)
        self._shift = (-torch.tensor(self.mean, dtype=torch.float32) / std_tensor).view(1, -1, 1, 1).to(self.device)
        self._images = data.images.to(self.device)
        self._labels = data.labels.to(self.device)

    def __len__(self) -> int:
        n = len(self.data)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """The next ``iter()`` yields epoch ``epoch``'s order (for resuming)."""
        self.epoch = int(epoch)

    def order(self, epoch: int | None = None) -> torch.Tensor:
        """The sample indices of an epoch, in the order they are served."""
        epoch = self.epoch if epoch is None else epoch
        n = len(self.data)
        if not self.shuffle:
            return torch.arange(n)
        return torch.randperm(n, generator=_epoch_generator(self.seed, epoch, 0))

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        epoch = self.epoch
        self.epoch += 1
        # Everything random for the epoch moves to the device once, here; a step only slices it.
        order = self.order(epoch).to(self.device)
        offsets = flips = None
        if self.augment:
            offsets, flips = draw_augmentation(len(self.data), generator=_epoch_generator(self.seed, epoch, 1))
            offsets, flips = offsets.to(self.device), flips.to(self.device)
        for number in range(len(self)):
            part = slice(number * self.batch_size, (number + 1) * self.batch_size)
            images = self._images.index_select(0, order[part]).to(torch.float32)
            images = images.mul_(self._scale).add_(self._shift)
            if offsets is not None:
                images = augment_batch(images, offsets=offsets[:, part], flips=flips[part])
            yield images, self._labels.index_select(0, order[part])

    def denormalize(self, images: torch.Tensor) -> torch.Tensor:
        """Batches back to [0, 1] pixel values (for showing them or attribution overlays)."""
        return ((images - self._shift.to(images.device)) / self._scale.to(images.device)) / 255.0
