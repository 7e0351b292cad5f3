"""resviz.watch under mixed precision in a user's loop: unscaled gradients, steps the scaler skips, bf16."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import resviz
from resviz.runfile import SKIPPED_EVENT, open_run
from resviz.train.layers import layer_parameters


class Block(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.fc = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.fc(x))


def tiny_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), Block(16), Block(16), nn.Linear(16, 3))


def layer_norms(model: nn.Module, divide_by: float = 1.0) -> list[float]:
    return [math.sqrt(sum(float(p.grad.double().norm()) ** 2 for _, p in params)) / divide_by
            for _, params in layer_parameters(model)]


def output_gradient_norms(model: nn.Module, blocks: list[str]) -> tuple[list, list]:
    """Hooks of the test's own that keep each block's output gradient norm (float64)."""
    seen: list = []
    modules = dict(model.named_modules())

    def keep(_module, _inputs, output):
        output.register_hook(lambda grad: seen.append(float(grad.double().norm())))

    return seen, [modules[name].register_forward_hook(keep) for name in blocks]


def amp_loop(tmp_path, device: str, *, unscale_first: bool, steps: int = 3):
    """fp16 autocast with a GradScaler whose first scale overflows the fp16 gradients (so the scaler
    skips step 0), then finite steps; returns the run file and the expected unscaled norms by step."""
    model = tiny_net().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    scaler = torch.amp.GradScaler(device, init_scale=2.0 ** 40, backoff_factor=2.0 ** -30, growth_interval=1000)
    generator = torch.Generator().manual_seed(3)
    expected, skipped_by_torch = {}, []
    path = tmp_path / f"amp-{unscale_first}.resviz"
    with resviz.watch(model, run=path, blocks=["1", "2"], scaler=scaler) as rec:
        for step in range(steps):
            x = torch.randn(8, 6, generator=generator).to(device)
            y = torch.randint(0, 3, (8,), generator=generator).to(device)
            with torch.autocast(device, dtype=torch.float16):
                loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            scaler.scale(loss).backward()
            scale = scaler.get_scale()  # the test may read the scale; resviz does not
            if unscale_first:
                scaler.unscale_(optimizer)
            expected[step] = layer_norms(model, 1.0 if unscale_first else scale)
            rec.step(loss=loss, optimizer=optimizer)
            scaler.step(optimizer)
            scaler.update()
            if scaler.get_scale() < scale:
                skipped_by_torch.append(step)
    return path, expected, skipped_by_torch


@pytest.mark.parametrize("unscale_first", [False, True])
def test_cpu_grad_scaler_gradients_are_recorded_unscaled_and_its_skipped_step_as_skipped(tmp_path, unscale_first):
    path, expected, skipped_by_torch = amp_loop(tmp_path, "cpu", unscale_first=unscale_first)
    assert skipped_by_torch == [0]  # the set-up: the scaler skipped the first step, and only that one
    with open_run(path) as reader:
        steps = reader.read_steps()
        assert steps.step.tolist() == [0, 1, 2]
        for step in (1, 2):
            np.testing.assert_allclose(steps.grad_norm[step], expected[step], rtol=1e-4)
        # The skipped step: not a non-finite step, its overflowing gradients NaN, an event saying so.
        assert not steps.nonfinite.any()
        assert reader.skipped_steps() == [0] and not reader.events("nonfinite")
        assert np.isnan(steps.grad_norm[0]).any() and not np.isinf(steps.grad_norm).any()
        event = reader.events(SKIPPED_EVENT)[0]
        assert "skipped by the gradient scaler" in event.message and event.layer in reader.info().layer_ids
        assert np.isfinite(steps.grad_norm[1:]).all() and np.isfinite(steps.act_grad_norm[1:]).all()


def test_without_the_scaler_the_overflow_is_a_non_finite_gradient(tmp_path):
    """What ``scaler=`` changes: without it the same loop's first step reads as non-finite gradients."""
    model = tiny_net()
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 40)
    x, y = torch.randn(8, 6), torch.randint(0, 3, (8,))
    with resviz.watch(model, run=tmp_path / "plain.resviz", blocks=["1", "2"]) as rec:
        with torch.autocast("cpu", dtype=torch.float16):
            loss = F.cross_entropy(model(x), y)
        scaler.scale(loss).backward()
        rec.step(loss=loss)
    with open_run(tmp_path / "plain.resviz") as reader:
        assert reader.read_steps().nonfinite.tolist() == [True] and reader.skipped_steps() == []


def test_bf16_autocast_records_the_gradients_and_activation_gradients(tmp_path):
    model = tiny_net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    seen, handles = output_gradient_norms(model, ["1", "2"])
    generator = torch.Generator().manual_seed(4)
    expected_grads, expected_act = [], []
    with resviz.watch(model, run=tmp_path / "bf16.resviz", blocks=["1", "2"]) as rec:
        for _ in range(2):
            x, y = torch.randn(8, 6, generator=generator), torch.randint(0, 3, (8,), generator=generator)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                out = model(x)
                loss = F.cross_entropy(out, y)
            assert out.dtype == torch.bfloat16
            optimizer.zero_grad()
            seen.clear()
            loss.backward()
            expected_grads.append(layer_norms(model))
            expected_act.append(list(reversed(seen)))  # the backward reaches block 2 first
            rec.step(loss=loss, optimizer=optimizer)
            optimizer.step()
    for handle in handles:
        handle.remove()
    with open_run(tmp_path / "bf16.resviz") as reader:
        steps = reader.read_steps()
        assert not steps.nonfinite.any()
        np.testing.assert_allclose(steps.grad_norm, expected_grads, rtol=1e-5)
        np.testing.assert_allclose(steps.act_grad_norm, expected_act, rtol=1e-3)  # bf16 gradients, f32 norms
        assert np.isfinite(steps.dead_relu).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_grad_scaler_recording_is_unscaled_marks_the_skip_and_never_syncs(tmp_path):
    path, expected, skipped_by_torch = amp_loop(tmp_path, "cuda", unscale_first=False)
    assert skipped_by_torch == [0]
    with open_run(path) as reader:
        steps = reader.read_steps()
        np.testing.assert_allclose(steps.grad_norm[1:], [expected[1], expected[2]], rtol=1e-4)
        assert reader.skipped_steps() == [0] and not steps.nonfinite.any()
    # rec.step itself under CUDA's sync debug mode: no host synchronisation, with or without unscale_.
    model = tiny_net().cuda()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    scaler = torch.amp.GradScaler("cuda")
    x, y = torch.randn(8, 6, device="cuda"), torch.randint(0, 3, (8,), device="cuda")
    with resviz.watch(model, run=tmp_path / "sync.resviz", blocks=["1", "2"], scaler=scaler) as rec:
        for step in range(4):
            with torch.autocast("cuda", dtype=torch.float16):
                loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            scaler.scale(loss).backward()
            if step % 2:
                scaler.unscale_(optimizer)
            torch.cuda.synchronize()
            torch.cuda.set_sync_debug_mode("error")
            try:
                rec.step(loss=loss, optimizer=optimizer)
            finally:
                torch.cuda.set_sync_debug_mode(0)
            scaler.step(optimizer)
            scaler.update()
