"""The trainer: run file contents, evaluation metrics, reproducibility, control, faults."""

from __future__ import annotations

import collections
import copy
import math
import threading

import numpy as np
import pytest
import torch
from torch import nn

from resviz.data import ImageData, dataset_stats, make_shapes
from resviz.errors import ResvizError
from resviz.models import get_model, rebuild_model
from resviz.runfile import open_run
from resviz.train import trainer as trainer_module
from resviz.train.config import TrainConfig
from resviz.train.control import TrainingControl
from resviz.train.device import choose_device
from resviz.train.metrics import accuracy, confusion_counts, precision_recall
from resviz.train.trainer import Trainer, lr_at

TINY = {"depth": 8, "width": 4, "norm": "none", "input_size": 8}


def config(tmp_path, name: str = "run", **changes) -> TrainConfig:
    # A fixed optimisation (not the model's recipe), so the numbers below are known.
    settings = dict(model="resnet20", model_options=dict(TINY), train_samples=48, test_samples=18, batch_size=16,
                    epochs=1, out=str(tmp_path / f"{name}.resviz"), checkpoint_every=0, optimizer="sgd", lr=0.05,
                    momentum=0.9, weight_decay=0.0, schedule="none", warmup=0.0)
    settings.update(changes)
    return TrainConfig(**settings)


def all_hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._backward_hooks) for m in model.modules())


# ---------------------------------------------------------------------------- metrics and schedules


def test_precision_and_recall_of_the_two_class_example():
    # Rows true (cat, dog), columns predicted: 45 cats right, 5 cats called dogs, 3 dogs called cats.
    confusion = np.array([[45, 5], [3, 47]])
    precision, recall = precision_recall(confusion)
    np.testing.assert_allclose(precision, [45 / 48, 47 / 52])
    assert precision[0] == pytest.approx(0.9375) and precision[1] == pytest.approx(0.904, abs=5e-4)
    np.testing.assert_allclose(recall, [0.9, 0.94])
    assert accuracy(confusion) == pytest.approx(0.92)
    labels = torch.tensor([0] * 50 + [1] * 50)
    predictions = torch.tensor([0] * 45 + [1] * 5 + [0] * 3 + [1] * 47)
    assert confusion_counts(labels, predictions, 2).tolist() == confusion.tolist()
    never_predicted = precision_recall(np.array([[2, 0], [1, 0]]))
    assert np.isnan(never_predicted[0][1]) and never_predicted[1][1] == 0


def test_learning_rate_schedules():
    step = TrainConfig(lr=0.1, schedule="step", lr_milestones=(0.5, 0.75), lr_gamma=0.1)
    assert [lr_at(step, s, 100) for s in (0, 49, 50, 74, 75, 99)] == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    cosine = TrainConfig(lr=0.2, schedule="cosine")
    assert lr_at(cosine, 0, 10) == pytest.approx(0.2)
    assert lr_at(cosine, 5, 10) == pytest.approx(0.1)
    assert lr_at(cosine, 10, 10) == pytest.approx(0.0, abs=1e-12)
    assert lr_at(TrainConfig(optimizer="adam"), 7, 10) == pytest.approx(1e-3)


def test_config_checks_and_round_trip():
    with pytest.raises(ResvizError, match="optimizer"):
        TrainConfig(optimizer="rmsprop").validate()
    with pytest.raises(ResvizError, match="nonfinite"):
        TrainConfig(nonfinite="ignore").validate()
    with pytest.raises(ResvizError, match="batch_size"):
        TrainConfig(batch_size=0).validate()
    with pytest.raises(ResvizError, match="unknown training option 'epoch'"):
        TrainConfig.from_dict({"epoch": 3})
    original = TrainConfig(model="plain20", model_options={"norm": "none"}, lr_milestones=(0.3, 0.6))
    assert TrainConfig.from_dict(original.to_dict()) == original


