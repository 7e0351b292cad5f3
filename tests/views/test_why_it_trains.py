"""The Why it trains page's model, without Qt: runs, replay of stored results, shared scales,
the signal cache and block deletion."""

from __future__ import annotations

import numpy as np
import pytest

from resviz.runfile import open_run
from resviz.views import why_it_trains as why
from resviz.views.why_it_trains import WhyItTrains, WhyRun

from .why_support import write_twins

# Its module-scoped fixture is costly: one worker runs the module, once.
pytestmark = pytest.mark.xdist_group("why_it_trains")


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    return write_twins(tmp_path_factory.mktemp("why"))


def runs_of(paths):
    return [WhyRun(paths[side], side, side) for side in ("plain", "residual")]


def test_landscape_and_lesion_are_computed_stored_and_replayed(twins, monkeypatch):
    monkeypatch.setattr(why, "LESION_SAMPLES", 12)
    model = WhyItTrains()
    assert model.set_runs(runs_of(twins))
    for run in model.runs.values():
        model.landscapes[run.side] = why.compute_landscape(run, 3, samples=8)
        model.lesions[run.side] = why.compute_lesion(run, samples=12)
    low, high = model.landscape_scale()
    for landscape in model.landscapes.values():   # one scale covers both surfaces' lowest loss
        assert low <= np.log10(landscape.loss.min()) + 1e-9
    for side in ("plain", "residual"):
        with open_run(twins[side]) as reader:
            assert [r.name for r in reader.lens_results()][-2:] == ["landscape", "lesion"]
    replay = WhyItTrains()
    replay.set_runs(runs_of(twins))
    assert {"landscape", "lesion"} <= replay.replayed
    for side in ("plain", "residual"):
        np.testing.assert_array_equal(replay.landscapes[side].loss, model.landscapes[side].loss)
        assert replay.lesion_blocks(side) == model.lesion_blocks(side) and replay.lesion_blocks(side)


def test_deleting_blocks_toggles_and_scores(twins):
    model = WhyItTrains()
    model.set_runs(runs_of(twins))
    run = model.runs["residual"]
    block = why.load_run(run, 4).model  # the blocks a lesion can delete
    from resviz.lenses.lesion import deletable_blocks

    names = [d.block for d in deletable_blocks(block)]
    assert model.toggle_deleted("residual", names[0]) == {names[0]}
    assert model.toggle_deleted("residual", names[0]) == set()
    accuracy = why.accuracy_deleted(run, names[:2], samples=12)
    assert 0.0 <= accuracy <= 1.0


def test_a_click_on_a_block_or_inside_it_deletes_it_from_every_twin_that_has_it():
    from resviz.lenses.lesion import LesionStudy

    def study(blocks):
        return LesionStudy(blocks, [None] * len(blocks), 0.9, np.full(len(blocks), 0.5), np.arange(1, 2),
                           np.zeros((1, 1)), 0.1, samples=10, draws=1, seed=0)

    model = WhyItTrains()
    model.lesions = {"plain": study(["layer1.0", "layer1.1"]), "residual": study(["layer1.0", "layer1.1", "extra"])}
    assert model.lesion_block_of("plain", "layer1.1.conv2") == "layer1.1"    # a layer inside the block
    assert model.lesion_block_of("plain", "conv1") is None                   # the stem is no block
    assert model.toggle_block("layer1.0.add") == {"plain": {"layer1.0"}, "residual": {"layer1.0"}}
    assert model.toggle_block("extra") == {"residual": {"layer1.0", "extra"}}   # only the side that has it
    model.deleted_accuracy = {"plain": 0.3, "residual": 0.8}
    assert model.toggle_block("layer1.0") == {"plain": set(), "residual": {"extra"}}   # back in both
    assert model.deleted_accuracy == {}                                       # both must be scored again
    assert model.toggle_block("fc") == {}


def test_signal_is_cached_per_depth_and_shares_one_scale():
    model = WhyItTrains()
    model.signal_options = {"width": 4, "input_size": 8}
    model.depths = (8, 14, 20)
    assert model.depths_to_compute(14) == [14, 8, 20]   # the depth asked for first, then the whole curve
    why.compute_signal(model, [8, 14, 20])
    assert model.depths_to_compute(14) == [] and model.cached_depths() == [8, 14, 20]
    depths, norms = model.signal_curve("plain")
    assert list(depths) == [8, 14, 20] and (norms > 0).all()
    low, high = model.signal_scale()
    for side in ("plain", "residual"):
        values = np.log10(model.signal_curve(side)[1])
        assert low <= values.min() and values.max() <= high


def test_runs_come_from_the_comparison_by_their_side(twins):
    class Style:
        def __init__(self, residual):
            self.residual = residual

    class Run:
        def __init__(self, path, residual):
            self.path, self.label, self.style = path, path.stem, Style(residual)

    found = why.why_runs([Run(twins["plain"], False), Run(twins["residual"], True), Run(twins["plain"], None)])
    assert [(r.side, r.path) for r in found] == [("plain", twins["plain"]), ("residual", twins["residual"])]
    assert why.family_of("mlp_plain") == "mlp" and why.family_of("resnet56") == "cifar"


def test_signal_stops_inside_a_depth_when_cancelled():
    from resviz.lenses.progress import LensCancelled

    model = WhyItTrains()
    model.signal_options = {"width": 4, "input_size": 8}
    calls = []

    def cancelled():
        calls.append(1)
        return len(calls) > 3   # cancelled a few modules into the first depth

    with pytest.raises(LensCancelled):
        why.compute_signal(model, [8], cancelled=cancelled)
    assert model.cached_depths() == []
    why.compute_signal(model, [8])   # the hook is gone: a later computation runs through
    assert model.cached_depths() == [8]
