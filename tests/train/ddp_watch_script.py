"""Run by tests/train/test_watch.py under torchrun: DDP on the CPU with gloo, recorded with resviz.watch."""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F
from distributed_script_support import STEPS, gloo_process_group, make_data, make_model
from torch.nn.parallel import DistributedDataParallel

import resviz


def main(run_path: str) -> None:
    with gloo_process_group() as (rank, world):
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


if __name__ == "__main__":
    main(sys.argv[1])
