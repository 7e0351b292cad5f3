"""A run file's recorded data settings are checked before attribution uses them: one line naming
the run and the field, never a ValueError or TypeError from deep inside."""

from __future__ import annotations

import pytest

from resviz.attribution.sources import source_from_run
from resviz.errors import ResvizError
from resviz.models import ModelSpec, get_model
from resviz.runfile import RunWriter

OPTIONS = {"depth": 8, "width": 4, "input_size": 8, "num_classes": 6}


def run_with_config(path, config):
    writer = RunWriter(path, model_spec=ModelSpec("resnet20", dict(OPTIONS)), config=config, layer_ids=[],
                       block_ids=[], classes=list("abcdef"))
    writer.add_checkpoint(0, 0, get_model("resnet20", **OPTIONS).state_dict())
    writer.finish()
    return path


def damaged_run(path, config):
    """A sound run whose stored config is then replaced by ``config`` (the writer refuses to write it)."""
    import json
    import sqlite3

    run_with_config(path, {"dataset": "shapes"})
    with sqlite3.connect(path) as db:
        db.execute("UPDATE run SET config = ? WHERE id = 1", (json.dumps(config),))
    return path


@pytest.mark.parametrize("config,message", [
    ({"dataset": "shapes", "data_seed": "x"}, " is damaged: the run record has config data_seed 'x'"),
    ({"test_samples": -4}, " is damaged: the run record has config test_samples -4"),
    ({"resolved": "junk"}, " is damaged: the run record has config resolved 'junk', expected a mapping"),
    ({"resolved": {"input_shape": [3, 8, 8], "mean": "abc", "std": [1, 1, 1]}},
     " is damaged: the run record has config resolved.mean 'abc'"),
    ({"resolved": {"input_shape": [3, 8, 8], "mean": [0.5, 0.5, 0.5], "std": [0.2, 0.0, 0.2]}},
     r"its recorded normalisation std=\[0.2, 0.0, 0.2\] is not positive numbers"),
    ({"resolved": {"input_shape": [3, 8, 8], "mean": [0.5, 0.5], "std": [0.2, 0.2]}},
     r"its recorded normalisation mean=\[0.5, 0.5\] is not numbers, one per input channel"),
    ({"dataset": "shapes", "resolved": {"input_shape": "3x8x8"}},
     " is damaged: the run record has config resolved.input_shape '3x8x8'"),
])
def test_damaged_run_configs_are_one_line(tmp_path, config, message):
    path = damaged_run(tmp_path / "damaged.resviz", config)
    separator = "" if message.startswith(" ") else ": "  # the reader's own checks, or attribution's
    with pytest.raises(ResvizError, match=f"^run file {path}{separator}{message}"):
        source_from_run(path)


def test_a_sound_config_is_read_as_recorded(tmp_path):
    path = run_with_config(tmp_path / "sound.resviz", {
        "dataset": "shapes", "data_seed": 3, "train_samples": 40, "test_samples": 12,
        "resolved": {"input_shape": [3, 8, 8], "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3]}})
    source = source_from_run(path)
    assert (source.dataset, source.data_seed, source.split_sizes) == ("shapes", 3, {"train": 40, "test": 12})
    assert source.mean == (0.5, 0.4, 0.3) and source.std == (0.2, 0.25, 0.3)
