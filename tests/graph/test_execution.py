"""The module-tree copy, eval mode and hook context that graph and attribution share."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from resviz.attribution.prepare import shared_copy
from resviz.graph.execution import clone_module_tree, copy_module_tree, eval_mode
from resviz.graph.hooks import forward_hooks, hook_count


def tied_model() -> nn.Module:
    model = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3), nn.Linear(3, 3))
    model[2].weight = model[0].weight  # tied weights
    model.add_module("again", model[1])  # one module under two names
    model.scale = torch.ones(3)  # a plain tensor attribute
    model.notes = ["a"]
    return model


def test_a_copy_has_its_own_modules_keeps_aliases_and_ties_and_drops_hooks():
    model = tied_model()
    model[0].register_forward_hook(lambda *args: None)
    copy = copy_module_tree(model, lambda tensor, is_parameter: tensor.detach().clone())
    assert copy is not model and copy[0] is not model[0] and copy.again is copy[1]
    assert copy[2].weight is copy[0].weight and copy[0].weight is not model[0].weight
    assert hook_count(copy) == 0 and hook_count(model) == 1
    copy.eval()
    assert model.training and model[1].training
    # without copy_attributes, plain attributes are shared; with it they are the copy's own
    assert copy.notes is model.notes and copy.scale is model.scale
    own = copy_module_tree(model, lambda tensor, is_parameter: tensor.detach().clone(), copy_attributes=True)
    assert own.notes == model.notes and own.notes is not model.notes and own.scale is not model.scale


def test_without_a_tensor_function_the_registries_are_shared():
    model = tied_model()
    copy = copy_module_tree(model)
    replacement = nn.Parameter(torch.zeros(3))
    model[0].bias = replacement  # the model replaces a parameter: the copy sees it
    assert copy[0].bias is replacement


def test_the_trace_copy_and_the_attribution_copy_are_one_copier():
    model = tied_model()
    meta, parameter_ids = clone_module_tree(model, "meta")
    assert meta[0].weight.is_meta and meta.scale.is_meta and meta[2].weight is meta[0].weight
    assert parameter_ids == {id(p) for p in meta.parameters()}
    own = shared_copy(model, clone_tensors=True)
    assert isinstance(own[0].weight, nn.Parameter) and own[0].weight is not model[0].weight
    assert own[2].weight is own[0].weight and torch.equal(own[0].weight, model[0].weight)
    assert shared_copy(model)[0].weight is model[0].weight


def test_eval_mode_restores_every_modules_own_flag():
    model = tied_model()
    model[1].eval()
    with eval_mode(model):
        assert not any(m.training for m in model.modules())
    assert model.training and not model[1].training and model[0].training


def test_hooks_are_removed_on_exit_and_when_registering_fails():
    model = tied_model()
    calls: list[str] = []
    with forward_hooks([model[0]], lambda m, a: calls.append("pre"), lambda m, a, o: calls.append("post"),
                       with_kwargs=False):
        model[0](torch.ones(1, 3))
    assert calls == ["pre", "post"] and hook_count(model) == 0

    class Broken(nn.Module):
        def register_forward_hook(self, *args, **kwargs):
            raise RuntimeError("no hooks here")

    with pytest.raises(RuntimeError):
        with forward_hooks([model[0], Broken()], lambda *a: None, lambda *a: None):
            pass
    assert hook_count(model) == 0
