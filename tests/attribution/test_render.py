import numpy as np
import pytest

from resviz.attribution.render import attribution_scale, colorize, normalize, overlay, render, signed_values, upscale
from resviz.colours import COLORMAPS, get_colormap
from resviz.errors import ResvizError

A = np.array([[-2.0, -1.0], [0.5, 4.0]], dtype=np.float32)


def test_signs_pick_the_evidence_shown():
    np.testing.assert_array_equal(signed_values(A, "positive"), [[0, 0], [0.5, 4]])
    np.testing.assert_array_equal(signed_values(A, "negative"), [[2, 1], [0, 0]])
    np.testing.assert_array_equal(signed_values(A, "absolute"), [[2, 1], [0.5, 4]])
    np.testing.assert_array_equal(signed_values(A, "all"), A)
    with pytest.raises(ResvizError, match="sign 'both' is not one of positive, negative, absolute, all"):
        signed_values(A, "both")


def test_normalize_ranges_and_no_clipping_at_zero_percentile():
    np.testing.assert_allclose(normalize(A, "all", clip_percentile=0), A / 4)
    np.testing.assert_allclose(normalize(A, "negative", clip_percentile=0), [[1, 0.5], [0, 0]])
    positive = normalize(A, "positive", clip_percentile=0)
    assert positive.min() == 0 and positive.max() == 1


def test_an_outlier_does_not_wash_out_the_map():
    values = np.linspace(0, 1, 10_000).reshape(100, 100).astype(np.float32)
    values[0, 0] = 1000.0
    plain = normalize(values, "positive", clip_percentile=0)
    clipped = normalize(values, "positive", clip_percentile=1.0)
    assert np.median(plain) < 0.001  # the single outlier squeezed everything to black
    assert 0.45 < np.median(clipped) < 0.55 and clipped[0, 0] == 1.0
    assert attribution_scale(values, "positive", 1.0) == pytest.approx(np.percentile(np.abs(values), 99))


def test_empty_and_sparse_maps():
    assert not normalize(np.zeros((4, 4)), "all").any()
    sparse = np.zeros((10, 10))
    sparse[3, 3] = 2.0  # fewer non-zero pixels than the clipped percentile
    assert normalize(sparse, "positive", clip_percentile=5)[3, 3] == 1.0
    assert not normalize(-sparse, "positive").any()  # no positive evidence at all


def test_batches_are_normalised_map_by_map_unless_a_scale_is_shared():
    batch = np.stack([A, 10 * A])
    np.testing.assert_allclose(normalize(batch, "all", 0)[0], normalize(batch, "all", 0)[1])
    shared = normalize(batch, "all", 0, scale=40.0)
    np.testing.assert_allclose(shared[1], A / 4)
    np.testing.assert_allclose(shared[0], A / 40)


def test_colour_tables_are_256_uint8_and_diverging_is_white_in_the_middle():
    for name, table in COLORMAPS.items():
        assert table.shape == (256, 3) and table.dtype == np.uint8, name
    diverging = get_colormap("diverging")
    assert diverging[128].min() > 235  # near white for zero
    assert diverging[0, 2] > diverging[0, 0] and diverging[255, 0] > diverging[255, 2]  # blue low, red high
    with pytest.raises(ResvizError, match=r"unknown colour map 'virdis' \(did you mean viridis.*colour maps are"):
        get_colormap("virdis")


def test_colorize_looks_values_up_in_the_table():
    values = np.array([[-1.0, 0.0, 1.0]])
    rgb = colorize(values, "all", "diverging")
    table = get_colormap("diverging")
    np.testing.assert_array_equal(rgb[0], table[[0, 128, 255]])
    grey = colorize(np.array([[0.0, 1.0]]), "positive", "grey")
    np.testing.assert_array_equal(grey[0], [[0, 0, 0], [255, 255, 255]])


def test_overlay_shows_the_image_where_the_map_is_zero_and_the_colour_where_it_is_full():
    image = np.full((2, 2, 3), (200, 40, 40), dtype=np.uint8)
    values = np.array([[0.0, 1.0], [0.5, 0.0]])
    out = overlay(image, values, "positive", cmap="grey", alpha=1.0, background="colour")
    np.testing.assert_array_equal(out[0, 0], image[0, 0])          # no evidence: the image itself
    np.testing.assert_array_equal(out[0, 1], [255, 255, 255])      # full evidence, alpha 1: the colour
    assert out.dtype == np.uint8 and out.shape == (2, 2, 3)
    greyed = overlay(image, values, "positive", alpha=0.0)
    assert np.ptp(greyed[0, 0]) == 0  # grey background: the colour drained from the image
    with pytest.raises(ResvizError, match="the map is 3x3 and the image 2x2"):
        overlay(image, np.zeros((3, 3)), "all")


def test_render_accepts_channel_first_and_grey_images():
    attribution = np.random.default_rng(0).normal(size=(5, 5))
    chw = np.random.default_rng(1).integers(0, 255, size=(3, 5, 5), dtype=np.uint8)
    assert render(attribution, chw).shape == (5, 5, 3)
    assert render(attribution, np.zeros((5, 5), dtype=np.float32)).shape == (5, 5, 3)
    assert render(attribution).shape == (5, 5, 3)
    with pytest.raises(ResvizError, match="one map"):
        render(np.zeros((2, 5, 5)))


def test_upscale_repeats_pixels():
    image = np.arange(4, dtype=np.uint8).reshape(2, 2)
    np.testing.assert_array_equal(upscale(image, 2), [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]])
