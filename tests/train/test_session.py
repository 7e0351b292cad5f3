"""The recording session: the trainer and resviz.watch write the same run-file facts in the same words."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import resviz
from resviz.data import make_shapes
from resviz.models import get_model
from resviz.runfile import open_run
from resviz.train.config import TrainConfig
from resviz.train.session import NONFINITE_KIND, RecordingSession
from resviz.train.trainer import Trainer

NAN_AT = 1


class NanAtStep(nn.Module):
    """A tiny ResNet whose training loss is NaN at one step."""

    def __init__(self) -> None:
        super().__init__()
        self.net = get_model("resnet20", depth=8, width=4, norm="none", input_size=8, num_classes=6)
        self.input_shape = self.net.input_shape
        self.calls = 0

    def forward(self, x):
        out = self.net(x)
        if self.training:
            step, self.calls = self.calls, self.calls + 1
            if step == NAN_AT:
                return out * float("nan")
        return out


def nonfinite_events(path) -> list[tuple[int, str, str | None]]:
    with open_run(path) as reader:
        return [(e.step, e.message, e.layer) for e in reader.events(NONFINITE_KIND)]


@pytest.mark.parametrize("every", [1, 2])  # step 1 recorded, or not
def test_the_trainer_and_watch_describe_a_non_finite_step_in_the_same_words(tmp_path, every):
    config = TrainConfig(model="resnet20", train_samples=32, test_samples=6, batch_size=16, epochs=1, max_steps=2,
                         record_every=every, nonfinite="skip", checkpoint_every=0, optimizer="sgd", lr=0.05,
                         out=str(tmp_path / "trainer.resviz"))
    result = Trainer(config, model=NanAtStep(), train_data=make_shapes(32, size=8, channels=3, seed=0),
                     test_data=make_shapes(6, size=8, channels=3, seed=1)).run()
    assert result.status == "finished"

    model = NanAtStep()
    with resviz.watch(model, run=tmp_path / "watch.resviz", every=every) as rec:
        for _ in range(2):
            loss = F.cross_entropy(model(torch.randn(4, 3, 8, 8)), torch.randint(0, 6, (4,)))
            model.zero_grad()
            loss.backward()
            rec.step(loss=loss)

    [(step, watched, layer)] = nonfinite_events(tmp_path / "watch.resviz")
    # The trainer adds only what its non-finite policy did with the step.
    assert nonfinite_events(result.path) == [(step, f"{watched}; step skipped", layer)]
    if every == 1:
        layers = len(rec.layer_ids)
        assert (step, layer) == (NAN_AT, "net.conv1")
        assert watched == f"non-finite loss, gradient at step 1 (loss nan); gradients non-finite in {layers} of " \
                          f"{layers} layers, first net.conv1"
    else:
        assert (step, watched, layer) == (NAN_AT, "non-finite loss at step 1 (not recorded)", None)


def test_a_session_drops_what_came_after_the_step_it_ended_at(tmp_path):
    model = get_model("mlp_residual", depth=2, width=8, input_size=4)
    heard = []
    session = RecordingSession(model, tmp_path / "s.resviz", model_spec=model.resviz_spec, config={},
                               classes=[str(i) for i in range(10)], flush_every=100,
                               on_nonfinite=lambda step, flags: (heard.append(step), session.end_at(step)))
    session.attach()
    for step in range(4):
        loss = model(torch.randn(2, 1, 4, 4)).sum() * (float("nan") if step == 2 else 1.0)
        model.zero_grad()
        loss.backward()
        session.recorder.step(loss=loss)
    record = session.add_eval(3, 0, loss=0.5, confusion=np.array([[3, 1], [0, 4]]))
    session.finish()
    assert heard == [2] and record.acc == pytest.approx(7 / 8)
    with open_run(tmp_path / "s.resviz") as reader:
        assert reader.info().status == "finished" and reader.read_steps().step.tolist() == [0, 1, 2]
        assert [e.step for e in reader.events(NONFINITE_KIND)] == [2]
