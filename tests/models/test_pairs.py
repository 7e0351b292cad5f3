"""Twin pairs: which twin is plain and which residual, whichever of the two is named."""

from __future__ import annotations

import pytest

from resviz.errors import ResvizError
from resviz.graph import find_skips, trace_graph
from resviz.models import ModelSpec, find_twin_pair, get_model, list_models, model_info, twin_pair


@pytest.mark.parametrize("named, plain, residual", [
    ("resnet20", "plain20", "resnet20"),
    ("plain20", "plain20", "resnet20"),
    ("resnet50", "plain50", "resnet50"),
    ("preact_plain18", "preact_plain18", "preact_resnet18"),
    ("mlp_residual", "mlp_plain", "mlp_residual"),
    ("densenet_plain", "densenet_plain", "densenet"),
    ("mnist_resnet", "mnist_plain", "mnist_resnet"),          # the seed models' twins
    ("cifar_small_plain", "cifar_small_plain", "cifar_small_resnet"),
])
def test_the_pair_names_each_side_whichever_twin_is_named(named, plain, residual):
    pair = twin_pair(named)
    assert (pair.plain, pair.residual, pair.named) == (plain, residual, named)
    assert pair.other == (residual if named == plain else plain)
    assert model_info(pair.plain).skips == "no" and model_info(pair.residual).skips in ("add", "concat")


def test_every_zoo_twin_pair_is_the_same_from_both_sides():
    paired = [name for name in list_models() if find_twin_pair(name) is not None]
    assert len(paired) > 20 and "simple_cnn" not in paired
    for name in paired:
        pair, mirrored = twin_pair(name), twin_pair(twin_pair(name).other)
        assert (pair.plain, pair.residual) == (mirrored.plain, mirrored.residual) and pair.plain != pair.residual
        assert name in (pair.plain, pair.residual) and mirrored.other == name


def test_the_plain_side_has_no_skip_connections_and_the_residual_side_has():
    pair = twin_pair("mnist_plain", {"width": 4, "input_size": 8})
    plain = get_model(pair.plain, **pair.options)
    residual = get_model(pair.residual, **pair.options)
    assert not find_skips(trace_graph(plain)) and find_skips(trace_graph(residual))


def test_options_are_shared_except_the_side_which_each_twins_default_decides():
    pair = twin_pair("resnet20", {"norm": "none", "width": 4, "residual": True})
    assert pair.options == {"norm": "none", "width": 4}
    assert pair.plain_spec == ModelSpec("plain20", {"norm": "none", "width": 4})
    assert pair.residual_spec == ModelSpec("resnet20", {"norm": "none", "width": 4})
    from_spec = twin_pair(ModelSpec("plain56", {"norm": "none", "residual": False}))
    assert (from_spec.plain, from_spec.residual, from_spec.options) == ("plain56", "resnet56", {"norm": "none"})
    assert twin_pair(ModelSpec("plain56", {"norm": "none"}), {"width": 8}).options == {"width": 8}


@pytest.mark.parametrize("reference, message", [
    ("simple_cnn", r"^simple_cnn has no plain/residual twin \('resviz models' lists each model's twin\)$"),
    ("models/my_net.py:build", r"^models/my_net.py:build: a user's model has no twin \(twins are the zoo's"),
    ("resnet21", r"^unknown model 'resnet21' \(did you mean [^)]*resnet20"),
])
def test_a_model_without_a_twin_is_one_clear_line(reference, message):
    with pytest.raises(ResvizError, match=message) as caught:
        twin_pair(reference)
    assert "\n" not in str(caught.value)
    assert find_twin_pair(reference) is None
