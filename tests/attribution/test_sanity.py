import numpy as np
import pytest
import torch
from torch import nn

from resviz.attribution import attribute
from resviz.attribution.figures import save_localisation, save_randomisation
from resviz.attribution.sanity import (
    block_of,
    localisation_scores,
    randomisation_groups,
    randomisation_test,
    rank,
    score_localisation,
    spearman,
)
from resviz.errors import ResvizError
from resviz.graph import model_blocks
from tests.graph.user_models import UserNet


def test_ranks_average_ties_like_scipy():
    np.testing.assert_array_equal(rank(np.array([10.0, 20.0, 20.0, 5.0])), [2.0, 3.5, 3.5, 1.0])
    np.testing.assert_array_equal(rank(np.array([3.0, 3.0, 3.0])), [2.0, 2.0, 2.0])


def test_spearman_of_known_orderings():
    a = np.arange(20.0)
    assert spearman(a, a ** 3) == pytest.approx(1.0)
    assert spearman(a, -a) == pytest.approx(-1.0)
    assert spearman(a, np.ones(20)) == 0.0
    # Pearson's r of the ranks, by hand: ranks (1,2,3) vs (1,3,2) -> r = 0.5
    assert spearman(np.array([1.0, 2.0, 3.0]), np.array([1.0, 3.0, 2.0])) == pytest.approx(0.5)


def test_a_layer_belongs_to_the_block_that_contains_it():
    blocks = ["layer2.0", "layer2.1", "features"]
    assert block_of("layer2.0.conv1", blocks) == "layer2.0" and block_of("layer2.0.downsample.0", blocks) == "layer2.0"
    assert block_of("layer2.10.conv1", blocks) == "layer2.10.conv1"  # not inside layer2.1
    assert block_of("fc", blocks) == "fc" and block_of("features.3", blocks) == "features"


def test_blocks_and_cascade_order(model, inputs):
    groups = randomisation_groups(model, inputs[:1])
    labels = [label for label, _ in groups]
    assert labels == ["fc", "layer3.0", "layer2.0", "layer1.0", "bn1", "conv1"]
    assert dict(groups)["layer3.0"] == ["layer3.0.conv1", "layer3.0.bn1", "layer3.0.conv2", "layer3.0.bn2"]
    single = randomisation_groups(model, inputs[:1], "layers")
    assert single[0] == ("fc", ["fc"]) and single[-1] == ("conv1", ["conv1"]) and len(single) == 15


def test_the_cascade_randomises_the_blocks_the_recorder_watches():
    torch.manual_seed(0)
    model = UserNet().eval()
    example = torch.randn(1, 3, 8, 8)
    groups = randomisation_groups(model, example)
    assert [label for label, _ in groups] == ["head", "unit_b", "unit_a", "stem"]
    assert dict(groups)["unit_b"] == ["unit_b.body.0", "unit_b.body.2", "unit_b.shortcut"]
    assert [block.name for block in model_blocks(model, example)] == ["unit_a", "unit_b"]


def test_randomising_the_only_layer_of_a_linear_model_decorrelates_saliency():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4)).eval()
    x = torch.randn(2, 3, 8, 8)
    weights = model[1].weight.detach().clone()
    result = randomisation_test(model, x, "saliency", target=[1, 2])
    assert result.steps == ["original", "1"] and result.maps.shape == (2, 2, 8, 8)
    # Saliency of a linear model is |w|: the original map is the trained weights, the randomised one new weights.
    np.testing.assert_allclose(result.maps[0, 0], weights[1].abs().reshape(3, 8, 8).sum(0).numpy(), rtol=1e-5)
    assert abs(result.spearman_abs[0]).max() < 0.35
    assert torch.equal(model[1].weight, weights)  # the model itself was not touched


def test_cascade_on_a_resnet_with_scores_and_figure(tmp_path, model, inputs):
    seen = []
    result = randomisation_test(model, inputs[:2], "grad_cam", progress=seen.append)
    assert result.steps[0] == "original" and result.steps[1] == "fc" and result.layer == "layer3"
    assert result.maps.shape == (7, 2, 16, 16) and result.spearman_abs.shape == (6, 2)
    assert np.all(np.abs(result.spearman_abs) <= 1.0) and seen[-1] == 1.0
    data = result.to_dict()
    assert data["steps"][0]["randomised_down_to"] == "fc" and len(data["steps"]) == 6
    path = save_randomisation(result, [np.zeros((16, 16, 3), np.uint8)] * 2, tmp_path / "sanity.png", dpi=50)
    assert path.stat().st_size > 1000


def test_pointing_game_and_energy_on_hand_made_maps():
    masks = np.zeros((3, 4, 4), dtype=bool)
    masks[:, 1:3, 1:3] = True
    maps = np.zeros((3, 4, 4))
    maps[0, 1, 1] = 3.0
    maps[0, 0, 0] = 1.0  # 3 of 4 units of positive evidence inside, peak inside
    maps[1, 0, 3] = 2.0
    maps[1, 2, 2] = 2.0  # a tie between inside and outside counts as a hit; half the energy inside
    maps[2, 3, 3] = 5.0
    maps[2, 1, 1] = -9.0  # negative evidence is not counted by the positive sign
    scores = localisation_scores(maps, masks, "positive")
    assert scores.pointing_hits.tolist() == [True, True, False]
    np.testing.assert_allclose(scores.energy, [0.75, 0.5, 0.0])
    np.testing.assert_allclose(scores.mask_fraction, 0.25)
    absolute = localisation_scores(maps, masks, "absolute")
    assert absolute.pointing_hits.tolist() == [True, True, True]
    np.testing.assert_allclose(absolute.energy[2], 9 / 14)
    # The peak at (3, 3) is sqrt(2) pixels from the mask's corner (2, 2).
    assert localisation_scores(maps[2:], masks[2:], "positive", tolerance=1).pointing_hits.tolist() == [False]
    assert localisation_scores(maps[2:], masks[2:], "positive", tolerance=2).pointing_hits.tolist() == [True]


def test_empty_maps_miss_with_no_energy():
    scores = localisation_scores(np.zeros((1, 4, 4)), np.ones((1, 4, 4), bool))
    assert scores.pointing_hits.tolist() == [False] and np.isnan(scores.energy[0])
    with pytest.raises(ResvizError, match="one sign"):
        localisation_scores(np.zeros((1, 4, 4)), np.ones((1, 4, 4), bool), "all")
    with pytest.raises(ResvizError, match="differ in shape"):
        localisation_scores(np.zeros((1, 4, 4)), np.ones((1, 5, 4), bool))


def test_score_localisation_on_shapes(tmp_path, model):
    from resviz.attribution import to_model_input
    from resviz.data import make_shapes

    data = make_shapes(8, size=16, seed=3)
    x = to_model_input(data.images)
    report = score_localisation(model, x, data.masks, "grad_cam", labels=data.labels.tolist(), batch_size=5)
    expected = attribute(model, x, data.labels.tolist(), "grad_cam").maps
    np.testing.assert_allclose(report.maps, expected, rtol=1e-5, atol=1e-6)
    direct = localisation_scores(expected, data.masks.numpy())
    np.testing.assert_array_equal(report.scores.pointing_hits, direct.pointing_hits)
    assert report.target.tolist() == data.labels.tolist()
    assert report.to_dict()["explained_true_class"] is True
    images = [np.moveaxis(image, 0, -1) for image in data.images.numpy()]
    assert save_localisation(report, images, tmp_path / "loc.png", dpi=50).stat().st_size > 1000
