"""ResvizCallback in a real Lightning Trainer: one process, and DDP on 2 CPU processes (gloo)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from resviz.models import get_model
from resviz.runfile import open_run
from resviz.train.layers import layer_parameters

L = pytest.importorskip("lightning.pytorch", reason="the lightning package is not installed")

from resviz.integrations.lightning import ResvizCallback  # noqa: E402


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


def test_fit_records_each_optimizer_step_validation_and_checkpoints(tmp_path):
    module = TinyResNet()
    train, val = loaders(16, 8)
    run = tmp_path / "lit.resviz"
    trainer = quiet_trainer(max_epochs=2, accumulate_grad_batches=2, default_root_dir=tmp_path,
                            num_sanity_val_steps=0, callbacks=[ResvizCallback(run=run)])
    trainer.fit(module, train, val)

    with open_run(run) as reader:
        info, steps, evals = reader.info(), reader.read_steps(), reader.evals()
        weights = reader.load_checkpoint()
        saved = [(c.step, c.epoch) for c in reader.checkpoints()]
    assert info.status == "finished" and info.config["source"] == "lightning"
    assert info.layer_ids[0] == "net.conv1" and info.block_ids[0] == "net.layer1.0"  # traced: blocks found
    # 4 batches an epoch, 2 accumulated per optimizer step.
    assert steps.step.tolist() == [0, 1, 2, 3] and steps.epoch.tolist() == [0, 0, 1, 1]
    np.testing.assert_allclose(steps.grad_norm, np.array(module.grad_norms), rtol=1e-5)
    np.testing.assert_allclose(steps.loss, np.array(module.losses).reshape(4, 2).mean(1), rtol=1e-5)
    assert np.all(steps.lr == 0.1)
    assert [(e.split, e.epoch) for e in evals] == [("val", 0), ("val", 1)]
    assert evals[-1].loss == pytest.approx(trainer.callback_metrics["val_loss"].item(), rel=1e-6)
    assert evals[-1].acc == pytest.approx(trainer.callback_metrics["val_acc"].item(), rel=1e-6)
    # The trainer saved a checkpoint at the end of each epoch; the last one holds the final weights.
    assert saved == [(1, 0), (3, 1)]
    torch.testing.assert_close(weights["net.fc.weight"], module.net.fc.weight.detach())


def test_an_exception_in_training_step_marks_the_run_failed_and_keeps_its_steps(tmp_path):
    class Breaks(TinyResNet):
        def training_step(self, batch, batch_idx):
            if batch_idx == 2:
                raise ValueError("bad batch")
            return super().training_step(batch, batch_idx)

    train, _ = loaders(16, 0)
    run = tmp_path / "broken.resviz"
    trainer = quiet_trainer(max_epochs=1, enable_checkpointing=False, callbacks=[ResvizCallback(run=run)])
    with pytest.raises(ValueError, match="bad batch"):
        trainer.fit(Breaks(), train)
    with open_run(run) as reader:
        assert reader.info().status == "failed" and "bad batch" in reader.info().error
        assert reader.read_steps().step.tolist() == [0, 1]


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


def test_ddp_on_two_processes_records_the_averaged_gradients_on_rank_0_only(tmp_path):
    # Two forked processes (gloo on the CPU): they start without importing anything again.
    run = tmp_path / "ddp.resviz"
    trainer = quiet_trainer(strategy="ddp_fork", devices=2, max_epochs=1, enable_checkpointing=False,
                            use_distributed_sampler=False, default_root_dir=tmp_path,
                            callbacks=[ResvizCallback(run=run)])
    trainer.fit(RankData())
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".resviz") == ["ddp.resviz"]

    # Reference: one process on both ranks' batches at once; with equal local batches and a mean
    # loss, its gradient is DDP's all-reduced average.
    model = TinyResNet().net
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = ddp_batches()
    expected_grads, rank0_losses = [], []
    for step in range(STEPS):
        with torch.no_grad():
            rank0_losses.append(F.cross_entropy(model(x[step, 0]), y[step, 0]).item())
        loss = F.cross_entropy(model(x[step].flatten(0, 1)), y[step].flatten(0, 1))
        optimizer.zero_grad()
        loss.backward()
        expected_grads.append(layer_grad_norms(model))
        optimizer.step()
    with open_run(run) as reader:
        info, steps = reader.info(), reader.read_steps()
    assert info.status == "finished" and info.config["world_size"] == 2
    assert info.layer_ids[0] == "net.conv1"
    assert steps.step.tolist() == [0, 1, 2]
    np.testing.assert_allclose(steps.grad_norm, np.array(expected_grads), rtol=1e-4)
    np.testing.assert_allclose(steps.loss, rank0_losses, rtol=1e-5)


def test_bench_recorder_times_the_lightning_callback_against_the_same_lightning_loop(capsys):
    from resviz.cli import main

    args = ["bench", "recorder", "--model", "resnet20", "-o", "depth=8", "-o", "width=4", "-o", "norm=none",
            "--batch-size", "4", "--steps", "2", "--lightning"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Lightning without resviz: " in out and "Lightning with ResvizCallback: " in out
    assert out.count("ratio: ") == 2  # the recorder's row, then Lightning's


def test_the_readme_example_runs_and_records(run_readme_example):
    folder = run_readme_example("ResvizCallback")
    with open_run(folder / "runs" / "lit.resviz") as reader:
        info, steps, evals = reader.info(), reader.read_steps(), reader.evals()
        saved = [(c.step, c.epoch) for c in reader.checkpoints()]
    assert info.status == "finished" and info.block_ids[0] == "net.layer1.0"
    assert steps.step.tolist() == list(range(4)) and len(evals) == 2
    assert saved == [(1, 0), (3, 1)]  # the trainer's checkpoint at the end of each epoch
