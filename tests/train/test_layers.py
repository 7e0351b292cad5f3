"""What the recorder watches, and what the run file records about it: each layer's kind, each
block's layers and skip kind, so that readers never rebuild the model."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

import resviz
from resviz.data import make_shapes
from resviz.models import get_model
from resviz.runfile import open_run
from resviz.train.config import TrainConfig
from resviz.train.layers import OUTPUT_ID, ROOT_ID, layer_kind, layer_parameters, run_structure
from resviz.train.recorder import GradientRecorder
from resviz.train.trainer import Trainer
from tests.graph.user_models import UserNet


class RMSNorm(nn.Module):  # a user's norm layer: known by its class name
    def __init__(self, width: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(width))


class Scaled(nn.Module):  # a learnable scalar around a linear layer, held by the root itself
    def __init__(self) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(()))
        self.body = nn.Sequential(nn.Linear(3, 4), nn.PReLU(), nn.Linear(4, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gain * self.body(x)


def test_each_layer_kind_follows_its_own_parameters_and_norms_their_class():
    kinds = [layer_kind(module) for module in (
        nn.Conv2d(3, 4, 3), nn.Linear(3, 4), nn.Embedding(5, 2), nn.BatchNorm2d(4), nn.GroupNorm(2, 4),
        nn.LayerNorm(4), nn.InstanceNorm2d(4, affine=True), RMSNorm(4), nn.PReLU())]
    assert kinds == ["weight"] * 3 + ["norm"] * 5 + ["other"]


def test_the_structure_of_a_zoo_model_matches_its_module_types_and_blocks():
    model = get_model("resnet20", width=4)
    layer_ids = [name for name, _ in layer_parameters(model)]
    block_ids = [f"layer{s}.{b}" for s in (1, 2, 3) for b in range(3)]
    structure = run_structure(model, layer_ids, block_ids)
    modules = dict(model.named_modules())
    expected = ["norm" if isinstance(modules[i], nn.BatchNorm2d) else "weight" for i in layer_ids]
    assert structure.layer_kinds == expected and expected.count("weight") == 20  # ResNet-20's 19 convs + fc
    assert structure.block_layers[0] == ["layer1.0.conv1", "layer1.0.bn1", "layer1.0.conv2", "layer1.0.bn2"]
    inside = [layer for layers in structure.block_layers for layer in layers]
    assert sorted(inside) == sorted(set(layer_ids) - {"conv1", "bn1", "fc"})  # each block layer once
    assert structure.block_skips == ["identity"] * 3 + (["zero_pad"] + ["identity"] * 2) * 2
    plain = get_model("plain20", width=4)
    assert run_structure(plain, layer_ids, block_ids).block_skips == [None] * 9  # traced: no skips


def test_block_skips_are_unknown_when_the_model_cannot_be_traced():
    model = Scaled()  # no input_shape: the blocks come from the fallback, which cannot see skips
    layer_ids = [name for name, _ in layer_parameters(model)]
    assert run_structure(model, layer_ids, ["body"]).block_skips is None
    model.input_shape = (3,)
    assert run_structure(model, layer_ids, ["body", OUTPUT_ID]).block_skips == [None, None]


def test_a_model_watched_at_its_output_with_parameters_on_its_root():
    model = Scaled()
    layer_ids = [name for name, _ in layer_parameters(model)]
    assert layer_ids == [ROOT_ID, "body.0", "body.1", "body.2"]
    structure = run_structure(model, layer_ids, [OUTPUT_ID])
    assert structure.layer_kinds == ["other", "weight", "other", "weight"]
    assert structure.block_layers == [layer_ids]


def test_a_watched_loop_records_the_structure_the_recorder_found(tmp_path):
    model = get_model("resnet20", depth=8, width=4, input_size=8)
    with resviz.watch(model, run=tmp_path / "mine.resviz") as rec:
        loss = F.cross_entropy(model(torch.randn(2, 3, 8, 8)), torch.tensor([0, 1]))
        loss.backward()
        rec.step(loss=loss)
    recorder = GradientRecorder(model)
    with open_run(tmp_path / "mine.resviz") as reader:
        assert reader.structure == recorder.structure
        assert set(reader.structure.layer_kinds) == {"weight", "norm"}
        assert reader.structure.block_skips == ["identity", "zero_pad", "zero_pad"]


def test_the_trainer_traces_a_model_without_input_shape_on_its_data_for_blocks_and_skips(tmp_path):
    assert run_structure(UserNet(input_shape=None), ["stem"], ["unit_a"]).block_skips is None  # nothing to trace on
    config = TrainConfig(model="resnet20", train_samples=8, test_samples=4, batch_size=4, epochs=1, max_steps=1,
                         checkpoint_every=0, out=str(tmp_path / "users.resviz"))
    Trainer(config, model=UserNet(input_shape=None, num_classes=6), train_data=make_shapes(8, size=8, seed=0),
            test_data=make_shapes(4, size=8, seed=1)).run()
    with open_run(tmp_path / "users.resviz") as reader:
        blocks, skips = reader.info().block_ids, reader.structure.block_skips
    assert blocks == ["unit_a", "unit_b"] and skips == ["identity", "projection"]  # traced on the 3x8x8 images


def test_a_watched_loop_traces_the_example_input_it_is_given(tmp_path):
    model = UserNet(input_shape=None)
    with resviz.watch(model, run=tmp_path / "mine.resviz", example_input=torch.zeros(1, 3, 8, 8)) as rec:
        loss = F.cross_entropy(model(torch.randn(2, 3, 8, 8)), torch.tensor([0, 1]))
        loss.backward()
        rec.step(loss=loss)
    with open_run(tmp_path / "mine.resviz") as reader:
        assert reader.structure.block_skips == ["identity", "projection"]
