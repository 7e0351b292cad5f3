"""The lesion study's headline claim on tiny trained twins (Veit et al. 2016): deleting one block
of the residual net costs a little accuracy, deleting one of the plain net's drops it to chance.

Plain-20 and ResNet-20 (width 8, 8x8 shapes) trained for 150 Adam steps from the same seed and
batches. Measured over seeds 0-3 (``retained``: the share of the accuracy above chance that is
kept, on average, with one block deleted): residual 0.84, 0.89, 0.59, 0.88; plain 0.13, 0.15,
0.10, 0.43, so the gap is at least 0.45 (asserted: 0.2); the plain net's accuracy with one block
deleted is within 0.04 of chance on average (asserted: 0.1).
"""

from __future__ import annotations

import torch

from resviz.data import load_dataset
from resviz.lenses.lesion import lesion_study
from resviz.models import get_model


def _train(name: str, x: torch.Tensor, y: torch.Tensor, seed: int = 0, steps: int = 150) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = get_model(name, input_size=8, width=8, num_classes=6)
    optimiser = torch.optim.Adam(model.parameters(), lr=0.005)
    batches = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        index = torch.randint(0, len(x), (32,), generator=batches)
        loss = torch.nn.functional.cross_entropy(model(x[index]), y[index])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model.eval()


def _retained(study) -> float:
    return (float(study.single.mean()) - study.chance) / (study.baseline - study.chance)


def test_the_residual_net_degrades_gently_and_the_plain_net_collapses():
    train = load_dataset("shapes", split="train", n=1024, size=8, seed=0)
    test = load_dataset("shapes", split="test", n=256, size=8, seed=0)
    x, y = train.images.float() / 255 - 0.5, train.labels
    x_test, y_test = test.images.float() / 255 - 0.5, test.labels
    plain = lesion_study(_train("plain20", x, y), x_test, y_test, draws=1)
    residual = lesion_study(_train("resnet20", x, y), x_test, y_test, draws=1)
    assert plain.baseline > plain.chance and residual.baseline > residual.chance   # both learned something
    assert _retained(residual) > _retained(plain) + 0.2
    assert float(plain.single.mean()) < plain.chance + 0.1
