"""The run's structure (each layer's kind, each block's layers and skip kind): written, read back,
checked, and absent from files written before runs recorded it."""

from __future__ import annotations

import json

import pytest
from runfile_support import BLOCKS, LAYERS, STRUCTURE, make_writer, tamper

from resviz.errors import ResvizError
from resviz.runfile import RunStructure, open_run


def test_the_structure_is_read_back_as_written(tmp_path):
    structure = RunStructure(layer_kinds=["weight", "norm", "other"], block_layers=[["layer1.0.conv1"]])
    with make_writer(tmp_path / "run.resviz", structure=structure):
        pass
    with open_run(tmp_path / "run.resviz") as reader:
        assert reader.structure == structure and reader.info().structure == structure
        assert reader.structure is not reader.structure  # each caller gets its own copy


@pytest.mark.parametrize("skips", [["projection"], [None], ["a_kind_added_later"]])
def test_each_blocks_skip_kind_is_read_back_as_written(tmp_path, skips):
    structure = RunStructure(["weight"] * 3, [["layer1.0.conv1"]], block_skips=skips)
    with make_writer(tmp_path / "run.resviz", structure=structure):
        pass
    with open_run(tmp_path / "run.resviz") as reader:
        assert reader.structure.block_skips == skips and reader.info().structure == structure


def test_a_structure_written_before_block_skips_were_recorded_reads_them_as_unknown(tmp_path):
    path = tmp_path / "older.resviz"
    with make_writer(path, structure=RunStructure(["weight"] * 3, [["layer1.0.conv1"]], block_skips=["identity"])):
        pass
    with tamper(path) as db:
        db.execute("UPDATE run SET structure = ?", (json.dumps(STRUCTURE.to_dict()),))
    assert "block_skips" not in STRUCTURE.to_dict()
    with open_run(path) as reader:
        assert reader.structure == STRUCTURE and reader.structure.block_skips is None


def test_a_run_written_without_a_structure_reads_as_none(tmp_path):
    with make_writer(tmp_path / "bare.resviz"):
        pass
    with open_run(tmp_path / "bare.resviz") as reader:
        assert reader.structure is None and reader.info().structure is None


def test_a_version_1_file_without_the_structure_column_still_reads(tmp_path):
    path = tmp_path / "old.resviz"
    with make_writer(path, structure=STRUCTURE) as writer:
        writer.add_event(0, "info", "written before runs recorded their structure")
    with tamper(path) as db:
        db.execute("ALTER TABLE run DROP COLUMN structure")
        db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
        db.execute("PRAGMA user_version = 1")
    with open_run(path) as reader:
        info = reader.info()
        assert (info.schema_version, info.structure, info.layer_ids) == (1, None, LAYERS)
        assert [event.message for event in reader.events()] == ["written before runs recorded their structure"]


@pytest.mark.parametrize("structure, message", [
    (RunStructure(["weight", "weight"], [[]]), r"structure layer_kinds is \['weight', 'weight'\], expected 3 of"),
    (RunStructure(["weight", "conv", "weight"], [[]]), "structure layer_kinds"),
    (RunStructure(["weight"] * 3, []), r"structure block_layers is \[\], expected 1 lists"),
    (RunStructure(["weight"] * 3, [["layer9.conv"]]), "structure block_layers"),
    (RunStructure(["weight"] * 3, [[]], block_skips=[]), r"structure block_skips is \[\], expected 1 skip kinds"),
    (RunStructure(["weight"] * 3, [[]], block_skips=["Identity!"]), "structure block_skips"),
])
def test_a_writer_refuses_a_structure_that_does_not_fit_its_layers_and_blocks(tmp_path, structure, message):
    with pytest.raises(ValueError, match=message):
        make_writer(tmp_path / "bad.resviz", structure=structure)
    assert list(tmp_path.iterdir()) == []


def test_damaged_block_skips_are_named(tmp_path):
    path = tmp_path / "damaged.resviz"
    with make_writer(path, structure=STRUCTURE):
        pass
    with tamper(path) as db:
        db.execute("UPDATE run SET structure = ?", (json.dumps({**STRUCTURE.to_dict(), "block_skips": [3]}),))
    with pytest.raises(ResvizError, match=f"run file {path} is damaged: the run record has structure block_skips"):
        open_run(path)


def test_a_damaged_structure_is_named(tmp_path):
    path = tmp_path / "damaged.resviz"
    with make_writer(path, structure=STRUCTURE):
        pass
    with tamper(path) as db:
        db.execute("UPDATE run SET structure = ?", (json.dumps({"layer_kinds": ["weight"] * 3, "block_layers": 3}),))
    with pytest.raises(ResvizError, match=f"run file {path} is damaged: the run record has structure block_layers 3, "
                                          rf"expected {len(BLOCKS)} lists of the run's layer ids"):
        open_run(path)
