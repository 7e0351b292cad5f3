"""Warnings for collapsing and diverging runs: the monitor on synthetic rows, and real runs end to end."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import resviz
from resviz.cli import main
from resviz.commands.train import TrainingProgressLine, WarningLine
from resviz.runfile import open_run
from resviz.train.config import TrainConfig
from resviz.train.health import (
    DEAD_ROWS,
    PLATEAU_AFTER_STEPS,
    SPIKE_FACTOR,
    WARNING_KIND,
    ZERO_ROWS,
    HealthMonitor,
    HealthWarning,
    Remedies,
    model_has_norm,
)
from resviz.train.recorder import RecordedSteps
from resviz.train.trainer import Trainer, TrainProgress

LAYERS = ["conv1", "block1.conv1", "block1.conv2", "fc"]
BLOCKS = ["block1", "block2"]
LN10 = math.log(10)
CLI = Remedies(flags=True, optimizer="sgd", has_norm=False, norm_option=True)


def rows(loss, *, start: int = 0, lr: float = 0.05, grad=None, dead=None) -> RecordedSteps:
    """Recorded rows with healthy per-layer numbers unless ``grad``/``dead`` say otherwise."""
    loss = np.asarray(loss, np.float64)
    n = len(loss)
    grad = np.full((n, len(LAYERS)), 0.5, np.float32) if grad is None else np.asarray(grad, np.float32)
    dead = np.full((n, len(BLOCKS)), 0.5, np.float32) if dead is None else np.asarray(dead, np.float32)
    return RecordedSteps(step=np.arange(start, start + n, dtype=np.int64), epoch=np.zeros(n, np.int64),
                         time=np.arange(n, dtype=np.float64), loss=loss, acc=np.full(n, np.nan),
                         lr=np.full(n, lr), grad_norm=grad, weight_norm=np.ones((n, len(LAYERS)), np.float32),
                         update_ratio=np.full((n, len(LAYERS)), 1e-3, np.float32),
                         act_grad_norm=np.ones((n, len(BLOCKS)), np.float32), dead_relu=dead,
                         nonfinite_flags=np.zeros(n, np.int64))


def monitor(num_classes: int | None = 10, remedies: Remedies = CLI) -> HealthMonitor:
    return HealthMonitor(LAYERS, BLOCKS, num_classes=num_classes, remedies=remedies)


def feed(health: HealthMonitor, steps: RecordedSteps, chunk: int = 50) -> list:
    """Deliver ``steps`` as the recorder does, ``chunk`` rows at a time."""
    found = []
    for start in range(0, len(steps), chunk):
        found += health.check(steps[start:start + chunk])
    return found


def symptom_of(message: str) -> str:
    """The symptom a warning's message describes (the run file keeps kind, message and layer)."""
    prefixes = {"loss jumped": "loss_spike", "loss stuck": "loss_plateau", "dead ReLUs": "dead_relu",
                "gradient exactly zero": "zero_gradient"}
    return next(symptom for prefix, symptom in prefixes.items() if message.startswith(prefix))


def learning_curve(n: int, seed: int = 0, start: float = LN10, end: float = 0.3) -> np.ndarray:
    """A healthy loss: from ln K down to ``end``, with batch noise."""
    rng = np.random.default_rng(seed)
    return np.geomspace(start, end, n) * (1 + 0.1 * rng.standard_normal(n))


# ---------------------------------------------------------------------------- synthetic rows


def test_a_healthy_run_raises_nothing():
    health = monitor()
    loss = learning_curve(400)
    loss[:60] = LN10 + 0.005 * np.random.default_rng(1).standard_normal(60)  # a slow start at ln K is fine
    dead = np.random.default_rng(2).uniform(0.3, 0.9, (400, 2))
    grad = np.random.default_rng(3).uniform(1e-4, 1.0, (400, len(LAYERS)))
    grad[0, :3] = 0.0  # a zero-initialised residual branch passes no gradient in its first step
    # The extremes measured in healthy runs: an overshoot at step 1 (the seed's MNIST ResNet under Adam),
    # a blip late in training, a block 95 % dead for a while.
    loss[1], loss[250] = 3.6 * LN10, 1.7 * LN10
    dead[100:110, 1] = 0.955
    assert feed(health, rows(loss, grad=grad, dead=dead)) == [] and not health.raised


