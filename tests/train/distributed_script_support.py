"""What the scripts run under torchrun by the tests share (ddp_watch_script.py,
fsdp_watch_script.py): one tiny model and one batch per step and rank, the same on every rank,
and the gloo process group on the CPU around the work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.distributed as dist

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


@contextmanager
def gloo_process_group() -> Iterator[tuple[int, int]]:
    """(rank, world size) inside a gloo process group; every rank meets at the end."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    try:
        yield dist.get_rank(), dist.get_world_size()
        dist.barrier()
    finally:
        dist.destroy_process_group()
