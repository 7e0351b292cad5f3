"""Run by tests/train/test_watch.py under torchrun: DDP on the CPU with gloo, recorded with resviz.watch."""

from __future__ import annotations

import sys

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

import resviz
from resviz.models import get_model

STEPS, PER_RANK = 3, 4


def make_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return get_model("resnet20", depth=8, width=4, norm="none", input_size=8)


def make_data(world: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(123)
    x = torch.randn(STEPS, world, PER_RANK, 3, 8, 8, generator=generator)
    y = torch.randint(0, 10, (STEPS, world, PER_RANK), generator=generator)
    return x, y


def main(run_path: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    model = DistributedDataParallel(make_model())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = make_data(world)
    with resviz.watch(model, run=run_path) as rec:
        assert rec.active == (rank == 0)
        for step in range(STEPS):
            loss = F.cross_entropy(model(x[step, rank]), y[step, rank])
            optimizer.zero_grad()
            loss.backward()
            rec.step(loss=loss, optimizer=optimizer)
            optimizer.step()
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