def test_device_choice():
    if not torch.cuda.is_available():
        with pytest.raises(ResvizError, match="no CUDA"):
            choose_device("cuda")
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            assert choose_device("auto") == torch.device("cpu")
    assert choose_device("cpu") == torch.device("cpu")
    with pytest.raises(ResvizError, match="not one of"):
        choose_device("tpu")


# ---------------------------------------------------------------------------- a whole run


def test_a_run_file_holds_steps_evaluations_checkpoints_and_the_config(tmp_path):
    progress = []
    trainer = Trainer(config(tmp_path, epochs=2, checkpoint_every=1, flush_every=2), on_progress=progress.append)
    result = trainer.run()
    assert result.status == "finished" and result.steps == 6 and result.epochs == 2
    with open_run(result.path) as reader:
        info = reader.info()
        steps = reader.read_steps()
        evals = reader.evals()
        assert info.status == "finished" and info.classes[:3] == ["circle", "square", "triangle"]
        assert info.model_spec.name == "resnet20" and info.model_spec.options["num_classes"] == 6
        assert info.config["epochs"] == 2 and info.config["resolved"]["total_steps"] == 6
        # The normalisation is stored, so attribution can feed images exactly as training did.
        mean, std = dataset_stats(trainer.train_data)
        assert info.config["resolved"]["mean"] == pytest.approx(list(mean))
        assert info.config["resolved"]["std"] == pytest.approx(list(std))
        assert steps.step.tolist() == list(range(6)) and steps.epoch.tolist() == [0, 0, 0, 1, 1, 1]
        assert np.isfinite(steps.loss).all() and ((0 <= steps.acc) & (steps.acc <= 1)).all()
        assert np.all(steps.lr == pytest.approx(0.05))
        assert [(e.step, e.epoch) for e in evals] == [(3, 0), (6, 1)]
        for evaluation in evals:
            assert evaluation.confusion.shape == (6, 6) and evaluation.confusion.sum() == 18
            assert evaluation.acc == pytest.approx(np.trace(evaluation.confusion) / 18)
        assert [c.step for c in reader.checkpoints()] == [3, 6]
        final = reader.load_checkpoint()
    rebuilt = rebuild_model(info.model_spec)
    rebuilt.load_state_dict(final)
    assert progress[-1].phase == "done" and progress[-1].step == 6 and progress[-1].eval_acc == evals[-1].acc
    assert any(p.phase == "eval" for p in progress)


def test_same_seed_and_config_give_identical_losses(tmp_path):
    first = Trainer(config(tmp_path, "a", max_steps=3, augment=True)).run()
    second = Trainer(config(tmp_path, "b", max_steps=3, augment=True)).run()
    other = Trainer(config(tmp_path, "c", max_steps=3, augment=True, seed=1)).run()
    losses = [open_run(r.path).read_steps().loss for r in (first, second, other)]
    np.testing.assert_array_equal(losses[0], losses[1])
    assert not np.array_equal(losses[0], losses[2])


def test_adam_with_cosine_and_max_steps_ending_mid_epoch(tmp_path):
    result = Trainer(config(tmp_path, optimizer="adam", lr=None, schedule="cosine", epochs=3, max_steps=4, amp=True)).run()
    assert result.status == "finished" and result.steps == 4 and result.epochs == 1
    with open_run(result.path) as reader:
        lrs = reader.read_steps().lr
        assert [e.step for e in reader.evals()] == [3, 4]  # every epoch, and where training stopped
        infos = [e.message for e in reader.events("info")]
    if not torch.cuda.is_available():
        assert any("mixed precision needs CUDA" in message for message in infos)
    expected = [1e-3 * 0.5 * (1 + math.cos(math.pi * s / 4)) for s in range(4)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-6)


