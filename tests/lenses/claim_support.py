"""How the lens claim tests train their tiny twins: a zoo net on 8x8 shapes (six classes), Adam
at 0.005 on batches of 32 drawn from the seed, so both twins see the same batches."""

from __future__ import annotations

import torch

from resviz.data import load_dataset
from resviz.models import get_model


def shapes(split: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` 8x8 shapes of ``split`` as inputs in [-0.5, 0.5] and their labels."""
    data = load_dataset("shapes", split=split, n=n, size=8, seed=0)
    return data.images.float() / 255 - 0.5, data.labels


def train_twin(name: str, x: torch.Tensor, y: torch.Tensor, *, width: int, seed: int = 0,
               steps: int = 150) -> torch.nn.Module:
    """``name`` (width ``width``) trained ``steps`` Adam steps from ``seed``, in train mode at the end."""
    torch.manual_seed(seed)
    model = get_model(name, input_size=8, width=width, num_classes=6)
    optimiser = torch.optim.Adam(model.parameters(), lr=0.005)
    batches = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        index = torch.randint(0, len(x), (32,), generator=batches)
        loss = torch.nn.functional.cross_entropy(model(x[index]), y[index])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model
