"""Which layers the window counts as weight layers, and whether a run's model has skips: what the
run file says, without a model."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

from resviz.models import resolve
from resviz.models.spec import ModelSpec
from resviz.runfile import EvalRecord, RunStructure
from resviz.views.run_data import LOG_FLOOR, LOG_NONFINITE, RunData, is_residual, log10_norms, weight_layer_mask

from .run_support import make_batch, make_info


def test_weight_layers_come_from_the_run_file_without_rebuilding_the_model(monkeypatch):
    def never(*args, **kwargs):
        pytest.fail("the model was rebuilt although the run file says what each layer is")

    monkeypatch.setattr(resolve, "rebuild_model", never)
    info = make_info("r", "resnet20", layers=4)
    info.layer_ids = ["conv1", "bn1", "act", "fc"]
    # Names alone would call "act" a weight layer; the run file knows it holds only a vector.
    info.structure = RunStructure(layer_kinds=["weight", "norm", "other", "weight"], block_layers=[[], [], []])
    assert weight_layer_mask(info).tolist() == [True, False, False, True]


def test_a_run_file_without_layer_kinds_falls_back_to_the_rebuilt_zoo_model_or_names():
    info = make_info("old", "resnet20", layers=3)
    info.layer_ids = ["conv1", "layer1.0.bn1", "fc"]  # resnet20's own modules: looked up on the meta device
    assert info.structure is None and weight_layer_mask(info).tolist() == [True, False, True]
    info.model_spec = ModelSpec("model.py:build")  # a user's model is never run to tell: names decide
    info.layer_ids = ["stem.conv", "stem.bn", "head"]
    assert weight_layer_mask(info).tolist() == [True, False, True]


def test_a_users_model_has_skips_when_the_run_file_says_a_block_holds_one():
    user = ModelSpec("model.py:build")
    with_skip = RunStructure(["weight"], [[], []], block_skips=[None, "projection"])
    assert is_residual(user, with_skip) is True
    # No skip in any block, or nothing recorded: still unknown (a skip may sit outside the blocks).
    assert is_residual(user, RunStructure(["weight"], [[]], block_skips=[None])) is None
    assert is_residual(user, RunStructure(["weight"], [[]])) is None and is_residual(user) is None
    # The zoo's registry decides for its own models.
    assert is_residual(ModelSpec("plain20"), with_skip) is False and is_residual(ModelSpec("resnet20")) is True


def test_log_norms_mark_zero_and_non_finite_at_the_ends_of_the_scale():
    out = log10_norms(np.array([[1e-3, 0.0, np.inf, np.nan, 10.0]]))
    np.testing.assert_allclose(out[0], [-3.0, LOG_FLOOR, LOG_NONFINITE, LOG_NONFINITE, 1.0])


def test_run_data_appends_in_order_and_drops_re_read_rows():
    run = RunData(make_info())
    run.append(make_batch(1, 100))
    run.append(make_batch(90, 30))  # steps 90..119 overlap 90..100: only 101..119 are new
    assert len(run) == 119
    assert np.array_equal(run.step.values, np.arange(1, 120))
    assert run.rows_until(50) == 50 and run.row_at(0) is None and run.row_at(10_000) == 118
    norms = run.layer_norms_at(60)
    assert list(norms) == ["l0", "l1", "l2", "l3", "l4"]
    assert norms["l2"] == pytest.approx(float(run.grad_norm.data[59, 2]))


def test_run_data_smooths_the_loss_and_keeps_non_finite_flags():
    run = RunData(make_info())
    run.append(make_batch(1, 50, nonfinite_at=(20,)))
    assert np.isnan(run.loss.values[19])  # the raw loss is kept as recorded
    assert np.isfinite(run.loss_smooth.values).all()  # the average steps over it
    assert list(run.nonfinite_steps()) == [20]
    assert run.grad_log.values[19, 2] == LOG_NONFINITE


def _evals_at(*steps: int, split: str = "test") -> list[EvalRecord]:
    confusion = np.eye(2, dtype=np.int64)
    return [EvalRecord(step=s, epoch=i, split=split, loss=1.0, acc=i / 10, confusion=confusion,
                       precision=np.ones(2), recall=np.ones(2)) for i, s in enumerate(steps)]


def test_run_data_finds_the_latest_evaluation_at_a_step():
    run = RunData(make_info())
    run.append(make_batch(0, 41))  # steps 0..40
    run.evals = _evals_at(10, 20, 30, split="val")
    assert run.eval_at(5) is None
    assert run.eval_at(25).step == 20
    assert run.eval_at(30, "val").step == 30 and run.eval_at(30, "test") is None


def test_an_evaluation_shows_from_the_last_step_it_saw():
    # The trainer records steps 0..140 and evaluates after 47, 94 and 141 steps: each evaluation
    # carries the number of steps done, one past the index of the last step it saw.
    run = RunData(make_info())
    run.append(make_batch(0, 141))
    run.evals = _evals_at(47, 94, 141)
    assert run.last_step == 140
    assert run.eval_at(140).step == 141  # the end of the run shows its final evaluation
    assert [e.step for e in run.evals_until(140)] == [47, 94, 141]
    assert run.eval_at(139).step == 94
    assert run.eval_at(93).step == 94 and run.eval_at(92).step == 47
    assert run.eval_at(45) is None


def test_a_one_epoch_run_shows_its_evaluation():
    run = RunData(make_info())
    run.append(make_batch(0, 47))  # steps 0..46, evaluated after 47
    run.evals = _evals_at(47)
    assert run.eval_at(run.last_step).step == 47


def test_the_last_evaluation_shows_when_the_last_steps_were_not_recorded():
    run = RunData(make_info())
    batch = make_batch(0, 141)
    run.append(batch[batch.step % 10 == 0])  # one step in ten recorded: 0, 10, ..., 140
    run.evals = _evals_at(47, 94, 145)  # 145 steps trained, the last five unrecorded
    assert run.eval_at(run.last_step).step == 145
    assert run.eval_at(130).step == 94


def test_run_status_words_follow_the_run_file_and_its_writer():
    import socket
    import subprocess
    import sys

    info = make_info()
    info.host, info.pid = socket.gethostname(), os.getpid()
    run = RunData(info)
    assert run.status_word == "running"  # its writer (this process) is alive
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    info.pid = dead.pid
    assert run.refresh_status() and run.status_word == "interrupted"  # the writer is gone
    for status, error, word in (("finished", None, "finished"), ("stopped", None, "stopped"),
                                ("stopped", "interrupted", "interrupted"), ("failed", "boom", "failed")):
        run.set_info(dataclasses.replace(info, status=status, error=error))
        assert run.status_word == word