def test_data_of_another_shape_sets_the_zoo_models_options(tmp_path):
    generator = torch.Generator().manual_seed(0)
    grey = ImageData(torch.randint(0, 256, (20, 1, 12, 12), dtype=torch.uint8, generator=generator),
                     torch.arange(20) % 4, ["a", "b", "c", "d"], "grey")
    result = Trainer(config(tmp_path, model_options={"depth": 8, "width": 4}), train_data=grey,
                     test_data=grey).run()
    with open_run(result.path) as reader:
        options = reader.info().model_spec.options
    assert (options["in_channels"], options["input_size"], options["num_classes"]) == (1, 12, 4)
    # When the user fixes the input, the data is converted instead (grey to colour, resized).
    result = Trainer(config(tmp_path, "fixed", model_options={**TINY, "in_channels": 3}), train_data=grey,
                     test_data=grey).run()
    with open_run(result.path) as reader:
        assert reader.info().config["resolved"]["input_shape"] == [3, 8, 8]
    with pytest.raises(ResvizError, match="num_classes=2 but data set grey has 4 classes"):
        Trainer(config(tmp_path, "few", model_options={**TINY, "num_classes": 2}), train_data=grey,
                test_data=grey).run()


# ---------------------------------------------------------------------------- pause, resume, stop


def test_stop_takes_effect_at_the_next_step_boundary(tmp_path):
    control = TrainingControl()

    def on_progress(progress):
        if progress.phase == "train" and progress.step >= 3:
            control.stop()

    result = Trainer(config(tmp_path, epochs=4, flush_every=1), control=control, on_progress=on_progress).run()
    assert result.status == "stopped" and result.steps == 3
    with open_run(result.path) as reader:
        assert reader.info().status == "stopped"
        assert reader.read_steps().step.tolist() == [0, 1, 2]
        assert [e.step for e in reader.events("stop")] == [3]
        assert [c.step for c in reader.checkpoints()] == [3]  # the weights at the stop are kept


def test_pause_holds_training_until_resume(tmp_path):
    control = TrainingControl()
    seen_while_paused = {}

    def resume_later(path):
        with open_run(path) as reader:
            seen_while_paused["steps"] = reader.step_count()
            seen_while_paused["status"] = reader.info().status
        control.resume()

    def on_progress(progress):
        if progress.phase == "train" and progress.step == 2 and not seen_while_paused:
            control.pause()
        if progress.phase == "paused":
            threading.Timer(0.3, resume_later, args=(trainer.path,)).start()

    trainer = Trainer(config(tmp_path, flush_every=1), control=control, on_progress=on_progress)
    result = trainer.run()
    assert result.status == "finished" and result.steps == 3
    assert seen_while_paused == {"steps": 2, "status": "running"}  # everything up to the pause was in the file
    with open_run(result.path) as reader:
        assert [(e.kind, e.step) for e in reader.events() if e.kind in ("pause", "resume")] == [("pause", 2),
                                                                                              ("resume", 2)]
        assert reader.read_steps().step.tolist() == [0, 1, 2]


# ---------------------------------------------------------------------------- faults


class Faulty(nn.Module):
    """A tiny ResNet whose training forward pass goes wrong at one step."""

    def __init__(self, fault: str, at_step: int) -> None:
        super().__init__()
        self.net = get_model("resnet20", **TINY, num_classes=6)
        self.input_shape = self.net.input_shape
        self.fault, self.at_step, self.calls = fault, at_step, 0

    def forward(self, x):
        if self.training:
            step, self.calls = self.calls, self.calls + 1
            if step == self.at_step:
                if self.fault == "nan":
                    return self.net(x) * float("nan")
                if self.fault == "raise":
                    raise RuntimeError("forward exploded")
                if self.fault == "oom":
                    raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.net(x)


def shapes_split(n: int, seed: int) -> ImageData:
    return make_shapes(n, size=8, channels=3, seed=seed)


def faulty_run(tmp_path, fault: str, at_step: int, **changes):
    model = Faulty(fault, at_step)
    trainer = Trainer(config(tmp_path, fault, **changes), model=model, train_data=shapes_split(64, 0),
                      test_data=shapes_split(12, 1))
    return model, trainer


