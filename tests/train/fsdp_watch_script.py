"""Run by tests/train/test_sharded.py under torchrun: FSDP2 (fully_shard) on the CPU with gloo,
recorded with resviz.watch; once sharded over both ranks (FSDP) and once replicated over them
with a shard group of one (HSDP), each into its own run file."""

from __future__ import annotations

import sys

import torch
import torch.distributed as dist
import torch.nn.functional as F
from distributed_script_support import STEPS, gloo_process_group, make_data, make_model
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard

import resviz

MESHES = {"fsdp": (2,), "hsdp": (2, 1)}  # (ranks) sharded; (replicas, shards)


def shard(model: torch.nn.Module, mesh_shape: tuple[int, ...]) -> torch.nn.Module:
    names = ("replicate", "shard")[-len(mesh_shape):]
    mesh = init_device_mesh("cpu", mesh_shape, mesh_dim_names=names)
    for name, module in model.named_modules():
        if name.startswith("layer") and name.count(".") == 1:  # each residual block its own unit
            fully_shard(module, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def train(run_path: str, mesh_shape: tuple[int, ...]) -> None:
    rank, world = dist.get_rank(), dist.get_world_size()
    model = shard(make_model(), mesh_shape)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = make_data(world)
    with resviz.watch(model, run=run_path) as rec:
        for step in range(STEPS):
            loss = F.cross_entropy(model(x[step, rank]), y[step, rank])
            optimizer.zero_grad()
            loss.backward()
            rec.step(loss=loss, optimizer=optimizer)
            optimizer.step()
        rec.checkpoint()  # on every rank: the shards gathered into whole tensors


def main(folder: str) -> None:
    with gloo_process_group():
        for name, mesh_shape in MESHES.items():
            train(f"{folder}/{name}.resviz", mesh_shape)


if __name__ == "__main__":
    main(sys.argv[1])
