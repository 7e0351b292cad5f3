"""The loss landscape's headline claim on tiny trained twins (Li et al. 2018, Fig. 5): without skip
connections a deep, thin net's loss surface turns chaotic, with the skips it stays a bowl.

Plain-32 and ResNet-32 (width 4, 8x8 shapes) trained for 150 Adam steps from the same seed and
batches, BatchNorm's running statistics then recomputed over the training set (the landscape runs
in eval mode). Each net's roughness is the mean over six 1-D landscapes (directions drawn from
seeds 0-5, 61 points over [-1, 1], 64 test images) of the bumps per line (rises and falls beyond
1e-4 of the loss; 0 for a bowl). Measured over training seeds 0-9 (plain / residual):

    seed          0     1     2     3     4     5     6     7     8     9
    plain       2.17  1.00  1.83  2.17  1.50  3.33  2.17  1.83  0.83  2.17
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

from resviz.data import load_dataset
from resviz.lenses.landscape import loss_landscape
from resviz.models import get_model

DIRECTIONS = 6


def _train(name: str, x: torch.Tensor, y: torch.Tensor, seed: int = 0, steps: int = 150) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = get_model(name, input_size=8, width=4, num_classes=6)
    optimiser = torch.optim.Adam(model.parameters(), lr=0.005)
    batches = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        index = torch.randint(0, len(x), (32,), generator=batches)
        loss = torch.nn.functional.cross_entropy(model(x[index]), y[index])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    # The landscape runs in eval mode: give BatchNorm the exact statistics of the trained weights
    # (the running averages lag behind weights that moved fast).
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None                     # a cumulative average over the passes below
    with torch.no_grad():
        for start in range(0, len(x), 256):
            model(x[start:start + 256])
    for norm in norms:
        norm.momentum = 0.1
    return model.eval()


def _measure(name: str, seed: int = 0) -> dict[str, float]:
    """Train ``name`` from ``seed``; its mean roughness over the 1-D landscapes along directions
    0 .. DIRECTIONS - 1, its loss and accuracy at the checkpoint."""
    train = load_dataset("shapes", split="train", n=1024, size=8, seed=0)
    test = load_dataset("shapes", split="test", n=64, size=8, seed=0)
    x, y = train.images.float() / 255 - 0.5, train.labels
    x_test, y_test = test.images.float() / 255 - 0.5, test.labels
    model = _train(name, x, y, seed)
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
