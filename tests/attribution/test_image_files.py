"""Image files given to ``resviz attribute --images``: damaged or oversized files are one line."""

from __future__ import annotations

import struct
import zlib

import pytest

from resviz.attribution.inputs import load_image_file
from resviz.cli import main
from resviz.errors import ResvizError


def png_claiming(path, width: int, height: int):
    """A few hundred bytes whose header claims ``width`` x ``height`` grey pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def test_a_decompression_bomb_is_refused_in_one_line(tmp_path, capsys):
    bomb = png_claiming(tmp_path / "bomb.png", 20000, 20000)
    with pytest.raises(ResvizError, match=r"bomb.png is larger than 50 megapixels"):
        load_image_file(bomb, 3, (8, 8))
    code = main(["attribute", "resnet20", "-o", "depth=8", "-o", "width=4", "-o", "input_size=8", "--images",
                 str(bomb), "-m", "saliency", "--out", str(tmp_path / "a.png")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"resviz: error: image {bomb} is larger than 50 megapixels") and err.count("\n") == 1


def test_a_truncated_image_is_refused_in_one_line(tmp_path):
    with pytest.raises(ResvizError, match=r"short.png: not an image file that can be read"):
        load_image_file(png_claiming(tmp_path / "short.png", 64, 64), 3, (8, 8))
