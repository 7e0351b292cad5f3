"""Output files written atomically: whole, or the one before left as it was."""

from __future__ import annotations

import pytest

from resviz.files import atomic_path, atomic_write


def test_a_completed_write_replaces_the_file_and_leaves_nothing_else(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("old\n")
    with atomic_write(path, newline="") as handle:
        handle.write("new\n")
        assert path.read_text() == "old\n"  # readers see the old file until the new one is whole
    assert path.read_text() == "new\n" and [p.name for p in tmp_path.iterdir()] == ["table.csv"]
    with atomic_write(tmp_path / "data.bin", "wb") as handle:
        handle.write(b"\x00\x01")
    assert (tmp_path / "data.bin").read_bytes() == b"\x00\x01"


def test_a_write_cut_short_leaves_the_file_before_and_no_temporary(tmp_path):
    path = tmp_path / "figure.png"
    path.write_bytes(b"the previous figure")
    with pytest.raises(RuntimeError, match="half-way"):
        with atomic_path(path) as temporary:
            assert temporary.parent == tmp_path and temporary.suffix == ".png"  # formats chosen by suffix still work
            temporary.write_bytes(b"half a fig")
            raise RuntimeError("half-way")
    assert path.read_bytes() == b"the previous figure" and [p.name for p in tmp_path.iterdir()] == ["figure.png"]
    with pytest.raises(FileNotFoundError, match="nothing was written"):
        with atomic_path(tmp_path / "never.png"):
            pass
    assert [p.name for p in tmp_path.iterdir()] == ["figure.png"]
    with pytest.raises(ValueError, match="mode 'a'"):
        with atomic_write(path, "a"):
            pass
