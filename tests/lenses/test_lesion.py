"""Lesion studies against a model built so that each deletion has a known effect."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from resviz.errors import ResvizError
from resviz.graph.hooks import hook_count
from resviz.lenses.lesion import ShortcutToShape, accuracy_with_deleted, deletable_blocks, lesion_study


class Residual(nn.Module):
    def __init__(self, scale: float) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 2, bias=False)
        with torch.no_grad():
            self.linear.weight.copy_(scale * torch.eye(2))

    def forward(self, x):
        return x + self.linear(x)


class Plain(Residual):
    """The same block without its skip."""

    def forward(self, x):
        return self.linear(x)


class Signs(nn.Module):
    """a: x + 0x = x; b: -x; c: -x + (-2)(-x) = x. The logits are the input itself: all right.
    Deleting a changes nothing; deleting b or c alone negates the logits (all wrong); both, nothing."""

    input_shape = (2,)

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.c = Residual(0.0), Plain(-1.0), Residual(-2.0)

    def forward(self, x):
        return self.c(self.b(self.a(x)))


def _data():
    x = torch.randn(50, 2, generator=torch.Generator().manual_seed(0))
    return x, x.argmax(1)


def test_each_deletion_has_its_known_effect():
    model, (x, y) = Signs(), _data()
    plan = deletable_blocks(model)
    assert [(d.block, d.shortcut, d.skip is not None) for d in plan] == [
        ("a", "identity", True), ("b", "identity", False), ("c", "identity", True)]
    assert accuracy_with_deleted(model, x, y) == 1.0
    assert accuracy_with_deleted(model, x, y, ["a"]) == 1.0
    assert accuracy_with_deleted(model, x, y, ["b"]) == 0.0
    assert accuracy_with_deleted(model, x, y, ["c"]) == 0.0
    assert accuracy_with_deleted(model, x, y, ["b", "c"]) == 1.0
    assert accuracy_with_deleted(model, x, y, ["a", "b", "c"]) == 1.0
    assert model.b.__class__ is Plain and hook_count(model) == 0     # restored


def test_the_study_scores_every_block_and_random_sets():
    model, (x, y) = Signs(), _data()
    study = lesion_study(model, x, y, draws=4, seed=1)
    assert study.blocks == ["a", "b", "c"] and study.baseline == 1.0 and study.chance == 0.5
    np.testing.assert_array_equal(study.single, [1.0, 0.0, 0.0])
    assert study.random.shape == (3, 4)
    assert set(study.random[0].tolist()) <= {0.0, 1.0}
    np.testing.assert_array_equal(study.random[2], [1.0] * 4)   # all three deleted: x again
    stored = study.to_lens_result()
    assert stored.name == "lesion" and stored.summary["single_min"] == 0.0


def test_a_blocks_own_shortcut_is_kept_and_a_plain_downsampling_block_gets_the_pad_shortcut():
    from resviz.models import get_model

    for name, expected in (("resnet20", "layer2.0.downsample"), ("plain20", "pad")):
        model = get_model(name, input_size=8, width=4).eval()
        by_block = {d.block: d for d in deletable_blocks(model)}
        assert by_block["layer2.0"].shortcut == expected
        assert by_block["layer1.1"].shortcut == "identity"
    x = torch.arange(2 * 4 * 8 * 8, dtype=torch.float32).view(2, 4, 8, 8)
    padded = ShortcutToShape((8, 4, 4))(x)
    assert padded.shape == (2, 8, 4, 4)
    assert torch.equal(padded[:, 2:6], x[:, :, ::2, ::2]) and not padded[:, :2].any() and not padded[:, 6:].any()
    # Option A of the residual twin is the same shortcut as the plain twin's pad.
    residual = get_model("resnet20", input_size=8, width=4)
    assert torch.equal(residual.layer2[0].downsample(x), padded)


def test_an_unknown_block_is_a_one_line_error():
    model, (x, y) = Signs(), _data()
    with pytest.raises(ResvizError, match="no deletable block 'd'"):
        accuracy_with_deleted(model, x, y, ["d"])
    assert model.c.__class__ is Residual
