"""A weights file whose records inflate far beyond the file is refused before torch inflates them."""

from __future__ import annotations

import zipfile

import pytest
import torch

from resviz.errors import ResvizError
from resviz.models.weights import read_state_dict


def test_a_compressed_record_in_a_torch_file_is_refused_before_loading(tmp_path, monkeypatch):
    plain = tmp_path / "plain.pt"
    torch.save({"w": torch.arange(4.0)}, plain)
    assert torch.equal(read_state_dict(plain)["w"], torch.arange(4.0))  # torch.save's own files load
    bomb = tmp_path / "bomb.pt"
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(bomb, "w") as out:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename.endswith("data/0"):  # 50 MB of zeros in a record deflated to 50 kB
                out.writestr(info, bytes(50_000_000), compress_type=zipfile.ZIP_DEFLATED)
            else:
                out.writestr(info, data)
    assert bomb.stat().st_size < 1_000_000
    monkeypatch.setattr(torch, "load", lambda *args, **kwargs: pytest.fail("torch.load inflated it"))
    with pytest.raises(ResvizError, match=rf"^{bomb}: not a weights file that torch.save writes: its record "
                                          r"plain/data/0 is compressed \(declaring 50,000,000 bytes\)$"):
        read_state_dict(bomb)