def test_nan_loss_with_policy_stop_fails_the_run_at_that_step(tmp_path):
    model, trainer = faulty_run(tmp_path, "nan", 2, nonfinite="stop", epochs=2)
    result = trainer.run()
    assert result.status == "failed" and "non-finite loss" in result.error and "step 2" in result.error
    assert all_hooks(model) == 0
    with open_run(result.path) as reader:
        info = reader.info()
        steps = reader.read_steps()
        events = reader.events("nonfinite")
        weights = reader.load_checkpoint()
    assert info.status == "failed" and "step 2" in info.error
    assert steps.step.tolist() == [0, 1, 2] and steps.nonfinite.tolist() == [False, False, True]
    assert np.isnan(steps.loss[2]) and np.isnan(steps.grad_norm[2]).all()
    assert [e.step for e in events] == [2] and events[0].layer == "net.conv1" and "stopped" in events[0].message
    assert all(torch.isfinite(w).all() for w in weights.values())  # the bad step was never applied


def test_nan_loss_with_policy_skip_skips_that_step_and_goes_on(tmp_path):
    model, trainer = faulty_run(tmp_path, "nan", 1, nonfinite="skip")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = trainer.run()
    assert result.status == "finished" and result.steps == 4
    with open_run(result.path) as reader:
        steps = reader.read_steps()
        events = reader.events("nonfinite")
        weights = reader.load_checkpoint()
    assert steps.nonfinite.tolist() == [False, True, False, False]
    assert [e.step for e in events] == [1] and "skipped" in events[0].message
    assert all(torch.isfinite(w).all() for w in weights.values())
    assert any(not torch.equal(before[k], weights[k]) for k in weights)  # the other steps did train


def test_an_exception_in_forward_fails_the_run_and_keeps_the_steps_before(tmp_path):
    model, trainer = faulty_run(tmp_path, "raise", 3, flush_every=50)
    expected = "the forward pass failed at step 3: Faulty raised RuntimeError: forward exploded"
    with pytest.raises(ResvizError) as caught:  # one line naming the step and the module
        trainer.run()
    assert str(caught.value) == expected
    assert all_hooks(model) == 0
    with open_run(trainer.path) as reader:
        info = reader.info()
        assert info.status == "failed" and info.error == expected
        assert reader.read_steps().step.tolist() == [0, 1, 2]
        assert [e.message for e in reader.events("error")] == [expected]


def test_out_of_memory_is_reported_with_a_smaller_batch_hint(tmp_path):
    model, trainer = faulty_run(tmp_path, "oom", 1)
    with pytest.raises(ResvizError, match=r"out of memory .* step 1 with batch size 16; try a smaller batch "
                                          r"\(--batch-size 8\)"):
        trainer.run()
    with open_run(trainer.path) as reader:
        info = reader.info()
        assert info.status == "failed" and "smaller batch" in info.error
        assert reader.read_steps().step.tolist() == [0]


def test_an_existing_run_file_is_not_overwritten(tmp_path):
    Trainer(config(tmp_path, max_steps=1)).run()
    with pytest.raises(ResvizError, match="already exists"):
        Trainer(config(tmp_path, max_steps=1)).run()
    assert Trainer(config(tmp_path, max_steps=1, overwrite=True)).run().status == "finished"


# ---------------------------------------------------------------------------- the policies on the device


def recording_batches(trainer: Trainer) -> list:
    """Keep a copy of every training batch the trainer steps on (for a reference loop)."""
    batches = []
    step = trainer._train_step

    def keeping(x, y, epoch, lr):
        batches.append((x.clone(), y.clone()))
        step(x, y, epoch, lr)

    trainer._train_step = keeping
    return batches


def reference_weights(model: nn.Module, batches, optimizer: torch.optim.Optimizer) -> dict:
    """The plain loop: a step whose loss is not finite is really skipped (no optimizer call at all)."""
    for x, y in batches:
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if torch.isfinite(loss):
            optimizer.step()
    return model.state_dict()