def test_a_loss_spike_names_the_step_the_jump_and_a_tenth_of_the_learning_rate():
    loss = np.full(30, 2.3)
    loss[12] = 2.3 * (SPIKE_FACTOR + 1.5)
    [warning] = feed(monitor(), rows(loss, lr=0.05))
    assert (warning.step, warning.symptom, warning.layer) == (12, "loss_spike", None)
    what, hint = warning.message.split("; ")
    assert "at step 12" in what and "2.3 to" in what and "x)" in what
    assert hint == "lower the learning rate, e.g. --lr 0.005"


def test_a_small_loss_that_grows_stays_quiet_below_chance_and_the_first_loss_sets_the_scale_without_k():
    late = np.full(40, 0.01)
    late[20] = 1.0  # 100x the recent median, but far below ln K: batch noise late in training
    assert feed(monitor(), rows(late)) == []
    # Without K, the first recorded loss is the scale: the same blip after a start at 2.3 stays quiet,
    # a loss far above the start is a spike.
    assert feed(monitor(None), rows(np.r_[2.3, late])) == []
    [warning] = feed(monitor(None), rows(np.r_[2.3, late[:5], 50.0]))
    assert warning.symptom == "loss_spike" and warning.step == 6


def test_a_loss_stuck_at_ln_k_is_reported_once_after_enough_steps():
    rng = np.random.default_rng(0)
    stuck = LN10 + 0.01 * rng.standard_normal(PLATEAU_AFTER_STEPS + 150)
    found = feed(monitor(), rows(stuck))
    [warning] = found
    assert warning.symptom == "loss_plateau" and warning.step == PLATEAU_AFTER_STEPS
    what, hint = warning.message.split("; ")
    assert "ln 10" in what and f"-{PLATEAU_AFTER_STEPS}" in what
    assert hint == "try --optimizer adam, or add norm layers (-o norm=batch)"
    # With norm layers already, the learning rate is the other remedy.
    [warning] = feed(monitor(remedies=Remedies(flags=True, optimizer="sgd", has_norm=True)), rows(stuck, lr=0.1))
    assert warning.message.endswith("; try --optimizer adam, or lower the learning rate, e.g. --lr 0.01")
    [warning] = feed(monitor(remedies=Remedies(flags=True, optimizer="adam", has_norm=True)), rows(stuck, lr=1e-3))
    assert warning.message.endswith("; lower the learning rate, e.g. --lr 0.0001")


