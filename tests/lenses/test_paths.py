"""The paths gradients take: exact on scalar linear blocks, exact as a sum on a zoo ResNet,
short paths carry most of the gradient, and the refusals."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest
import torch
from torch import nn

from resviz.errors import ResvizError
from resviz.lenses.paths import gate_paths, path_decomposition, path_gradient, paths_lens_result
from resviz.lenses.signal import freeze_batch_statistics
from resviz.models import get_model

WEIGHTS = (0.5, -2.0, 3.0, 0.25, -0.75)


class ScalarBlock(nn.Module):
    """y = x + w x: the branch multiplies by w, the shortcut by 1."""

    def __init__(self, weight: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.tensor(weight))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.weight * x


def test_every_path_through_scalar_linear_blocks_carries_the_product_of_its_branches_weights():
    # y = prod(1 + w_i) x: the path through the set S of branches has gradient prod_{i in S} w_i.
    model = nn.Sequential(*[ScalarBlock(w) for w in WEIGHTS])
    gated = gate_paths(model, torch.ones(1, 1))
    n = len(WEIGHTS)
    assert gated.blocks == [str(i) for i in range(n)]
    x = torch.ones(1, 1, requires_grad=True)
    value = gated.module(x).sum()
    for k in range(n + 1):
        for subset in combinations(range(n), k):
            gradient = path_gradient(gated, value, x, [i in subset for i in range(n)])
            assert gradient.item() == pytest.approx(math.prod(WEIGHTS[i] for i in subset), abs=1e-6)
    # the forward pass is the model's, and all paths together give the whole gradient
    assert value.item() == pytest.approx(math.prod(1 + w for w in WEIGHTS))
    assert path_gradient(gated, value, x, None).item() == pytest.approx(math.prod(1 + w for w in WEIGHTS))

    decomposition = path_decomposition(gated, torch.ones(1, 1), samples=10, objective=lambda out: out.sum())
    assert decomposition.exact.all()  # C(5, k) <= 10 for every k: every path was measured
    for k in range(n + 1):
        expected = np.mean([abs(math.prod(WEIGHTS[i] for i in s)) for s in combinations(range(n), k)])
        assert decomposition.magnitude[k] == pytest.approx(expected, rel=1e-6)
    assert decomposition.distribution == pytest.approx([math.comb(n, k) / 2 ** n for k in range(n + 1)])
    assert decomposition.share.sum() == pytest.approx(1.0)


def test_the_paths_of_a_zoo_resnet_sum_to_its_whole_input_gradient():
    # Three blocks (one identity and two zero-pad shortcuts), ReLU after each merge: the backward
    # pass is linear, so the 8 paths' gradients add up to the network's.
    model = get_model("resnet20", depth=8, width=2, input_size=8)
    inputs = torch.randn(3, *model.input_shape)
    gated = gate_paths(model, inputs[:1])
    assert gated.blocks == ["layer1.0", "layer2.0", "layer3.0"]
    freeze_batch_statistics(gated.module, inputs)
    model.eval()
    freeze_batch_statistics(model, inputs)
    probe = inputs.clone().requires_grad_(True)
    value = gated.module(probe).square().sum()
    assert torch.allclose(gated.module(inputs), model(inputs), atol=1e-5)  # the forward pass is unchanged
    whole = path_gradient(gated, value, probe, None)
    paths = [path_gradient(gated, value, probe, [bool(code >> i & 1) for i in range(3)]) for code in range(8)]
    assert torch.allclose(sum(paths), whole, rtol=1e-4, atol=1e-6)
    assert not torch.allclose(paths[0], whole, rtol=1e-2)  # no single path is the whole gradient


def test_most_gradient_flows_through_short_paths():
    # A 12-block residual MLP at initialisation: over 6 seeds the share of gradient peaked at
    # length 3 or 4 and its mean length lay in 3.6..4.0, well below n/2 = 6.
    for seed in range(3):
        torch.manual_seed(seed)
        model = get_model("mlp_residual", depth=12, width=16, input_size=8)
        inputs = torch.randn(4, *model.input_shape)
        gated = gate_paths(model, inputs[:1])
        decomposition = path_decomposition(gated, inputs, samples=4, seed=seed)
        assert decomposition.n == 12
        assert decomposition.peak_length < 6
        assert decomposition.mean_length < 0.4 * decomposition.n
        assert decomposition.paths_measured.tolist() == [1] + [4] * 11 + [1]
        assert decomposition.exact[0] and decomposition.exact[-1] and not decomposition.exact[6]


def test_the_decomposition_becomes_a_lens_result():
    model = nn.Sequential(*[ScalarBlock(w) for w in WEIGHTS[:3]])
    decomposition = path_decomposition(gate_paths(model, torch.ones(1, 1)), torch.ones(2, 1), samples=3,
                                       objective=lambda out: out.sum())
    result = paths_lens_result(decomposition, {"model": "scalar"})
    assert result.name == "paths" and result.params["model"] == "scalar"
    assert result.summary["blocks"] == 3 and result.summary["peak_length"] == decomposition.peak_length
    assert np.array_equal(result.arrays["share"], decomposition.share)


def test_models_without_additive_skips_are_refused_in_one_line():
    with pytest.raises(ResvizError, match="no additive skip connection") as info:
        gate_paths(get_model("mlp_plain", depth=2, width=4, input_size=4))
    assert "\n" not in str(info.value)