@pytest.mark.parametrize("optimizer, nan_at", [("sgd", 0), ("sgd", 2), ("adam", 0), ("adam", 1)])
def test_a_step_skipped_on_the_device_equals_a_step_never_taken(tmp_path, optimizer, nan_at):
    model, trainer = faulty_run(tmp_path, "nan", nan_at, nonfinite="skip", optimizer=optimizer, flush_every=2,
                                lr={"sgd": 0.05, "adam": 1e-3}[optimizer])
    trainer.prepare()
    assert trainer.skip_on_device  # fused on the CPU: the same code path as on CUDA
    references = [copy.deepcopy(model), copy.deepcopy(model)]
    batches = recording_batches(trainer)
    result = trainer.run()
    assert result.status == "finished" and result.steps == 4 and len(batches) == 4
    with open_run(result.path) as reader:
        weights = reader.load_checkpoint()
        assert [e.step for e in reader.events("nonfinite")] == [nan_at]
    # Fused optimizers as torch makes them, whose first real step sets up their state themselves
    # (a skipped first step, nan_at=0, is where zero-initialised momentum buffers matter).
    made = {"sgd": lambda params, **kw: torch.optim.SGD(params, lr=0.05, momentum=0.9, **kw),
            "adam": lambda params, **kw: torch.optim.Adam(params, lr=1e-3, **kw)}[optimizer]
    expected = reference_weights(references[0], batches, made(references[0].parameters(), fused=True))
    assert weights.keys() == expected.keys()
    for name, value in expected.items():
        assert torch.equal(weights[name], value), name  # momentum and Adam's moments untouched by the skip
    # The unfused optimizers agree to rounding.
    unfused = reference_weights(references[1], batches, made(references[1].parameters(), foreach=False))
    for name, value in unfused.items():
        torch.testing.assert_close(weights[name], value, rtol=1e-5, atol=1e-6)


def test_policy_stop_at_an_unrecorded_step_keeps_the_weights_before_it(tmp_path):
    # Recording every 2nd step: step 3 is not recorded, its loss flag still stops the run.
    model, trainer = faulty_run(tmp_path, "nan", 3, nonfinite="stop", record_every=2, epochs=2)
    trainer.prepare()
    reference = copy.deepcopy(model)
    batches = recording_batches(trainer)
    result = trainer.run()
    assert result.status == "failed" and result.steps == 3 and result.epochs == 0
    assert result.error == "non-finite loss at step 3 (--nonfinite stop ended the run)"
    assert len(batches) == 4 and not result.evals  # the host learnt of it at the end of the epoch
    with open_run(result.path) as reader:
        assert reader.read_steps().step.tolist() == [0, 2]
        [event] = reader.events("nonfinite")
        weights = reader.load_checkpoint()
        assert [c.step for c in reader.checkpoints()] == [3]
    assert event.step == 3 and "not recorded" in event.message and "training stopped" in event.message
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.05, momentum=0.9, fused=True)
    expected = reference_weights(reference, batches[:3], optimizer)  # steps 0, 1 and 2, nothing after
    assert all(torch.equal(weights[name], value) for name, value in expected.items())


def test_policy_skip_reports_unrecorded_steps_too(tmp_path):
    model, trainer = faulty_run(tmp_path, "nan", 1, nonfinite="skip", record_every=2)
    result = trainer.run()
    assert result.status == "finished" and result.steps == 4
    with open_run(result.path) as reader:
        assert reader.read_steps().step.tolist() == [0, 2]
        assert not reader.read_steps().nonfinite.any()
        assert [(e.step, "not recorded" in e.message and "step skipped" in e.message)
                for e in reader.events("nonfinite")] == [(1, True)]
        assert all(torch.isfinite(w).all() for w in reader.load_checkpoint().values())