def test_a_run_that_leaves_ln_k_late_or_sits_elsewhere_is_no_plateau():
    rng = np.random.default_rng(0)
    n = PLATEAU_AFTER_STEPS + 100
    learns_late = np.r_[np.full(PLATEAU_AFTER_STEPS // 2, LN10), learning_curve(n - PLATEAU_AFTER_STEPS // 2, end=1.0)]
    assert feed(monitor(), rows(learns_late + 0.01 * rng.standard_normal(n))) == []
    # ln 10 is not chance for 100 classes; and without K there is no chance level at all.
    assert feed(monitor(100), rows(np.full(n, LN10))) == []
    assert feed(monitor(None), rows(np.full(n, LN10))) == []


def test_dead_relus_are_reported_from_the_step_they_began_once_they_last():
    dead = np.full((40, 2), 0.5)
    dead[9:, 1] = 0.99
    dead[20, 0] = 1.0  # one dead step is no collapse
    [warning] = feed(monitor(), rows(np.full(40, 2.0), dead=dead))
    assert (warning.step, warning.symptom, warning.layer) == (9, "dead_relu", "block2")
    what, hint = warning.message.split("; ")
    assert "99.0% of block2" in what and "from step 9" in what and "1 of 2 blocks" in what
    assert hint == "lower the learning rate, e.g. --lr 0.005, or add norm layers (-o norm=batch)"
    # A block that does not end in a ReLU has no fraction (NaN), and a streak shorter than DEAD_ROWS is quiet.
    dead = np.full((40, 2), np.nan)
    dead[5:5 + DEAD_ROWS - 1, 0] = 1.0
    assert feed(monitor(), rows(np.full(40, 2.0), dead=dead)) == []


def test_layers_with_exactly_zero_gradient_are_named():
    grad = np.full((30, len(LAYERS)), 0.3)
    grad[4:, :3] = 0.0
    grad[:, 3] = np.nan  # a layer without any gradient (unused) is not a zero gradient
    [warning] = feed(monitor(), rows(np.full(30, 2.0), grad=grad))
    assert (warning.step, warning.symptom, warning.layer) == (4, "zero_gradient", "conv1")
    what, hint = warning.message.split("; ")
    assert "3 of 4 layers (conv1, block1.conv1, block1.conv2)" in what and "from step 4" in what
    assert hint == "lower the learning rate, e.g. --lr 0.005, or try --optimizer adam"
    grad = np.full((30, len(LAYERS)), 0.3)
    grad[4:4 + ZERO_ROWS - 1, 0] = 0.0
    assert feed(monitor(), rows(np.full(30, 2.0), grad=grad)) == []


def test_each_symptom_once_in_step_order_whatever_the_delivery_sizes():
    n = PLATEAU_AFTER_STEPS + 60
    loss = np.full(n, LN10)
    loss[1] = 50.0
    dead = np.full((n, 2), 1.0)
    grad = np.zeros((n, len(LAYERS)))
    grad[:, 3] = 0.1
    steps = rows(loss, dead=dead, grad=grad)
    whole = feed(monitor(), steps, chunk=n)
    assert [w.symptom for w in whole] == ["loss_spike", "dead_relu", "zero_gradient", "loss_plateau"]
    assert [w.step for w in whole] == [1, 0, 0, PLATEAU_AFTER_STEPS]
    for chunk in (1, 3, 7, 50):
        assert feed(monitor(), steps, chunk=chunk) == whole
    # A second run of the same symptoms, on the same monitor: nothing new.
    health = monitor()
    feed(health, steps)
    assert health.check(rows(loss, start=n, dead=dead, grad=grad)) == [] and len(health.warnings) == 4


def test_non_finite_losses_are_left_to_their_own_events():
    loss = np.full(20, 2.0)
    loss[5], loss[6] = np.nan, np.inf
    assert feed(monitor(), rows(loss)) == []


def test_hints_in_plain_words_outside_the_command_line():
    loss = np.full(10, 2.3)
    loss[5] = 50.0
    dead = np.full((10, 2), 1.0)
    found = feed(monitor(remedies=Remedies()), rows(loss, dead=dead, lr=np.nan))
    messages = " ".join(w.message for w in found)
    assert "--" not in messages and "-o " not in messages
    assert "lower the learning rate (e.g. to a tenth)" in messages and "add norm layers (e.g. BatchNorm)" in messages
    found = feed(monitor(remedies=Remedies(has_norm=True)), rows(loss, dead=dead, lr=0.1))
    assert [w.message.split("; ")[1] for w in found] == ["lower the learning rate, e.g. to 0.01 (a tenth)"] * 2


def test_model_has_norm():
    assert model_has_norm(nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)))
    assert model_has_norm(nn.Sequential(nn.Linear(2, 2), nn.LayerNorm(2)))
    assert not model_has_norm(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()))


# ---------------------------------------------------------------------------- real runs

# The seed's MNIST ResNet without norm layers, SGD with a learning rate far too high for it:
# the first steps blow up and the ReLUs die (measured over seeds 0-9: a block dead from step 2-4;
# in 7 of them gradients exactly zero from step 3-7); small inputs keep it fast.
DIVERGING = ["mnist_resnet", "-o", "input_size=12", "-o", "width=8", "-o", "norm=none", "--optimizer", "sgd",
             "--lr", "0.3", "--schedule", "none", "--samples", "512", "--test-samples", "16", "--batch-size", "32",
             "--steps", "16"]


