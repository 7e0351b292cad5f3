"""The loss landscape against a case with a known answer: a linear least-squares model, whose
loss along any two directions is a quadratic in the two coefficients."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from torch import nn

from resviz.errors import ResvizError
from resviz.lenses.landscape import Landscape, directions, loss_landscape, roughness
from resviz.lenses.progress import LensCancelled


def _least_squares(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(40, 5, generator=generator)
    y = x @ torch.randn(5, 1, generator=generator) + 0.3 * torch.randn(40, 1, generator=generator)
    model = nn.Linear(5, 1)
    with torch.no_grad():
        model.weight.copy_(torch.randn(1, 5, generator=generator))
        model.bias.fill_(0.2)
    return model, x, y


def test_the_2d_slice_of_a_least_squares_model_is_its_analytic_quadratic():
    model, x, y = _least_squares()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = loss_landscape(model, x, y, grid=7, span=1.5, seed=3, loss="mse", batch_size=16)
    d1, d2 = directions(model, 3)
    # Filter-normalised: the weight's one filter (row) moves by its own norm; the bias stays.
    assert torch.allclose(d1[0].norm(), model.weight.norm())
    assert torch.count_nonzero(d1[1]) == 0 and torch.count_nonzero(d2[1]) == 0
    residual = (x @ model.weight.detach().T + model.bias.detach() - y).double()
    u, v = (x @ d1[0].T).double(), (x @ d2[0].T).double()
    a = torch.tensor(result.alphas).view(1, -1, 1, 1)
    b = torch.tensor(result.betas).view(-1, 1, 1, 1)
    expected = ((residual + a * u + b * v) ** 2).mean(dim=(-2, -1)).numpy()     # [j (beta), i (alpha)]
    np.testing.assert_allclose(result.loss, expected, rtol=1e-5)
    np.testing.assert_allclose(result.loss_1d, expected[3], rtol=1e-5)        # the b = 0 row
    assert result.roughness == 0.0                                             # a bowl: every line unimodal
    assert all(torch.equal(before[k], model.state_dict()[k]) for k in before)   # the model is untouched


def test_batching_grid_points_gives_the_same_surface():
    model, x, y = _least_squares(1)
    one = loss_landscape(model, x, y, grid=5, seed=1, loss="mse", points_per_batch=1)
    many = loss_landscape(model, x, y, grid=5, seed=1, loss="mse", points_per_batch=4)
    np.testing.assert_allclose(one.loss, many.loss, rtol=1e-5)


def test_an_even_grid_computes_its_1d_slice_separately_and_1d_alone():
    model, x, y = _least_squares(2)
    even = loss_landscape(model, x, y, grid=4, seed=0, loss="mse")
    line = loss_landscape(model, x, y, grid=4, seed=0, loss="mse", dims=1)
    assert line.loss is None and even.loss.shape == (4, 4)
    np.testing.assert_allclose(even.loss_1d, line.loss_1d, rtol=1e-5)


def test_roughness_counts_bumps_beyond_a_bowl():
    t = np.linspace(-1, 1, 21)
    bowl = t[None, :] ** 2 + t[:, None] ** 2
    bumpy = bowl + 0.3 * np.sin(12 * t)[None, :] * np.cos(9 * t)[:, None]
    assert roughness(bowl) == 0.0
    assert roughness(t) == 0.0                                                   # a slope: no bump either
    assert roughness(bumpy) > 0.2
    assert roughness(np.array([1.0, 0.0, 1.0, 0.0, 1.0])) == pytest.approx(1.0)  # one bump between two valleys
    two_rows = np.array([[1.0, 0.0, 1.0, 0.0, 1.0], [1.0, 0.5, 0.0, 0.5, 1.0]])
    assert roughness(two_rows) == pytest.approx(1 / 7)                           # rows: 1 and 0 bumps; 5 columns: 0
    flat_floor = np.array([2.0, 1.0, 1.0 + 1e-9, 1.0, 1.0 + 2e-9, 1.0, 2.0])       # float noise is no bump
    assert roughness(flat_floor) == 0.0 and roughness(flat_floor, rtol=0.0) == 2.0


def test_the_result_round_trips_through_a_lens_result():
    model, x, y = _least_squares()
    result = loss_landscape(model, x, y, grid=3, seed=0, loss="mse")
    result.params["step"] = 7
    stored = result.to_lens_result()
    assert stored.name == "landscape" and stored.summary["roughness"] == 0.0
    back = Landscape.from_lens_result(stored)
    np.testing.assert_array_equal(back.loss, result.loss)
    assert back.params == {"step": 7} and back.seed == 0


def test_progress_and_cancel():
    model, x, y = _least_squares()
    seen: list[float] = []
    loss_landscape(model, x, y, grid=3, loss="mse", progress=seen.append)
    assert seen[-1] == 1.0 and len(seen) == 9 and seen == sorted(seen)
    event = threading.Event()

    def cancel_after_two(fraction: float) -> None:
        if fraction >= 2 / 9:
            event.set()

    with pytest.raises(LensCancelled):
        loss_landscape(model, x, y, grid=3, loss="mse", progress=cancel_after_two, cancel=event)


@pytest.mark.parametrize("options, words", [({"grid": 1}, "grid"), ({"span": 0.0}, "span"), ({"dims": 3}, "dimensions"),
                                            ({"loss": "hinge"}, "loss")])
def test_bad_options_are_one_line_errors(options, words):
    model, x, y = _least_squares()
    with pytest.raises(ResvizError, match=words):
        loss_landscape(model, x, y, **{"loss": "mse", **options})
