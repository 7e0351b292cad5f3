"""Training options out of range are refused up front, in one line naming the option."""

from __future__ import annotations

import math

import pytest

from resviz.cli import main
from resviz.errors import ResvizError
from resviz.limits import MAX_SEED
from resviz.train.config import TrainConfig


@pytest.mark.parametrize("changes, message", [
    ({"seed": 2**70}, "training option seed=1180591620717411303424 is out of range: seeds must lie between 0 and "
                      "2**63-1"),
    ({"seed": -1}, "training option seed=-1 is out of range"),
    ({"data_seed": 2**64}, "training option data_seed=18446744073709551616 is out of range"),
    ({"seed": 1.5}, "training option seed=1.5 must be a whole number"),
    ({"batch_size": 10**9}, "training option batch_size=1000000000 must be a whole number between 1 and 65536"),
    ({"epochs": 0}, "training option epochs=0 must be a whole number between 1 and 1000000"),
    ({"max_steps": 10**12}, "training option max_steps=1000000000000 must be a whole number between 1 and"),
    ({"train_samples": 10**10}, "training option train_samples=10000000000 must be a whole number"),
    ({"test_samples": 0}, "training option test_samples=0 must be a whole number between 1 and"),
    ({"checkpoint_every": -1}, "training option checkpoint_every=-1 must be a whole number between 0 and"),
    ({"flush_every": 10**9}, "training option flush_every=1000000000 must be a whole number between 1 and 100000"),
    ({"lr": 1e9}, "learning rate 1000000000.0 must be a positive number of at most 1000"),
    ({"lr": math.inf}, "training option lr=inf must be a finite number"),
    ({"weight_decay": math.nan}, "training option weight_decay=nan must be a finite number"),
    ({"flush_seconds": math.nan}, "training option flush_seconds=nan must be a finite number"),
    ({"input_shape": (3, 100_000, 100_000)}, "training option input_shape: input shape 3x100000x100000 holds "
                                             "30,000,000,000 values per sample"),
])
def test_out_of_range_options_are_one_line(changes, message):
    with pytest.raises(ResvizError) as caught:
        TrainConfig(**changes).validate()
    text = str(caught.value)
    assert text.startswith(message) and "\n" not in text


def test_the_ends_of_each_range_are_accepted():
    TrainConfig(seed=MAX_SEED, data_seed=0, batch_size=65_536, lr=1000.0, checkpoint_every=0,
                max_steps=None, train_samples=None).validate()


def test_a_seed_past_2_63_is_one_line_on_the_command_line(capsys, tmp_path):
    out = tmp_path / "run.resviz"
    assert main(["train", "--seed", str(2**70), "--steps", "1", "--out", str(out), "--quiet"]) == 2
    assert capsys.readouterr().err == ("resviz: error: training option seed=1180591620717411303424 is out of "
                                       "range: seeds must lie between 0 and 2**63-1\n")
    assert not out.exists()
    assert main(["attribute", "simple_cnn", "--seed", str(2**70), "--out", str(tmp_path / "maps.png")]) == 2
    assert capsys.readouterr().err == ("resviz: error: --seed=1180591620717411303424 is out of range: seeds must lie "
                                       "between 0 and 2**63-1\n")