def test_a_collapsing_run_warns_once_per_kind_on_the_command_line_and_in_its_file(tmp_path, capsys):
    out = tmp_path / "collapse.resviz"
    code = main(["train", *DIVERGING, "--seed", "3", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0 and f"{out}: finished, 16 steps" in captured.out  # a warning, not a stop
    with open_run(out) as reader:
        events = reader.events(WARNING_KIND)
    symptoms = {symptom_of(e.message): e for e in events}
    assert len(symptoms) == len(events)  # each kind once
    dead = symptoms["dead_relu"]
    assert dead.step < 12 and dead.layer in ("block1", "block2") and f"from step {dead.step} " in dead.message
    assert "; lower the learning rate, e.g. --lr " in dead.message and dead.message.endswith(
        ", or add norm layers (-o norm=batch)")
    printed = [line for line in captured.err.splitlines() if line.startswith("resviz: warning: ")]
    assert sorted(printed) == sorted(f"resviz: warning: {e.message}" for e in events)


def test_a_warning_on_a_terminal_clears_the_progress_line_and_the_next_progress_redraws_it(capsys):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    bar = TrainingProgressLine("plain20 [1/2]", stream=stream, width=4)
    progress = TrainProgress(phase="train", step=5, total_steps=10, epoch=0, epochs=1, loss=2.3, acc=0.1, lr=0.05,
                             steps_per_second=0.0, elapsed=1.0)
    bar(progress)
    WarningLine("plain20 [1/2]", bar)(HealthWarning(3, "dead_relu", "dead ReLUs: ...; lower the learning rate"))
    bar._last_draw = 0.0  # the next redraw is due
    bar(progress)
    drawn = "\rplain20 [1/2]  epoch 1/1  [##..]  step 5/10  loss 2.3  acc 10.0%\x1b[K"
    assert stream.getvalue() == (drawn + "\r\x1b[K" + "resviz: warning: plain20 [1/2]: dead ReLUs: ...; "
                                 "lower the learning rate\n" + drawn)
    WarningLine(None, None)(HealthWarning(3, "dead_relu", "dead ReLUs: ..."))  # --quiet: no progress line
    assert capsys.readouterr().err == "resviz: warning: dead ReLUs: ...\n"


class DeadBody(nn.Module):
    """A conv whose bias puts every unit below zero: its ReLU is dead and it gets no gradient."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(8, 4)
        with torch.no_grad():
            self.body[0].bias.fill_(-100.0)

    def forward(self, x):
        return self.fc(self.body(x).mean((2, 3)))


def test_watch_writes_the_warnings_of_a_users_loop_with_hints_in_plain_words(tmp_path):
    """A dead body: its ReLU outputs and its gradient are exactly zero, and the loss stays at ln 4
    (only the last layer's bias learns, and the labels are uniform)."""
    model = DeadBody()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    generator = torch.Generator().manual_seed(0)
    with resviz.watch(model, run=tmp_path / "dead.resviz", classes=list("abcd"), blocks=["body"]) as rec:
        for _ in range(PLATEAU_AFTER_STEPS + 10):
            x, y = torch.randn(32, 3, 4, 4, generator=generator), torch.randint(0, 4, (32,), generator=generator)
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            rec.step(loss=loss, optimizer=optimizer)
            optimizer.step()
    with open_run(tmp_path / "dead.resviz") as reader:
        events = {symptom_of(e.message): e for e in reader.events(WARNING_KIND)}
    assert set(events) == {"dead_relu", "zero_gradient", "loss_plateau"}
    dead, zero, plateau = events["dead_relu"], events["zero_gradient"], events["loss_plateau"]
    assert (dead.step, dead.layer) == (0, "body") and "100.0% of body's outputs" in dead.message
    assert dead.message.endswith("; lower the learning rate, e.g. to 0.001 (a tenth), "
                                 "or add norm layers (e.g. BatchNorm)")
    assert (zero.step, zero.layer) == (0, "body.0") and "1 of 2 layers (body.0)" in zero.message
    assert zero.message.endswith("; lower the learning rate, e.g. to 0.001 (a tenth), or try Adam")
    assert plateau.step == PLATEAU_AFTER_STEPS and "ln 4" in plateau.message
    assert plateau.message.endswith("; try Adam, or add norm layers (e.g. BatchNorm)")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_healthy_recipes_raise_no_warning(tmp_path, seed):
    """ResNet (reduced) without norm layers under Adam (the window's recipe), and with BatchNorm under SGD."""
    for name, recipe in (("adam", dict(optimizer="adam", lr=1e-3, norm="none")),
                         ("sgd", dict(optimizer="sgd", lr=0.05, norm="batch"))):
        warned = []
        config = TrainConfig(model="resnet20", model_options={"depth": 8, "width": 8, "input_size": 8,
                                                              "norm": recipe["norm"]},
                             optimizer=recipe["optimizer"], lr=recipe["lr"], max_steps=30, train_samples=960,
                             test_samples=16, batch_size=32, seed=seed, out=str(tmp_path / f"{name}.resviz"))
        result = Trainer(config, on_warning=warned.append).run()
        assert result.status == "finished" and warned == []
        with open_run(result.path) as reader:
            assert reader.events(WARNING_KIND) == []


def test_the_hint_lowers_the_configured_rate_not_the_scheduled_one():
    from resviz.train.health import Remedies

    # A cosine schedule's rate at the step (0.277) is not what the user sets with --lr (0.3).
    assert Remedies(flags=True, base_lr=0.3).lower_lr(0.277) == "lower the learning rate, e.g. --lr 0.03"
    assert Remedies(flags=True).lower_lr(0.277) == "lower the learning rate, e.g. --lr 0.0277"
