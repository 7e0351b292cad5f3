"""ResvizTrainerCallback in a real transformers Trainer, on a tiny GPT-2 built from its config."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from resviz.runfile import open_run

# One worker runs these: transformers is imported once, when the first of them runs.
pytestmark = pytest.mark.xdist_group("integrations")


@pytest.fixture(scope="module")
def hf():
    """The tiny GPT-2 helpers (``huggingface_support``); transformers is imported here, not at collection."""
    pytest.importorskip("transformers", reason="the transformers package is not installed")
    pytest.importorskip("accelerate",
                        reason="transformers' Trainer needs the accelerate package, which is not installed")
    import huggingface_support

    return huggingface_support


def test_train_records_each_optimizer_step_evaluations_and_checkpoints(hf, tmp_path):
    model = hf.tiny_gpt2()
    run = tmp_path / "hf.resviz"
    applied = hf.GradientsApplied()
    args = hf.transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"), per_device_train_batch_size=4, per_device_eval_batch_size=4,
        gradient_accumulation_steps=2, num_train_epochs=2, learning_rate=1e-3, logging_steps=1,
        eval_strategy="epoch", save_strategy="epoch", report_to="none", use_cpu=True, disable_tqdm=True,
        dataloader_num_workers=0, seed=0)
    trainer = hf.transformers.Trainer(model=model, args=args, train_dataset=hf.token_rows(16),
                                   eval_dataset=hf.token_rows(8, seed=1),
                                   callbacks=[hf.ResvizTrainerCallback(run=run), applied])
    trainer.train()

    with open_run(run) as reader:
        info, steps, evals = reader.info(), reader.read_steps(), reader.evals()
        weights = reader.load_checkpoint()
        saved = [(c.step, c.epoch) for c in reader.checkpoints()]
    assert info.status == "finished" and info.config["source"] == "transformers"
    assert info.layer_ids[0] == "transformer.wte"
    # 16 rows, batches of 4, 2 accumulated per optimizer step: 2 steps an epoch.
    assert steps.step.tolist() == [0, 1, 2, 3] and steps.epoch.tolist() == [0, 0, 1, 1]
    np.testing.assert_allclose(steps.grad_norm, np.array(applied.grad_norms), rtol=1e-5)
    history = trainer.state.log_history
    np.testing.assert_allclose(steps.loss, [h["loss"] for h in history if "loss" in h], rtol=1e-5)
    assert np.all(np.isfinite(steps.lr)) and steps.lr[0] == pytest.approx(1e-3)
    assert [(e.split, e.epoch) for e in evals] == [("eval", 0), ("eval", 1)]
    np.testing.assert_allclose([e.loss for e in evals], [h["eval_loss"] for h in history if "eval_loss" in h],
                               rtol=1e-6)
    assert saved == [(1, 0), (3, 1)]  # one at the end of each epoch
    # The last checkpoint the Trainer saved: the final weights (the tied output layer included).
    torch.testing.assert_close(weights["transformer.h.1.mlp.c_fc.weight"],
                               model.transformer.h[1].mlp.c_fc.weight.detach())
    assert all(len(m._forward_hooks) == 0 for m in model.modules())  # the loss hook is gone


def test_the_readme_example_runs_and_records(hf, run_readme_example):
    folder = run_readme_example("ResvizTrainerCallback")
    with open_run(folder / "runs" / "hf.resviz") as reader:
        info, steps, evals = reader.info(), reader.read_steps(), reader.evals()
        saved = [(c.step, c.epoch) for c in reader.checkpoints()]
    assert info.status == "finished" and info.config["source"] == "transformers"
    assert steps.step.tolist() == list(range(8)) and [e.epoch for e in evals] == [0, 1]
    assert saved == [(3, 0), (7, 1)]


@pytest.mark.parametrize("clipped", [False, True], ids=["not-unscaled-yet", "unscaled-by-clipping"])
def test_fp16_gradients_are_recorded_unscaled_and_the_step_applies_them_once(hf, tmp_path, clipped):
    """Under fp16 the Trainer steps through accelerate's optimizer and its GradScaler, which unscales
    only when the Trainer clipped. (On the CPU accelerate takes no scaler, so the scaler is given here.)"""
    from accelerate import Accelerator
    from accelerate.optimizer import AcceleratedOptimizer
    from accelerate.state import AcceleratorState

    args = hf.transformers.TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none")
    Accelerator(cpu=True)  # the state accelerate's optimizer reads (after the arguments, which reset it)
    try:
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
        twin = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
        twin.load_state_dict(model.state_dict())
        scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
        optimizer = AcceleratedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1), device_placement=False,
                                         scaler=scaler)
        state, control = hf.transformers.TrainerState(), hf.transformers.TrainerControl()
        callback = hf.ResvizTrainerCallback(run=tmp_path / "fp16.resviz")
        callback.on_train_begin(args, state, control, model=model)

        x, y = torch.randn(5, 6), torch.randn(5, 3)
        scaler.scale(torch.nn.functional.mse_loss(model(x), y)).backward()
        if clipped:
            scaler.unscale_(optimizer.optimizer)  # what the Trainer's clipping does first
        callback.on_pre_optimizer_step(args, state, control, optimizer=optimizer)
        optimizer.step()  # accelerate's: the scaler's step and update
        callback.on_train_end(args, state, control)

        reference = torch.optim.SGD(twin.parameters(), lr=0.1)
        torch.nn.functional.mse_loss(twin(x), y).backward()
        expected = [float(twin[i].weight.grad.norm() ** 2 + twin[i].bias.grad.norm() ** 2) ** 0.5 for i in (0, 2)]
        reference.step()
        with open_run(tmp_path / "fp16.resviz") as reader:
            steps = reader.read_steps()
        np.testing.assert_allclose(steps.grad_norm[0], expected, rtol=1e-5)
        for p, q in zip(model.parameters(), twin.parameters()):  # unscaled once: the same update
            torch.testing.assert_close(p, q)
    finally:
        AcceleratorState._reset_state(True)
