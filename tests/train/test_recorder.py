"""The gradient recorder: exact against plain autograd, batched delivery, hooks always removed."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from resviz.errors import ResvizError
from resviz.models import get_model
from resviz.train.layers import OUTPUT_ID, find_blocks, layer_parameters
from resviz.train.recorder import (
    DEAD_RELU_SAMPLES,
    NONFINITE_GRAD,
    NONFINITE_LOSS,
    GradientRecorder,
    NonfiniteSteps,
    RecordedSteps,
    concat_steps,
)


def tiny_resnet(residual: bool = True, **options) -> nn.Module:
    options = {"depth": 8, "width": 4, "norm": "none", "input_size": 8, **options}
    return get_model("resnet20" if residual else "plain20", **options)


def batch(n: int = 6, size: int = 8, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=generator), torch.randint(0, 10, (n,), generator=generator)


def all_hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules())


class Reference:
    """The same statistics computed independently with plain autograd on a twin copy of the model."""

    def __init__(self, model: nn.Module, blocks: list[str]) -> None:
        self.model = model
        self.blocks = blocks
        self.layers = layer_parameters(model)
        self.previous: list[torch.Tensor] | None = None

    def step(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, np.ndarray]:
        outputs: dict[str, torch.Tensor] = {}
        modules = dict(self.model.named_modules())
        handles = [modules[b].register_forward_hook(lambda m, i, o, b=b: outputs.__setitem__(b, o))
                   for b in self.blocks]
        try:
            loss = F.cross_entropy(self.model(x), y)
        finally:
            for handle in handles:
                handle.remove()
        act_grads = torch.autograd.grad(loss, [outputs[b] for b in self.blocks], retain_graph=True)
        self.model.zero_grad(set_to_none=True)
        loss.backward()
        weights = [p.detach().clone() for _, params in self.layers for _, p in params]
        result = {
            "loss": loss.item(),
            "grad": np.array([math.sqrt(sum(p.grad.double().norm().item() ** 2 for _, p in params))
                              for _, params in self.layers]),
            "weight": np.array([math.sqrt(sum(p.double().norm().item() ** 2 for _, p in params))
                                for _, params in self.layers]),
            "act": np.array([g.double().norm().item() for g in act_grads]),
            "dead": np.array([(outputs[b][:DEAD_RELU_SAMPLES] == 0).double().mean().item() for b in self.blocks]),
        }
        if self.previous is not None:
            deltas, i = [], 0
            for _, params in self.layers:
                total = 0.0
                for _, p in params:
                    total += (p.detach().double() - self.previous[i].double()).norm().item() ** 2
                    i += 1
                deltas.append(math.sqrt(total))
            result["update"] = np.array(deltas) / result["weight"]
        self.previous = weights
        return result


def test_layer_and_block_ids_follow_module_names():
    model = get_model("resnet20", width=4, norm="none")
    layers = [name for name, _ in layer_parameters(model)]
    assert layers[0] == "conv1" and layers[-1] == "fc"
    assert layers[1:3] == ["layer1.0.conv1", "layer1.0.conv2"]
    assert len(layers) == 20  # 19 convolutions and the classifier: the "20" of ResNet-20
    assert find_blocks(model) == [f"layer{s}.{b}" for s in (1, 2, 3) for b in range(3)]
    assert find_blocks(get_model("mlp_plain", depth=3, width=8)) == ["blocks.0", "blocks.1", "blocks.2"]
    assert find_blocks(get_model("simple_cnn", width=4)) == ["features.0", "features.1"]
    assert find_blocks(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))) == [OUTPUT_ID]


def test_recorded_numbers_equal_plain_autograd_over_several_sgd_steps():
    model = tiny_resnet(residual=True)
    twin = copy.deepcopy(model)
    got: list[RecordedSteps] = []
    recorder = GradientRecorder(model, sink=got.append, flush_every=2, flush_seconds=1e9)
    reference = Reference(twin, recorder.block_ids)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    twin_optimizer = torch.optim.SGD(twin.parameters(), lr=0.05, momentum=0.9)
    expected = []
    with recorder:
        for step in range(4):
            x, y = batch(seed=step)
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            recorder.step(loss=loss, lr=0.05)
            optimizer.step()
            expected.append(reference.step(x, y))
            twin_optimizer.step()
    steps = concat_steps(got)
    assert steps.step.tolist() == [0, 1, 2, 3]
    assert len(got) == 2  # two host transfers of two rows, not one per step
    for i, want in enumerate(expected):
        np.testing.assert_allclose(steps.loss[i], want["loss"], rtol=1e-6)
        np.testing.assert_allclose(steps.grad_norm[i], want["grad"], rtol=1e-5)
        np.testing.assert_allclose(steps.weight_norm[i], want["weight"], rtol=1e-5)
        np.testing.assert_allclose(steps.act_grad_norm[i], want["act"], rtol=1e-5)
        np.testing.assert_allclose(steps.dead_relu[i], want["dead"], rtol=1e-6)
        if i == 0:
            assert np.isnan(steps.update_ratio[0]).all()
        else:
            np.testing.assert_allclose(steps.update_ratio[i], want["update"], rtol=1e-4)
    assert (steps.dead_relu > 0).any()  # ReLU outputs do have zeros: the check is not vacuous
    assert not steps.nonfinite.any()
    assert np.all(steps.lr == 0.05)


def test_large_batches_measure_dead_relus_on_their_first_samples_and_gradients_on_all():
    model = tiny_resnet()
    twin = copy.deepcopy(model)
    x, y = batch(n=DEAD_RELU_SAMPLES + 8)
    got: list[RecordedSteps] = []
    with GradientRecorder(model, sink=got.append) as recorder:
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        recorder.step(loss=loss)
    want = Reference(twin, recorder.block_ids).step(x, y)
    steps = concat_steps(got)
    np.testing.assert_allclose(steps.dead_relu[0], want["dead"], rtol=1e-6)
    np.testing.assert_allclose(steps.act_grad_norm[0], want["act"], rtol=1e-5)


def test_dead_relu_is_nan_where_a_block_does_not_end_in_a_relu():
    model = get_model("mlp_residual", depth=3, width=8, input_size=4)
    recorder = GradientRecorder(model, sink=(got := []).append)
    with recorder:
        loss = F.cross_entropy(model(torch.randn(5, 1, 4, 4)), torch.randint(0, 10, (5,)))
        loss.backward()
        recorder.step(loss=loss)
    steps = concat_steps(got)
    assert np.isnan(steps.dead_relu).all()
    assert np.isfinite(steps.act_grad_norm).all()


def layer_norms(model: nn.Module, tensors: list[torch.Tensor]) -> np.ndarray:
    """Per-layer L2 norms of ``tensors`` given in ``model.parameters()`` order."""
    position = {id(p): i for i, p in enumerate(model.parameters())}
    return np.array([math.sqrt(sum(tensors[position[id(p)]].double().norm().item() ** 2 for _, p in params))
                     for _, params in layer_parameters(model)])


def test_every_n_records_one_step_in_n_and_the_update_of_the_step_before():
    model = tiny_resnet(residual=False)
    got: list[RecordedSteps] = []
    recorder = GradientRecorder(model, every=3, sink=got.append)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    expected = {}
    previous: list[torch.Tensor] = []  # the parameters before the last optimizer step
    with recorder:
        for step in range(7):
            x, y = batch(seed=step)
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            now = [p.detach().clone() for p in model.parameters()]
            if step in (3, 6):  # the update made by the previous step's optimizer step only
                delta = [a - b for a, b in zip(now, previous)]
                expected[step] = layer_norms(model, delta) / layer_norms(model, now)
            assert recorder.step(loss=loss) == (step % 3 == 0)
            previous = now
            optimizer.step()
    steps = concat_steps(got)
    assert steps.step.tolist() == [0, 3, 6]
    assert np.isnan(steps.update_ratio[0]).all()
    np.testing.assert_allclose(steps.update_ratio[1], expected[3], rtol=1e-4)
    np.testing.assert_allclose(steps.update_ratio[2], expected[6], rtol=1e-4)


def test_a_layer_without_gradient_is_nan_not_zero():
    class TwoHeads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used = nn.Linear(4, 3)
            self.unused = nn.Linear(4, 3)

        def forward(self, x):
            return self.used(x)

    model = TwoHeads()
    got: list[RecordedSteps] = []
    with GradientRecorder(model, sink=got.append) as recorder:
        loss = model(torch.randn(2, 4)).sum()
        loss.backward()
        recorder.step(loss=loss)
    steps = concat_steps(got)
    assert recorder.layer_ids == ["used", "unused"]
    assert np.isfinite(steps.grad_norm[0, 0]) and np.isnan(steps.grad_norm[0, 1])
    np.testing.assert_allclose(steps.weight_norm[0, 1], math.sqrt(model.unused.weight.detach().norm() ** 2
                                                                  + model.unused.bias.detach().norm() ** 2), rtol=1e-6)


def test_non_finite_loss_and_gradients_are_flagged_not_dropped():
    model = tiny_resnet()
    got: list[RecordedSteps] = []
    with GradientRecorder(model, sink=got.append) as recorder:
        for poison in (False, True, False):
            x, y = batch()
            if poison:
                x[0, 0, 0, 0] = float("nan")
            loss = F.cross_entropy(model(x), y)
            model.zero_grad()
            loss.backward()
            recorder.step(loss=loss)
            flags = int(recorder.last_flags.item())
            assert bool(flags & NONFINITE_LOSS) == poison and bool(flags & NONFINITE_GRAD) == poison
    steps = concat_steps(got)
    assert steps.nonfinite.tolist() == [False, True, False]
    assert np.isnan(steps.loss[1]) and np.isnan(steps.grad_norm[1]).all()
    assert steps.nonfinite_flags[1] == NONFINITE_LOSS | NONFINITE_GRAD


def test_every_non_finite_step_reaches_the_host_recorded_or_not():
    model = nn.Linear(4, 3)
    rows: list[RecordedSteps] = []
    found: list[NonfiniteSteps] = []
    order: list[str] = []
    recorder = GradientRecorder(model, every=3, flush_every=2, flush_seconds=1e9,
                                sink=lambda steps: (order.append("rows"), rows.append(steps)),
                                nonfinite_sink=lambda bad: (order.append("flags"), found.append(bad)))
    bad_steps = {1, 3, 8, 13}  # 3 is recorded, the others are not
    with recorder:
        for step in range(14):
            loss = model(torch.randn(2, 4)).sum() * (float("inf") if step in bad_steps else 1.0)
            model.zero_grad()
            loss.backward()
            recorder.step(loss=loss)
            # The flag is on the device for every step; an unrecorded step has its loss checked only.
            expected = 0 if step not in bad_steps else NONFINITE_LOSS | (NONFINITE_GRAD if step % 3 == 0 else 0)
            assert recorder.last_flags.device == torch.device("cpu") and int(recorder.last_flags) == expected
    steps = concat_steps(rows)
    assert steps.step.tolist() == [0, 3, 6, 9, 12] and steps.nonfinite.tolist() == [False, True, False, False, False]
    # Rows flush after every 2 recorded steps (at steps 3 and 9, and 12 at the end); the unrecorded
    # steps' flags travel with them, and each delivery says its non-finite steps before its rows.
    assert order == ["flags", "rows"] * 3
    assert [b.step.tolist() for b in found] == [[1, 3], [8], [13]]
    assert [b.recorded.tolist() for b in found] == [[False, True], [False], [False]]
    assert found[0].flags.tolist() == [NONFINITE_LOSS, NONFINITE_LOSS | NONFINITE_GRAD]


def test_the_unrecorded_steps_log_flushes_when_full():
    model = nn.Linear(4, 3)
    found: list[NonfiniteSteps] = []
    recorder = GradientRecorder(model, every=2, flush_every=2, nonfinite_sink=found.append)
    with recorder:
        for step in range(1, 12, 2):  # only odd steps: never recorded, so only the log holds them
            loss = model(torch.randn(2, 4)).sum() * float("nan")
            model.zero_grad()
            loss.backward()
            recorder.step(loss=loss, step=step)
        # Room for (every - 1) * flush_every = 2 flags: a full log goes to the host before the next one.
        assert [b.step.tolist() for b in found] == [[1, 3], [5, 7]]
    assert [b.step.tolist() for b in found] == [[1, 3], [5, 7], [9, 11]]


def test_mixed_precision_scale_is_taken_out_of_activation_gradients():
    model = tiny_resnet()
    twin = copy.deepcopy(model)
    x, y = batch()
    got: list[RecordedSteps] = []
    with GradientRecorder(model, sink=got.append) as recorder:
        loss = F.cross_entropy(model(x), y)
        (loss * 1024.0).backward()
        for p in model.parameters():
            p.grad /= 1024.0  # what GradScaler.unscale_ does
        recorder.step(loss=loss, grad_scale=torch.tensor(1024.0))
    want = Reference(twin, recorder.block_ids).step(x, y)
    steps = concat_steps(got)
    np.testing.assert_allclose(steps.act_grad_norm[0], want["act"], rtol=1e-5)
    np.testing.assert_allclose(steps.grad_norm[0], want["grad"], rtol=1e-5)


def test_explicit_blocks_and_the_output():
    model = tiny_resnet()
    with pytest.raises(ResvizError, match="layer9"):
        GradientRecorder(model, blocks=["layer9.0"])
    got: list[RecordedSteps] = []
    with GradientRecorder(model, blocks=["layer2", OUTPUT_ID], sink=got.append) as recorder:
        x, y = batch()
        out = model(x)
        out.retain_grad()
        loss = F.cross_entropy(out, y)
        loss.backward()
        recorder.step(loss=loss)
    steps = concat_steps(got)
    assert recorder.block_ids == ["layer2", OUTPUT_ID]
    np.testing.assert_allclose(steps.act_grad_norm[0, 1], out.grad.norm().item(), rtol=1e-5)


def test_hooks_are_removed_after_a_normal_run_and_after_an_exception():
    model = tiny_resnet()
    before = all_hooks(model)
    recorder = GradientRecorder(model)
    with recorder:
        assert all_hooks(model) > before
        loss = F.cross_entropy(model(batch()[0]), batch()[1])
        loss.backward()
        recorder.step(loss=loss)
    assert all_hooks(model) == before and recorder.hook_count == 0

    recorder = GradientRecorder(model)
    with pytest.raises(RuntimeError, match="boom"):
        with recorder:
            model(batch()[0])  # forward hooks fired and tensor hooks were registered
            assert recorder.hook_count > all_hooks(model) - before
            raise RuntimeError("boom")
    assert all_hooks(model) == before and recorder.hook_count == 0


def test_rows_whose_delivery_was_interrupted_are_delivered_by_close():
    """Ctrl+C inside the run file's transaction rolls it back: those rows must not be forgotten."""
    model = tiny_resnet()
    got: list[RecordedSteps] = []
    interrupted = []

    def sink(steps: RecordedSteps) -> None:
        if not interrupted:
            interrupted.append(True)
            raise KeyboardInterrupt
        got.append(steps)

    recorder = GradientRecorder(model, sink=sink, flush_every=3, flush_seconds=1e9)
    with pytest.raises(KeyboardInterrupt):
        with recorder:
            for step in range(5):
                x, y = batch(seed=step)
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                recorder.step(loss=loss)
    recorder.close()
    assert interrupted and concat_steps(got).step.tolist() == [0, 1, 2]


