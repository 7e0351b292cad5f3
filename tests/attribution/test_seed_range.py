"""Seeds anywhere in 0..2**63-1 work in the attribution API; beyond, one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from resviz.attribution import attribute
from resviz.attribution.sanity import randomisation_test
from resviz.errors import ResvizError


def linear_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4)).eval()


def test_a_large_seed_derives_layer_seeds_in_range():
    model, x = linear_model(), torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    high = randomisation_test(model, x, "saliency", target=[1, 2], seed=2**62)
    again = randomisation_test(model, x, "saliency", target=[1, 2], seed=2**62)
    np.testing.assert_array_equal(high.maps, again.maps)


def test_a_seed_past_2_63_is_one_line():
    model, x = linear_model(), torch.randn(1, 3, 8, 8)
    with pytest.raises(ResvizError, match=r"^seed=1180591620717411303424 is out of range: seeds must lie between 0 "
                                          r"and 2\*\*63-1$"):
        attribute(model, x, [0], "smoothgrad", seed=2**70)
