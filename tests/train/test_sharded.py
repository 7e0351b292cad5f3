"""Whole-parameter norms under FSDP2 (fully_shard): two gloo processes on the CPU, and the weighting
of shards and replicas over a device mesh in this process."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.tensor import DTensor, Replicate, Shard
from torch.distributed.tensor.placement_types import Partial

from resviz.errors import ResvizError
from resviz.runfile import open_run
from resviz.train.layers import layer_parameters
from resviz.train.recorder import GradientRecorder
from resviz.train.sharded import ShardedNorms

HERE = Path(__file__).parent


def reference(script) -> dict[str, np.ndarray]:
    """One process, both ranks' batches together (FSDP averages the ranks' gradients, so this is
    the whole gradient); the activation gradients of rank 0's batch alone, which rank 0 records."""
    model = script.make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = script.make_data(2)
    out = {"grad": [], "weight": [], "update": [], "loss": [], "act": []}
    previous, sink = None, []
    rank0 = GradientRecorder(model, update_ratio=False, dead_relu=False, example_input=x[0, 0], sink=sink.append)
    with rank0:
        for step in range(script.STEPS):
            loss0 = F.cross_entropy(model(x[step, 0]), y[step, 0])
            loss0.backward()
            rank0.step(loss=loss0)
            out["loss"].append(loss0.item())
            rank0.detach()  # the whole batch's activations are no part of rank 0's
            loss = F.cross_entropy(model(x[step].flatten(0, 1)), y[step].flatten(0, 1))
            rank0.attach()
            optimizer.zero_grad()
            loss.backward()
            layers = layer_parameters(model)
            weights = [torch.cat([p.detach().flatten() for _, p in params]) for _, params in layers]
            out["grad"].append([math.sqrt(sum(p.grad.norm().item() ** 2 for _, p in params)) for _, params in layers])
            out["weight"].append([w.norm().item() for w in weights])
            out["update"].append([(before - w).norm().item() / w.norm().item() for before, w in zip(previous, weights)]
                                 if previous is not None else [math.nan] * len(layers))
            previous = [w.clone() for w in weights]
            optimizer.step()
    out["state"] = {name: tensor.numpy() for name, tensor in model.state_dict().items()}
    out["act"] = np.concatenate([s.act_grad_norm for s in sink])
    return {name: value if name == "state" else np.asarray(value, dtype=np.float64) for name, value in out.items()}


def test_fully_shard_under_torchrun_records_whole_parameter_norms_on_rank_0(tmp_path):
    sys.path.insert(0, str(HERE))
    try:
        import fsdp_watch_script as script
    finally:
        sys.path.remove(str(HERE))
    # Before resviz read the shards itself, rank 0 asked its DTensors for their norms, a
    # collective the other rank never joined: the run hung. The timeout turns that into a failure.
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(HERE / "fsdp_watch_script.py"), str(tmp_path)],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = reference(script)
    for name in script.MESHES:  # sharded over both ranks; replicated over them (each shard counted once)
        with open_run(tmp_path / f"{name}.resviz") as reader:
            info = reader.info()
            steps = reader.read_steps()
            checkpoint = reader.load_checkpoint()
        assert info.status == "finished" and info.layer_ids[0] == "conv1"
        assert steps.step.tolist() == [0, 1, 2]
        np.testing.assert_allclose(steps.grad_norm, expected["grad"], rtol=1e-4, err_msg=name)
        np.testing.assert_allclose(steps.weight_norm, expected["weight"], rtol=1e-5, err_msg=name)
        np.testing.assert_allclose(steps.update_ratio, expected["update"], rtol=1e-3, err_msg=name)
        np.testing.assert_allclose(steps.loss, expected["loss"], rtol=1e-5, err_msg=name)
        np.testing.assert_allclose(steps.act_grad_norm, expected["act"], rtol=1e-4, err_msg=name)
        # The weights after the last step, whole: they load into the unsharded model.
        assert sorted(checkpoint) == sorted(expected["state"])
        for key, value in expected["state"].items():
            np.testing.assert_allclose(checkpoint[key].numpy(), value, rtol=1e-4, atol=1e-6, err_msg=f"{name} {key}")


@pytest.fixture
def world_of_four():
    """A process group of four ranks of which this process is rank 0 (collectives do nothing)."""
    from torch.testing._internal.distributed.fake_pg import FakeStore

    dist.init_process_group("fake", store=FakeStore(), rank=0, world_size=4)
    try:
        yield
    finally:
        dist.destroy_process_group()


def layers_of(**params):
    return [(name, [("weight", tensor)]) for name, tensor in params.items()]


def test_each_element_is_counted_once_over_the_ranks_that_hold_it(world_of_four):
    flat = init_device_mesh("cpu", (4,))
    hybrid = init_device_mesh("cpu", (2, 2), mesh_dim_names=("replicate", "shard"))
    local = torch.ones(2, 3)
    layers = layers_of(
        sharded=DTensor.from_local(local, flat, [Shard(0)], run_check=False),          # 4 distinct shards
        replicated=DTensor.from_local(local, flat, [Replicate()], run_check=False),    # 4 copies
        hybrid=DTensor.from_local(local, hybrid, [Replicate(), Shard(0)], run_check=False),  # 2 shards, 2 copies each
        plain=torch.ones(3))                                                           # 4 copies
    norms = ShardedNorms.for_layers(layers, torch.device("cpu"))
    assert norms.layer_weights == [1.0, 0.25, 0.5, 0.25]
    squares = torch.ones(3 * len(layers))
    norms.all_reduce(squares)  # the fake group adds nothing from the other ranks: the weights show
    assert squares.tolist() == [1.0, 0.25, 0.5, 0.25] * 3


def test_a_model_without_dtensors_is_not_sharded():
    assert ShardedNorms.for_layers(layers_of(a=torch.ones(3)), torch.device("cpu")) is None


def test_placements_resviz_cannot_sum_get_one_line(world_of_four):
    flat = init_device_mesh("cpu", (4,))
    half = init_device_mesh("cpu", (2,))  # ranks 0 and 1 of the four
    local = torch.ones(2)
    cases = {
        "Partial": layers_of(a=DTensor.from_local(local, flat, [Partial()], run_check=False)),
        "mesh of 2 ranks in a world of 4": layers_of(a=DTensor.from_local(local, half, [Shard(0)], run_check=False)),
        "sharded in different ways": [("a", [("w", DTensor.from_local(local, flat, [Shard(0)], run_check=False)),
                                             ("b", torch.ones(2))])],
    }
    for words, layers in cases.items():
        with pytest.raises(ResvizError, match=words):
            ShardedNorms.for_layers(layers, torch.device("cpu"))
