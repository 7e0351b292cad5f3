"""Max-pooling a heatmap to screen width: no spike is lost, growing in chunks matches pooling at once."""

from __future__ import annotations

import numpy as np

from resviz.views.decimate import MaxPyramid, max_pool_rows


def test_pyramid_matches_a_one_shot_max_pool_while_growing_in_chunks():
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((5000, 7)).astype(np.float32)
    rows[3333, 4] = 50.0  # a one-step spike must survive pooling
    pyramid = MaxPyramid(7, max_columns=64)
    for end in range(0, 5001, 137):
        pyramid.update(rows, end)
    pyramid.update(rows, 5000)
    image = pyramid.image(rows, 5000)
    assert len(image) <= 64
    bin_ = pyramid.bin
    assert bin_ == 128  # the smallest power of two that fits 5000 rows in 64 columns
    expected = np.stack([rows[i:i + bin_].max(axis=0) for i in range(0, 5000, bin_)])
    np.testing.assert_array_equal(image, expected)
    assert image.max() == 50.0 and image[3333 // bin_, 4] == 50.0


def test_pyramid_prefix_images_show_only_the_first_rows():
    rows = np.arange(1000 * 3, dtype=np.float32).reshape(1000, 3)
    pyramid = MaxPyramid(3, max_columns=16)
    pyramid.update(rows, 1000)
    image = pyramid.image(rows, 300)
    assert image.max() == rows[299].max()
    assert len(image) == int(np.ceil(300 / pyramid.bin))
    pooled, bin_ = max_pool_rows(rows[:10], 16)
    assert bin_ == 1 and np.array_equal(pooled, rows[:10])
