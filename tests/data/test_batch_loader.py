"""BatchLoader: normalisation, reproducible order, the He et al. augmentation, and what reaches the model."""

from __future__ import annotations

import pytest
import torch

from resviz.data import BatchLoader, ImageData, augment_batch, dataset_stats, make_shapes


def tiny(n=10, channels=3, size=8):
    images = torch.arange(n * channels * size * size, dtype=torch.int64).remainder(256).to(torch.uint8)
    return ImageData(images.view(n, channels, size, size), torch.arange(n) % 3, ["a", "b", "c"], "tiny")


def test_batches_are_normalised_float_and_cover_the_split():
    data = make_shapes(50, size=16, seed=0)
    loader = BatchLoader(data, batch_size=16, shuffle=True, seed=1)
    assert len(loader) == 4
    batches = list(loader)
    assert [len(y) for _, y in batches] == [16, 16, 16, 2]
    images = torch.cat([x for x, _ in batches])
    assert images.dtype == torch.float32 and images.shape == (50, 3, 16, 16)
    # Normalised with the split's own statistics: mean 0 and std 1 per channel.
    per_channel = images.permute(1, 0, 2, 3).flatten(1)
    assert per_channel.mean(1).abs().max() < 1e-5 and (per_channel.std(1) - 1).abs().max() < 1e-2
    mean, std = dataset_stats(data)
    order = loader.order(0)
    expected = (data.images[order].float() / 255 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(
        1, 3, 1, 1)
    torch.testing.assert_close(images, expected, atol=1e-5, rtol=1e-5)
    assert torch.equal(torch.cat([y for _, y in batches]), data.labels[order])


def test_same_seed_same_order_and_epochs_differ():
    data = tiny(30)
    first, second = (BatchLoader(data, batch_size=7, shuffle=True, seed=5, drop_last=True) for _ in range(2))
    assert len(first) == 4
    for _ in range(3):  # three epochs
        a = [y for _, y in first]
        b = [y for _, y in second]
        assert all(torch.equal(x, y) for x, y in zip(a, b)) and sum(len(y) for y in a) == 28
    assert not torch.equal(first.order(0), first.order(1))
    resumed = BatchLoader(data, batch_size=7, shuffle=True, seed=5)
    resumed.set_epoch(2)
    assert torch.equal(next(iter(resumed))[1], data.labels[first.order(2)[:7]])
    unshuffled = BatchLoader(data, batch_size=30, shuffle=False, seed=5, normalize=False)
    x, y = next(iter(unshuffled))
    assert torch.equal(y, data.labels)
    torch.testing.assert_close(x, data.images.float() / 255)


def test_explicit_statistics_and_denormalize():
    data = tiny(4, channels=1)
    loader = BatchLoader(data, batch_size=4, shuffle=False, seed=0, mean=[0.5], std=[0.25])
    x, _ = next(iter(loader))
    torch.testing.assert_close(x, (data.images.float() / 255 - 0.5) / 0.25)
    torch.testing.assert_close(loader.denormalize(x), data.images.float() / 255)
    with pytest.raises(ValueError, match="one per channel"):
        BatchLoader(data, batch_size=2, shuffle=False, seed=0, mean=[0.5, 0.5], std=[1, 1])


def reference_augment(image, dy, dx, flip, pad=4):
    """The augmentation written the slow, obvious way for one image."""
    padded = torch.nn.functional.pad(image, (pad, pad, pad, pad))
    crop = padded[:, dy:dy + image.shape[1], dx:dx + image.shape[2]]
    return crop.flip(-1) if flip else crop


def test_augmentation_is_pad_crop_flip():
    images = torch.randn(64, 3, 8, 8)
    generator = torch.Generator().manual_seed(11)
    out = augment_batch(images, generator=generator)
    replay = torch.Generator().manual_seed(11)
    offsets = torch.randint(0, 9, (2, 64), generator=replay)
    flips = torch.rand(64, generator=replay) < 0.5
    for i in range(64):
        expected = reference_augment(images[i], int(offsets[0, i]), int(offsets[1, i]), bool(flips[i]))
        assert torch.equal(out[i], expected), i
    assert out.shape == images.shape and out.is_contiguous()
    assert 10 < int(flips.sum()) < 54 and len(set(offsets[0].tolist())) == 9  # all offsets 0..8 occur


def test_loader_augments_only_when_asked_and_reproducibly():
    data = make_shapes(32, size=16, seed=2)
    plain = BatchLoader(data, batch_size=32, shuffle=False, seed=0)
    augmented = BatchLoader(data, batch_size=32, shuffle=False, seed=0, augment=True)
    again = BatchLoader(data, batch_size=32, shuffle=False, seed=0, augment=True)
    (x_plain, _), (x_aug, _), (x_again, _) = next(iter(plain)), next(iter(augmented)), next(iter(again))
    assert torch.equal(x_aug, x_again) and not torch.equal(x_aug, x_plain)
    # Each augmented image is a shifted (maybe mirrored) window of its original, zero (= mean) padded.
    for original, shifted in zip(x_plain[:8], x_aug[:8]):
        candidates = [reference_augment(original, dy, dx, flip) for dy in range(9) for dx in range(9)
                      for flip in (False, True)]
        assert any(torch.equal(shifted, c) for c in candidates)


def test_an_epoch_of_augmented_batches_matches_the_drawn_augmentation():
    from resviz.data import draw_augmentation
    from resviz.data.loader import _epoch_generator

    data = make_shapes(20, size=8, seed=4)
    loader = BatchLoader(data, batch_size=6, shuffle=True, seed=9, augment=True, normalize=False)
    batches = [x for x, _ in loader]
    offsets, flips = draw_augmentation(20, generator=_epoch_generator(9, 0, 1))
    order = loader.order(0)
    for number, batch in enumerate(batches):
        for row, image in enumerate(batch):
            k = number * 6 + row
            original = data.images[order[k]].float() / 255
            expected = reference_augment(original, int(offsets[0, k]), int(offsets[1, k]), bool(flips[k]))
            torch.testing.assert_close(image, expected)