@pytest.mark.parametrize("scaler_exposes_its_flag", [True, False])
def test_mixed_precision_skips_on_the_device_with_the_scalers_own_check(tmp_path, monkeypatch,
                                                                        scaler_exposes_its_flag):
    # The trainer turns mixed precision on only on CUDA; a CPU GradScaler runs the same code here.
    if not scaler_exposes_its_flag:
        monkeypatch.setattr(trainer_module, "_scaler_found_inf", lambda scaler, optimizer: None)
    model, trainer = faulty_run(tmp_path, "nan", 2, nonfinite="skip", flush_every=2)
    trainer.prepare()
    trainer.amp, trainer.scaler = True, torch.amp.GradScaler("cpu", init_scale=2.0 ** 10)
    reference = copy.deepcopy(model)
    batches = recording_batches(trainer)
    result = trainer.run()
    assert result.status == "finished" and result.steps == 4 and trainer.skip_on_device == scaler_exposes_its_flag
    with open_run(result.path) as reader:
        weights = reader.load_checkpoint()
        assert [(e.step, e.message.endswith("; step skipped")) for e in reader.events("nonfinite")] == [(2, True)]
        infos = [e.message for e in reader.events("info")]
    assert any("does not expose its overflow flag" in m for m in infos) != scaler_exposes_its_flag
    # The usual mixed-precision loop (unscale, then GradScaler.step, which skips the NaN step itself).
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.05, momentum=0.9, fused=True)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 10)
    for x, y in batches:
        with torch.autocast("cpu", dtype=torch.float16):
            loss = torch.nn.functional.cross_entropy(reference(x), y)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        scaler.step(optimizer)
        scaler.update()
    assert trainer.scaler.get_scale() == scaler.get_scale() == 2.0 ** 9  # the NaN step halved the scale once
    for name, value in reference.state_dict().items():
        if scaler_exposes_its_flag:
            assert torch.equal(weights[name], value), name
        else:  # unfused from the first step on: the same updates up to rounding
            torch.testing.assert_close(weights[name], value, rtol=1e-5, atol=1e-6)


HOST_READS = ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__")


def count_host_reads(monkeypatch) -> collections.Counter:
    """Count every read of a tensor's value into Python (a CPU stand-in for CUDA's sync debug mode)."""
    counts: collections.Counter = collections.Counter()

    def counting(name, original):
        def read(self, *args, **kwargs):
            counts[name] += 1
            return original(self, *args, **kwargs)
        return read

    for name in HOST_READS:
        monkeypatch.setattr(torch.Tensor, name, counting(name, getattr(torch.Tensor, name)))
    return counts


@pytest.mark.parametrize("changes", [
    dict(optimizer="sgd", nonfinite="skip", nan_at=4),
    dict(optimizer="adam", nonfinite="stop", nan_at=5, record_every=2),
])
def test_no_host_read_in_the_step_loop_except_where_rows_reach_the_host(tmp_path, monkeypatch, changes):
    changes = dict(changes)
    nan_at = changes.pop("nan_at")
    model = Faulty("nan", nan_at)
    trainer = Trainer(config(tmp_path, flush_every=3, flush_seconds=1e9, **changes), model=model,
                      train_data=shapes_split(160, 0), test_data=shapes_split(12, 1))
    deliveries = []
    deliver = trainer._on_recorded
    trainer._on_recorded = lambda steps: (deliveries.append(steps.step.tolist()), deliver(steps))
    counts = count_host_reads(monkeypatch)
    reads_per_step = []
    step = trainer._train_step

    def counted_step(*args):
        before, delivered = sum(counts.values()), len(deliveries)
        try:
            step(*args)
        finally:
            reads_per_step.append((sum(counts.values()) - before, len(deliveries) > delivered))

    trainer._train_step = counted_step
    result = trainer.run()
    flushed = [i for i, (_, delivered) in enumerate(reads_per_step) if delivered]
    quiet = [reads for reads, delivered in reads_per_step if not delivered]
    assert len(quiet) >= 6 and quiet == [0] * len(quiet)  # no value read between flushes, NaN steps included
    assert all(reads_per_step[i][0] > 0 for i in flushed)  # the rows' one copy to the host (numpy)
    if changes["nonfinite"] == "skip":
        assert result.status == "finished" and result.steps == 10
        assert flushed == [2, 5, 8]  # every 3 recorded steps
    else:
        # Rows 0, 2, 4 flush at step 4; unrecorded step 5 is not finite, and the host learns it with
        # the next rows, flushed at the end of the epoch (step 9), before its evaluation.
        assert flushed == [4] and len(reads_per_step) == 10 and not result.evals
        assert result.status == "failed" and result.steps == 5 and "loss at step 5" in result.error
        with open_run(result.path) as reader:
            assert reader.read_steps().step.tolist() == [0, 2, 4]  # rows 6 and 8 came after the stop
            assert all(torch.isfinite(w).all() for w in reader.load_checkpoint().values())


