"""Checkpoints: safetensors bytes, never pickle; damage reported."""

from __future__ import annotations

import sqlite3

import pytest
import torch
from runfile_support import make_writer, tamper

from resviz.errors import ResvizError
from resviz.runfile import open_run


def test_checkpoint_bytes_are_safetensors_not_pickle(tmp_path):
    path = tmp_path / "ckpt.resviz"
    shared = torch.randn(6)
    with make_writer(path) as writer:
        # Views sharing storage would make safetensors refuse; the writer stores copies.
        writer.add_checkpoint(0, 0, {"a": shared[:3], "b": shared[3:], "c": torch.ones(2, 2).t()})
    data = sqlite3.connect(path).execute("SELECT data FROM checkpoint").fetchone()[0]
    header_length = int.from_bytes(data[:8], "little")
    assert data[8:9] == b"{" and b'"a"' in data[8:8 + header_length]  # safetensors: u64 length + JSON header
    assert not data.startswith(b"\x80") and b"PK" not in data[:4]  # neither a pickle nor a torch.save zip
    with open_run(path) as reader:
        assert torch.equal(reader.load_checkpoint()["b"], shared[3:])


def test_a_damaged_checkpoint_is_reported(tmp_path):
    path = tmp_path / "bad-ckpt.resviz"
    with make_writer(path) as writer:
        writer.add_checkpoint(4, 1, {"w": torch.ones(3)})
    with tamper(path) as db:
        db.execute("UPDATE checkpoint SET data = ?", (b"\xff" * 40,))
    with open_run(path) as reader, pytest.raises(ResvizError, match=f"checkpoint at step 4 in run file {path} "
                                                                      "is damaged"):
        reader.load_checkpoint()
