"""The loss landscape's headline claim on tiny trained twins (Li et al. 2018, Fig. 5): without skip
connections a deep, thin net's loss surface turns chaotic, with the skips it stays a bowl.

Plain-32 and ResNet-32 (width 4, 8x8 shapes) trained for 150 Adam steps from the same seed and
batches, BatchNorm's running statistics then recomputed over the training set (the landscape runs
in eval mode; seeds 0-4 measured with them computed in one pass, as below, seeds 5-9 as the mean
of four passes of 256). Each net's roughness is the mean over six 1-D landscapes (directions drawn from
seeds 0-5, 61 points over [-1, 1], 64 test images) of the bumps per line (rises and falls beyond
1e-4 of the loss; 0 for a bowl). Measured over training seeds 0-9 (plain / residual):

    seed          0     1     2     3     4     5     6     7     8     9
    plain       2.17  1.00  1.83  2.17  1.33  3.33  2.17  1.83  0.83  2.17
    residual    0.00  0.17  0.00  0.17  0.50  0.17  0.00  0.00  0.00  0.33
    plain loss  1.49  1.58  1.53  1.68  1.52  1.65  1.76  1.58  1.27  1.47
    res. loss   1.12  1.12  1.04  1.12  1.19  1.16  1.06  1.27  1.00  1.31

so the plain net has at least 0.83 bumps per line more and at least 0.83 in all (asserted: 0.4
and 0.4); one bump more or less on one of the six lines moves a mean by 0.17. Both learned
something, the plain net slowly at this depth and width: loss at the checkpoint below chance
(ln 6 = 1.79), test accuracy 0.20 to 0.41 for the plain net and 0.44 to 0.61 for the residual one
(chance 1/6). Training and both landscapes took 8.3 to 10.9 s on one thread of a busy 2-core CPU.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from resviz.lenses.landscape import loss_landscape
from resviz.lenses.signal import freeze_batch_statistics

from .claim_support import shapes, train_twin

DIRECTIONS = 6


def _trained(name: str, x: torch.Tensor, y: torch.Tensor, seed: int) -> torch.nn.Module:
    """The twin trained from ``seed``, then in eval mode with BatchNorm's statistics of the whole
    training set: the running averages lag behind weights that moved fast, and the landscape runs
    in eval mode."""
    model = train_twin(name, x, y, width=4, seed=seed)
    freeze_batch_statistics(model, x)
    return model


def _measure(name: str, seed: int = 0) -> dict[str, float]:
    """Train ``name`` from ``seed``; its mean roughness over the 1-D landscapes along directions
    0 .. DIRECTIONS - 1, its loss and accuracy at the checkpoint."""
    (x, y), (x_test, y_test) = shapes("train", 1024), shapes("test", 64)
    model = _trained(name, x, y, seed)
    lines = [loss_landscape(model, x_test, y_test, grid=61, span=1.0, seed=d, dims=1) for d in range(DIRECTIONS)]
    return {"roughness": float(np.mean([line.roughness for line in lines])), "loss": lines[0].centre_loss,
            "accuracy": float(lines[0].accuracy_1d[30])}


def test_the_plain_net_has_the_bumpier_landscape():
    plain, residual = _measure("plain32"), _measure("resnet32")
    chance = math.log(6)
    assert plain["loss"] < chance and residual["loss"] < chance              # both learned something
    assert plain["accuracy"] > 1 / 6 and residual["accuracy"] > 1 / 6
    assert plain["roughness"] >= residual["roughness"] + 0.4
    assert plain["roughness"] >= 0.4
