"""The lesion study's headline claim on tiny trained twins (Veit et al. 2016): deleting one block
of the residual net costs a little accuracy, deleting one of the plain net's drops it to chance.

Plain-20 and ResNet-20 (width 8, 8x8 shapes) trained for 150 Adam steps from the same seed and
batches. Measured over seeds 0-3 (``retained``: the share of the accuracy above chance that is
kept, on average, with one block deleted): residual 0.84, 0.89, 0.59, 0.88; plain 0.13, 0.15,
0.10, 0.43, so the gap is at least 0.45 (asserted: 0.2); the plain net's accuracy with one block
deleted is within 0.04 of chance on average (asserted: 0.1).
"""

from __future__ import annotations

from resviz.lenses.lesion import lesion_study

from .claim_support import shapes, train_twin


def _retained(study) -> float:
    return (float(study.single.mean()) - study.chance) / (study.baseline - study.chance)


def test_the_residual_net_degrades_gently_and_the_plain_net_collapses():
    (x, y), (x_test, y_test) = shapes("train", 1024), shapes("test", 256)
    plain = lesion_study(train_twin("plain20", x, y, width=8).eval(), x_test, y_test, draws=1)
    residual = lesion_study(train_twin("resnet20", x, y, width=8).eval(), x_test, y_test, draws=1)
    assert plain.baseline > plain.chance and residual.baseline > residual.chance   # both learned something
    assert _retained(residual) > _retained(plain) + 0.2
    assert float(plain.single.mean()) < plain.chance + 0.1