class SparseLookup(nn.Module):
    """A model with a sparse embedding gradient, which fused SGD does not take."""

    def __init__(self) -> None:
        super().__init__()
        self.input_shape = (3, 8, 8)
        self.embedding = nn.Embedding(4, 6, sparse=True)
        self.fc = nn.Linear(3, 6)

    def forward(self, x):
        index = (x[:, 0, 0, 0] > 0).long()
        return self.fc(x.mean((2, 3))) + self.embedding(index)


def test_sparse_gradients_fall_back_to_host_checks_and_still_skip_and_train(tmp_path):
    trainer = Trainer(config(tmp_path, nonfinite="skip", max_steps=3), model=SparseLookup(),
                      train_data=shapes_split(64, 0), test_data=shapes_split(12, 1))
    before = copy.deepcopy(trainer.prepare().model.state_dict())
    assert trainer.skip_on_device
    result = trainer.run()
    assert result.status == "finished" and result.steps == 3 and not trainer.skip_on_device
    with open_run(result.path) as reader:
        infos = [e.message for e in reader.events("info")]
        weights = reader.load_checkpoint()
    assert any("read on the host every step: sparse gradients" in message for message in infos)
    assert not torch.equal(weights["embedding.weight"], before["embedding.weight"])
    assert not torch.equal(weights["fc.weight"], before["fc.weight"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("changes", [
    dict(optimizer="sgd", nonfinite="skip"),
    dict(optimizer="adam", nonfinite="stop", record_every=2),
    dict(optimizer="sgd", nonfinite="stop", amp=True),
    dict(optimizer="adam", nonfinite="skip", amp=True, record_every=2),
])
def test_no_host_synchronisation_in_the_step_loop_on_cuda(tmp_path, changes):
    model = Faulty("nan", 4)
    trainer = Trainer(config(tmp_path, device="cuda", flush_every=3, flush_seconds=1e9, epochs=2, **changes),
                      model=model, train_data=shapes_split(160, 0), test_data=shapes_split(12, 1))
    step = trainer._train_step
    steps_run = []

    def step_that_must_not_sync(*args):
        steps_run.append(trainer.step)
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")  # any host synchronisation raises
        try:
            step(*args)
        finally:
            torch.cuda.set_sync_debug_mode(0)

    trainer._train_step = step_that_must_not_sync
    result = trainer.run()
    # The copies reach the host when their events say so: the stop comes at step 4 or some steps later.
    assert trainer.skip_on_device and steps_run[:5] == [0, 1, 2, 3, 4]
    with open_run(result.path) as reader:
        steps = reader.read_steps()
        events = reader.events("nonfinite")
        weights = reader.load_checkpoint()
    assert all(torch.isfinite(w).all() for w in weights.values())
    assert 4 in [e.step for e in events]  # (with mixed precision, overflowing steps may show up too)
    if changes["nonfinite"] == "skip":
        assert result.status == "finished" and result.steps == 20
        assert steps.step.tolist() == list(range(0, 20, changes.get("record_every", 1)))
    else:
        assert result.status == "failed" and result.steps == 4 and "at step 4" in result.error
        assert steps.step.max() == 4