def test_eval_forward_without_grad_is_not_recorded():
    model = tiny_resnet()
    with GradientRecorder(model) as recorder:
        with torch.no_grad():
            model(batch()[0])
        assert recorder.hook_count == len(recorder.block_ids)  # forward hooks only, no tensor hooks


def test_model_without_parameters_is_refused():
    with pytest.raises(ResvizError, match="no trainable parameters"):
        GradientRecorder(nn.ReLU())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_no_host_synchronisation_per_step_on_cuda():
    model = tiny_resnet().cuda()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    got: list[RecordedSteps] = []
    x, y = (t.cuda() for t in batch())
    found: list[NonfiniteSteps] = []
    recorder = GradientRecorder(model, sink=got.append, flush_every=3, flush_seconds=1e9, every=2,
                                nonfinite_sink=found.append)
    with recorder:
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            for step in range(13):
                out = model(x)
                loss = F.cross_entropy(out, y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                # Steps 5 (not recorded) and 6 (recorded) report a non-finite loss; the weights stay finite.
                reported = loss * float("nan") if step in (5, 6) else loss
                recorder.step(loss=reported, acc=(out.argmax(1) == y).float().mean())
                optimizer.step()
        finally:
            torch.cuda.set_sync_debug_mode(0)
    assert concat_steps(got).step.tolist() == list(range(0, 13, 2))
    assert np.concatenate([b.step for b in found]).tolist() == [5, 6]
