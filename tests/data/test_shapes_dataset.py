"""The synthetic shapes data set: classes, determinism, grey/colour, sizes, masks that match the pixels."""

from __future__ import annotations

import pytest
import torch

from resviz.data import SHAPE_CLASSES, dataset_stats, load_dataset, make_shapes
from resviz.errors import ResvizError


def test_shapes_are_balanced_deterministic_and_masked():
    data = make_shapes(120, size=32, channels=3, seed=7)
    assert len(data) == 120 and data.images.shape == (120, 3, 32, 32) and data.images.dtype == torch.uint8
    assert data.classes == list(SHAPE_CLASSES) and len(data.classes) >= 6
    assert data.class_counts() == [20] * 6
    assert data.masks.shape == (120, 32, 32) and data.masks.dtype == torch.bool

    again = make_shapes(120, size=32, channels=3, seed=7)
    assert torch.equal(again.images, data.images) and torch.equal(again.labels, data.labels)
    assert torch.equal(again.masks, data.masks)
    other = make_shapes(120, size=32, channels=3, seed=8)
    assert not torch.equal(other.images, data.images)


def test_masks_mark_the_shape_pixels():
    data = make_shapes(60, size=32, channels=1, seed=1, noise=0.0)
    for image, mask in zip(data.images[:, 0].float(), data.masks):
        assert 10 < int(mask.sum()) < 32 * 32 * 0.6  # a visible shape that does not fill the image
        inside, outside = image[mask], image[~mask]
        # Without noise the shape is one grey level and the ground another, ~0.2 apart or more.
        assert inside.unique().numel() == 1 and outside.unique().numel() == 1
        assert abs(float(inside[0]) - float(outside[0])) >= 0.19 * 255


def test_classes_have_distinct_geometry():
    data = make_shapes(600, size=32, channels=1, seed=3, noise=0.0)
    fill = data.masks.flatten(1).float().sum(1)
    radius_sq = torch.zeros(len(data))  # compare area relative to the bounding box of the mask
    for i, mask in enumerate(data.masks):
        ys, xs = torch.nonzero(mask, as_tuple=True)
        radius_sq[i] = ((ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)).float()
    density = fill / radius_sq
    by_class = {name: density[data.labels == k].mean().item() for k, name in enumerate(data.classes)}
    # A circle fills ~pi/4 of its box; a ring and stripes much less; a square (rotated) and cross in between.
    assert 0.7 < by_class["circle"] < 0.85
    assert by_class["ring"] < by_class["circle"] - 0.15
    assert by_class["stripes"] < 0.6 and by_class["cross"] < 0.6 and by_class["triangle"] < 0.6


def test_grey_colour_and_size_options():
    grey = make_shapes(12, size=48, channels=1, seed=0)
    assert grey.images.shape == (12, 1, 48, 48) and grey.masks.shape == (12, 48, 48)
    colour = make_shapes(12, size=16, channels=3, seed=0)
    channel_spread = (colour.images[:, 0].float() - colour.images[:, 1].float()).abs().mean()
    assert channel_spread > 5  # real colours, not three copies of one grey
    with pytest.raises(ResvizError, match="channels must be 1 \\(grey\\) or 3"):
        make_shapes(4, channels=2)
    with pytest.raises(ResvizError, match="at least 8 pixels"):
        make_shapes(4, size=4)


def test_load_dataset_shapes_splits_differ_and_stats_are_per_channel():
    train = load_dataset("shapes", split="train", n=60, seed=0)
    test = load_dataset("shapes", split="test", n=60, seed=0)
    assert train.name == "shapes" and train.images.shape == (60, 3, 32, 32)
    assert not torch.equal(train.images, test.images)  # held-out images are new ones
    assert torch.equal(load_dataset("shapes", n=60, seed=0).images, train.images)
    assert len(load_dataset("shapes", split="test")) == 1000
    mean, std = dataset_stats(train)
    pixels = train.images.double().div(255).permute(1, 0, 2, 3).flatten(1)
    assert mean == pytest.approx(pixels.mean(1).tolist(), abs=1e-9)
    assert std == pytest.approx(pixels.std(1, unbiased=False).tolist(), abs=1e-6)
