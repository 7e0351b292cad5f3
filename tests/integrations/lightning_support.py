"""Lightning modules and helpers for tests/integrations/test_lightning.py, in their own module so
that lightning is imported only when those tests run (``lit`` fixture), not at collection."""

from __future__ import annotations

import math

import lightning.pytorch as L
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from resviz.integrations.lightning import ResvizCallback
from resviz.models import get_model
from resviz.train.layers import layer_parameters

__all__ = ["L", "ResvizCallback", "TinyResNet", "RankData", "ddp_batches", "layer_grad_norms", "loaders",
           "quiet_trainer", "STEPS", "PER_RANK"]


class TinyResNet(L.LightningModule):
    """A zoo ResNet (residual blocks found by tracing ``example_input_array``), trained with SGD,
    keeping its training losses and, at each optimizer step, the gradients about to be applied."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = get_model("resnet20", depth=8, width=4, norm="none", input_size=8)
        self.example_input_array = torch.zeros(1, 3, 8, 8)
        self.losses: list[float] = []
        self.grad_norms: list[list[float]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.losses.append(loss.item())
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        out = self(x)
        self.log("val_loss", F.cross_entropy(out, y))
        self.log("val_acc", (out.argmax(1) == y).float().mean())

    def on_before_optimizer_step(self, optimizer) -> None:  # runs after the callbacks' hook
        self.grad_norms.append(layer_grad_norms(self))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def layer_grad_norms(module: torch.nn.Module) -> list[float]:
    return [math.sqrt(sum(p.grad.norm().item() ** 2 for _, p in params if p.grad is not None))
            for _, params in layer_parameters(module)]


def quiet_trainer(**options) -> L.Trainer:
    return L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
                     **options)


def loaders(n_train: int, n_val: int, batch: int = 4):
    generator = torch.Generator().manual_seed(1)
    n = n_train + n_val
    x, y = torch.randn(n, 3, 8, 8, generator=generator), torch.randint(0, 10, (n,), generator=generator)
    train = DataLoader(TensorDataset(x[:n_train], y[:n_train]), batch_size=batch)
    val = DataLoader(TensorDataset(x[n_train:], y[n_train:]), batch_size=max(n_val, 1))
    return train, val


STEPS, PER_RANK = 3, 4


def ddp_batches() -> tuple[torch.Tensor, torch.Tensor]:
    """Each step's batch of each rank: [step, rank, sample, ...]."""
    generator = torch.Generator().manual_seed(123)
    x = torch.randn(STEPS, 2, PER_RANK, 3, 8, 8, generator=generator)
    return x, torch.randint(0, 10, (STEPS, 2, PER_RANK), generator=generator)


class RankData(TinyResNet):
    def train_dataloader(self):
        x, y = ddp_batches()
        rank = self.global_rank
        return DataLoader(TensorDataset(x[:, rank].flatten(0, 1), y[:, rank].flatten(0, 1)), batch_size=PER_RANK)
