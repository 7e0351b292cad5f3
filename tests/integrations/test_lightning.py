"""ResvizCallback in a real Lightning Trainer: one process, and DDP on 2 CPU processes (gloo)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from resviz.runfile import open_run

# One worker runs these: lightning is imported once, when the first of them runs.
pytestmark = pytest.mark.xdist_group("integrations")


@pytest.fixture(scope="module")
def lit():
    """The Lightning test modules (``lightning_support``); lightning is imported here, not at collection."""
    pytest.importorskip("lightning.pytorch", reason="the lightning package is not installed")
    import lightning_support

    return lightning_support


def test_fit_records_each_optimizer_step_validation_and_checkpoints(lit, tmp_path):
    module = lit.TinyResNet()
    train, val = lit.loaders(16, 8)
    run = tmp_path / "lit.resviz"
    trainer = lit.quiet_trainer(max_epochs=2, accumulate_grad_batches=2, default_root_dir=tmp_path,
                            num_sanity_val_steps=0, callbacks=[lit.ResvizCallback(run=run)])
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


def test_an_exception_in_training_step_marks_the_run_failed_and_keeps_its_steps(lit, tmp_path):
    class Breaks(lit.TinyResNet):
        def training_step(self, batch, batch_idx):
            if batch_idx == 2:
                raise ValueError("bad batch")
            return super().training_step(batch, batch_idx)

    train, _ = lit.loaders(16, 0)
    run = tmp_path / "broken.resviz"
    trainer = lit.quiet_trainer(max_epochs=1, enable_checkpointing=False, callbacks=[lit.ResvizCallback(run=run)])
    with pytest.raises(ValueError, match="bad batch"):
        trainer.fit(Breaks(), train)
    with open_run(run) as reader:
        assert reader.info().status == "failed" and "bad batch" in reader.info().error
        assert reader.read_steps().step.tolist() == [0, 1]


def test_ddp_on_two_processes_records_the_averaged_gradients_on_rank_0_only(lit, tmp_path):
    # Two forked processes (gloo on the CPU): they start without importing anything again.
    run = tmp_path / "ddp.resviz"
    trainer = lit.quiet_trainer(strategy="ddp_fork", devices=2, max_epochs=1, enable_checkpointing=False,
                            use_distributed_sampler=False, default_root_dir=tmp_path,
                            callbacks=[lit.ResvizCallback(run=run)])
    trainer.fit(lit.RankData())
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".resviz") == ["ddp.resviz"]

    # Reference: one process on both ranks' batches at once; with equal local batches and a mean
    # loss, its gradient is DDP's all-reduced average.
    model = lit.TinyResNet().net
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = lit.ddp_batches()
    expected_grads, rank0_losses = [], []
    for step in range(lit.STEPS):
        with torch.no_grad():
            rank0_losses.append(F.cross_entropy(model(x[step, 0]), y[step, 0]).item())
        loss = F.cross_entropy(model(x[step].flatten(0, 1)), y[step].flatten(0, 1))
        optimizer.zero_grad()
        loss.backward()
        expected_grads.append(lit.layer_grad_norms(model))
        optimizer.step()
    with open_run(run) as reader:
        info, steps = reader.info(), reader.read_steps()
    assert info.status == "finished" and info.config["world_size"] == 2
    assert info.layer_ids[0] == "net.conv1"
    assert steps.step.tolist() == [0, 1, 2]
    np.testing.assert_allclose(steps.grad_norm, np.array(expected_grads), rtol=1e-4)
    np.testing.assert_allclose(steps.loss, rank0_losses, rtol=1e-5)


def test_bench_recorder_times_the_lightning_callback_against_the_same_lightning_loop(lit, capsys):
    from resviz.cli import main

    args = ["bench", "recorder", "--model", "resnet20", "-o", "depth=8", "-o", "width=4", "-o", "norm=none",
            "--batch-size", "4", "--steps", "2", "--lightning"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Lightning without resviz: " in out and "Lightning with ResvizCallback: " in out
    assert out.count("ratio: ") == 2  # the recorder's row, then Lightning's


def test_the_readme_example_runs_and_records(lit, run_readme_example):
    folder = run_readme_example("ResvizCallback")
    with open_run(folder / "runs" / "lit.resviz") as reader:
        info, steps, evals = reader.info(), reader.read_steps(), reader.evals()
        saved = [(c.step, c.epoch) for c in reader.checkpoints()]
    assert info.status == "finished" and info.block_ids[0] == "net.layer1.0"
    assert steps.step.tolist() == list(range(4)) and len(evals) == 2
    assert saved == [(1, 0), (3, 1)]  # the trainer's checkpoint at the end of each epoch
