"""Data and resource bombs: files whose headers declare far more than they hold, or far more than a data set
can be. Each is refused with one line naming the file, before anything of the declared size is allocated,
or read with memory bounded by what is kept."""

from __future__ import annotations

import gzip
import os
import pickle
import re
import struct
import subprocess
import sys
import textwrap
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from resviz.data import convert_images, load_dataset
from resviz.data.idx import IDX_MAX_BYTES, read_idx
from resviz.data.images import MAX_IMAGE_PIXELS
from resviz.data.safe_pickle import safe_loads
from resviz.data.types import sample_indices
from resviz.errors import ResvizError

from data_format_writers import cifar_members, python2_pickle, write_idx, write_members, write_mnist_files, write_tar_gz

REPO = Path(__file__).resolve().parents[2]
MB = 1_000_000


def traced_peak(action) -> tuple[object, int]:
    """What ``action()`` returns or raises, and the peak of Python and numpy allocations while it ran."""
    tracemalloc.start()
    try:
        try:
            result = action()
        except ResvizError as exc:
            result = exc
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and len(text) < 400, text
    return text


# ---------------------------------------------------------------- IDX


def write_gzipped_idx(path: Path, shape: tuple[int, ...], rows: int | None = None) -> Path:
    """An IDX file of uint8 rows (row r filled with r % 251), tiny on disk however large it inflates: the rows
    repeat every 2008, so one compressed block is written again and again as gzip members (which a gzip
    reader joins). ``rows`` writes fewer rows than the header declares."""
    header = bytes([0, 0, 0x08, len(shape)]) + b"".join(struct.pack(">I", size) for size in shape)
    row_bytes = int(np.prod(shape[1:], dtype=np.int64))
    period = 251 * 8

    def block(count: int) -> bytes:
        return gzip.compress(np.repeat((np.arange(count) % 251).astype(np.uint8), row_bytes).tobytes(), 1)

    written = shape[0] if rows is None else rows
    whole, rest = divmod(written, period)
    path.write_bytes(gzip.compress(header) + block(period) * whole + (block(rest) if rest else b""))
    return path


def test_an_idx_header_with_too_many_dimensions_is_one_line(tmp_path):
    path = tmp_path / "dims.idx"
    path.write_bytes(bytes([0, 0, 0x08, 255]) + struct.pack(">I", 1) * 255 + b"\x07")
    with pytest.raises(ResvizError, match=rf"{path}.* declares 255 dimensions \(1 to 4 are read"):
        read_idx(path)
    write_mnist_files(tmp_path / "mnist", n_train=4, n_test=2)
    (tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(path.read_bytes()))
    with pytest.raises(ResvizError, match="t10k-images-idx3-ubyte.gz is not an IDX file resviz reads") as caught:
        load_dataset("mnist", split="test", data_dir=tmp_path)
    one_line(caught.value)


def test_an_idx_file_declaring_more_than_its_ceiling_is_refused_from_the_header(tmp_path, monkeypatch):
    # 1.6 million 28x28 images (1.25 GB) declared by a file that holds a few rows.
    path = write_gzipped_idx(tmp_path / "train-images-idx3-ubyte.gz", (1_600_000, 28, 28), rows=10)
    assert path.stat().st_size < 10_000
    monkeypatch.setattr("resviz.data.idx._read_values", lambda *args: pytest.fail("values read"))
    with pytest.raises(ResvizError, match=rf"{path}: its header declares 1600000x28x28 values \(1.25 GB\), more "
                                          rf"than the 1 GB resviz reads from an IDX file") as caught:
        read_idx(path)
    one_line(caught.value)
    assert IDX_MAX_BYTES == 1_000_000_000  # the README states it


def test_an_idx_file_shorter_than_its_header_is_refused_while_streaming(tmp_path):
    # Declares 400 MB, holds 2000 rows: found out after the 1.6 MB that exist, not after allocating 400 MB.
    path = write_gzipped_idx(tmp_path / "short.idx.gz", (500_000, 28, 28), rows=2000)
    error, peak = traced_peak(lambda: read_idx(path))
    assert isinstance(error, ResvizError)
    assert f"{path} is truncated: {16 + 2000 * 784} bytes, its header (500000x28x28 values) needs " \
           f"{16 + 500_000 * 784}" == one_line(error)
    assert peak < 20 * MB


def test_only_the_samples_asked_for_are_kept_from_an_inflating_idx_file(tmp_path):
    # 150,000 images (118 MB inflated, 1 MB on disk): --samples 64 keeps 64 of them. Run in a fresh
    # process so its peak resident memory is this load's alone.
    folder = tmp_path / "mnist"
    folder.mkdir()
    count = 150_000
    write_gzipped_idx(folder / "train-images-idx3-ubyte.gz", (count, 28, 28))
    write_idx(folder / "train-labels-idx1-ubyte.gz", (np.arange(count) % 10).astype(np.uint8), gz=True)
    assert (folder / "train-images-idx3-ubyte.gz").stat().st_size < 2 * MB
    script = textwrap.dedent(f"""
        import resource, torch
        from resviz.data import load_dataset
        from resviz.data.types import sample_indices
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        data = load_dataset("mnist", data_dir={str(tmp_path)!r}, n=64, seed=5)
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        rows = sample_indices({count}, 64, 5)
        assert data.images.shape == (64, 1, 28, 28), data.images.shape
        assert torch.equal(data.images[:, 0, 0, 0], (rows % 251).to(torch.uint8))
        assert torch.equal(data.images.amax(dim=(1, 2, 3)), data.images.amin(dim=(1, 2, 3)))
        assert torch.equal(data.labels, rows % 10)
        print(grown * 1024)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr
    grown = int(result.stdout.split()[-1])
    assert grown < 50 * MB, f"peak memory grew by {grown / MB:.0f} MB reading 64 samples of a 118 MB file"


# ---------------------------------------------------------------- CIFAR pickles


class Ops:
    """A pickle written opcode by opcode, for payloads no pickler writes."""

    def __init__(self) -> None:
        self.parts = [pickle.PROTO + b"\x02"]

    def add(self, *parts: bytes) -> Ops:
        self.parts.extend(parts)
        return self

    def glob(self, module: str, name: str) -> Ops:
        return self.add(pickle.GLOBAL + f"{module}\n{name}\n".encode())

    def int(self, value: int) -> Ops:
        return self.add(pickle.BININT + struct.pack("<i", value))

    def bytes(self, value: bytes) -> Ops:  # a Python 2 str: bytes with encoding="bytes"
        return self.add(pickle.BINSTRING + struct.pack("<i", len(value)) + value)

    def text(self, value: str) -> Ops:
        data = value.encode()
        return self.add(pickle.BINUNICODE + struct.pack("<I", len(data)) + data)

    def shape(self, *sizes: int) -> Ops:
        self.add(pickle.MARK)
        for size in sizes:
            self.int(size)
        return self.add(pickle.TUPLE)

    def dtype(self, code: str, state: tuple | None = (3, "|", None, None, None, -1, -1, 0)) -> Ops:
        self.glob("numpy", "dtype").text(code).int(0).int(1).add(pickle.TUPLE3, pickle.REDUCE)
        if state is not None:
            self.add(pickle.BINPUT + b"\x00")  # memoised, as numpy's own are
            self.add(pickle.MARK)
            for value in state:
                self.any(value)
            self.add(pickle.TUPLE, pickle.BUILD)
        return self

    def any(self, value) -> Ops:
        if value is None:
            return self.add(pickle.NONE)
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, tuple):
            self.add(pickle.MARK)
            for item in value:
                self.any(item)
            return self.add(pickle.TUPLE)
        if isinstance(value, dict):
            self.add(pickle.EMPTY_DICT, pickle.MARK)
            for key, item in value.items():
                self.any(key).any(item)
            return self.add(pickle.SETITEMS)
        if isinstance(value, Ops):
            return self.add(*value.parts[1:])
        return self.int(value)

    def reconstruct(self, *shape: int) -> Ops:
        return self.glob("numpy.core.multiarray", "_reconstruct").glob("numpy", "ndarray").shape(*shape) \
            .bytes(b"B").add(pickle.TUPLE3, pickle.REDUCE)

    def build_array(self, shape: tuple[int, ...], data: bytes, dtype: str = "u1") -> Ops:
        self.add(pickle.MARK).int(1).shape(*shape).dtype(dtype).add(pickle.NEWFALSE).bytes(data)
        return self.add(pickle.TUPLE, pickle.BUILD)

    def batch(self, data: Ops, labels: int) -> bytes:
        """{b'data': <data>, b'labels': [0] * labels}"""
        self.add(pickle.EMPTY_DICT, pickle.MARK).bytes(b"data").add(*data.parts[1:]).bytes(b"labels")
        self.add(pickle.EMPTY_LIST)
        for start in range(0, labels, 1000):
            self.add(pickle.MARK, (pickle.BININT1 + b"\x00") * min(1000, labels - start), pickle.APPENDS)
        return self.add(pickle.SETITEMS, pickle.STOP).done()

    def done(self) -> bytes:
        data = b"".join(self.parts)
        return data if data.endswith(pickle.STOP) else data + pickle.STOP


def cifar_archive_with_test_batch(tmp_path: Path, blob: bytes) -> Path:
    members, _ = cifar_members("cifar10", per_batch=2)
    members["cifar-10-batches-py/test_batch"] = blob
    return write_tar_gz(tmp_path / "cifar-10-python.tar.gz", members)


def test_a_cifar_pickle_declaring_600000_images_is_refused_before_allocating(tmp_path):
    # 600000 x 3072 declared, no bytes given: the old reader allocated 1.8 GB and trained on it unfilled.
    blob = Ops().batch(Ops().reconstruct(600_000, 3072), labels=600_000)
    archive = cifar_archive_with_test_batch(tmp_path, blob)
    assert archive.stat().st_size < 4 * MB
    error, peak = traced_peak(lambda: load_dataset("cifar10", split="test", data_dir=tmp_path))
    assert isinstance(error, ResvizError)
    assert one_line(error).startswith(f"test_batch in {archive} is not a valid data batch: it declares a "
                                      "600000x3072 uint8 array (1.84 GB), larger than the format allows (30.9 MB)")
    assert peak < 40 * MB


@pytest.mark.parametrize("payload, message", [
    # numpy.ndarray called directly with a shape: allocating from the declared shape alone
    (Ops().glob("numpy", "ndarray").shape(600_000, 3072).text("u1").add(pickle.TUPLE2, pickle.REDUCE),
     "not callable"),
    # a shape in the array's state larger than the format, with 3 bytes
    (Ops().reconstruct(0).build_array((600_000, 3072), b"abc"), "it holds a 600000x3072 uint8 array"),
    # a shape the format allows, with too few bytes to fill it
    (Ops().reconstruct(0).build_array((2, 3072), b"abc"), r"its data does not fill a 2x3072 uint8 array .* "
                                                          "it holds 3 bytes"),
    # declared, never filled
    (Ops().reconstruct(2, 3072), "it declares an array but never gives its data"),
    # a dtype whose state adds fields and flags (objects could follow)
    (Ops().reconstruct(0).add(pickle.MARK).int(1).shape(1).dtype(
        "u8", (3, "|", None, ("f0",), {"f0": (Ops().dtype("u8"), 0)}, 8, 1, 0x3F)).add(pickle.NEWFALSE)
     .bytes(b"A" * 8).add(pickle.TUPLE, pickle.BUILD), "dtype state .* is not allowed"),
])
def test_arrays_must_be_filled_by_bytes_the_pickle_holds(payload, message):
    blob = payload.done()
    error, peak = traced_peak(lambda: safe_loads(blob, "batch", max_array_bytes=10_000 * 3088))
    assert isinstance(error, ResvizError) and error.args[0].startswith("batch is not a valid data batch")
    assert re.search(message, one_line(error)), error
    assert peak < 10 * MB


def test_a_memoised_text_encoded_again_and_again_is_refused():
    # Python 3's protocol-2 bytes are _codecs.encode(text, 'latin1'): one 1 MB text, encoded 200 times.
    ops = Ops().text("x" * MB).add(pickle.BINPUT + b"\x01", pickle.POP, pickle.EMPTY_LIST, pickle.MARK)
    for _ in range(200):
        ops.glob("_codecs", "encode").add(pickle.BINGET + b"\x01").text("latin1").add(pickle.TUPLE2, pickle.REDUCE)
    blob = ops.add(pickle.APPENDS).done()
    error, peak = traced_peak(lambda: safe_loads(blob, "batch", max_array_bytes=0))
    assert "it encodes more text than it holds" in one_line(error)
    assert peak < 20 * MB


def test_labels_that_are_not_integers_never_reach_numpy(tmp_path):
    # 600000 references to one 1 MB string: numpy would have made a 600 GB array of them.
    ops = Ops().add(pickle.EMPTY_DICT, pickle.MARK).bytes(b"data").reconstruct(0).build_array((2, 3072), bytes(6144))
    ops.bytes(b"labels").add(pickle.EMPTY_LIST).bytes(b"y" * MB).add(pickle.BINPUT + b"\x05", pickle.POP)
    for _ in range(0, 600_000, 1000):
        ops.add(pickle.MARK, (pickle.BINGET + b"\x05") * 1000, pickle.APPENDS)
    archive = cifar_archive_with_test_batch(tmp_path, ops.add(pickle.SETITEMS).done())
    with pytest.raises(ResvizError, match=rf"test_batch in {archive}: expected 2 integer labels, got a list of "
                                          "600000") as caught:
        load_dataset("cifar10", split="test", data_dir=tmp_path)
    one_line(caught.value)


def test_archive_members_larger_than_the_format_are_not_read(tmp_path):
    members, _ = cifar_members("cifar10", per_batch=2)
    members["cifar-10-batches-py/test_batch"] = bytes(70 * MB)  # gzips to ~70 kB
    archive = write_tar_gz(tmp_path / "cifar-10-python.tar.gz", members)
    error, peak = traced_peak(lambda: load_dataset("cifar10", split="test", data_dir=tmp_path))
    assert one_line(error) == f"test_batch in {archive} is 70 MB, larger than the format allows (65 MB); it is " \
                              "not a CIFAR batch"
    assert peak < 20 * MB


def test_a_real_size_cifar_batch_still_loads(tmp_path):
    # The format's own size (10000 images) in a Python 2 style pickle, as published (here unpacked).
    members, _ = cifar_members("cifar10", per_batch=2)
    pixels = (np.arange(10_000 * 3072) % 253).astype(np.uint8).reshape(10_000, 3072)
    batch = {b"data": pixels, b"labels": [i % 10 for i in range(10_000)], b"batch_label": b"testing batch 1 of 1",
             b"filenames": [b"f%05d.png" % i for i in range(10_000)]}
    members["cifar-10-batches-py/test_batch"] = python2_pickle(batch)
    write_members(tmp_path, members)
    data = load_dataset("cifar10", split="test", data_dir=tmp_path, n=100, seed=3)
    rows = sample_indices(10_000, 100, 3)
    assert torch.equal(data.images, torch.from_numpy(batch[b"data"].reshape(-1, 3, 32, 32))[rows])
    assert data.labels.tolist() == [batch[b"labels"][i] for i in rows.tolist()]


# ---------------------------------------------------------------- images


def png_header(path: Path, width: int, height: int) -> Path:
    """A PNG that declares width x height 1-bit pixels and holds none of them: a few dozen bytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return path


def small_folder(root: Path) -> Path:
    for index, name in enumerate(("a", "b")):
        (root / name).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((8, 8, 3), index * 100, np.uint8)).save(root / name / "0.png")
    return root


@pytest.mark.parametrize("width, height", [(20_000, 20_000), (8_000, 8_000)])
def test_an_oversized_image_in_a_folder_is_one_line(tmp_path, width, height):
    # 20000x20000 is past Pillow's own bomb limit; 8000x8000 (64 megapixels) past resviz's.
    root = small_folder(tmp_path / "pets")
    bomb = png_header(root / "b" / "huge.png", width, height)
    with pytest.raises(ResvizError, match=rf"image {bomb} is .*larger than 50 megapixels, the most resviz "
                                          "decodes from one image") as caught:
        load_dataset(str(root))
    one_line(caught.value)
    assert MAX_IMAGE_PIXELS == 50_000_000  # the README states it


def test_an_oversized_image_for_attribution_is_one_line(tmp_path, capsys):
    from resviz.attribution.inputs import load_image_file
    from resviz.cli import main

    bomb = png_header(tmp_path / "huge.png", 20_000, 20_000)
    with pytest.raises(ResvizError, match=f"image {bomb} is larger than 50 megapixels"):
        load_image_file(bomb)
    assert main(["attribute", "simple_cnn", "--images", str(bomb), "--out", str(tmp_path / "maps.png")]) == 2
    err = capsys.readouterr().err
    assert err == f"resviz: error: image {bomb} is larger than 50 megapixels, the most resviz decodes from one image\n"


def test_an_image_folder_too_large_to_hold_is_refused_before_decoding(tmp_path, monkeypatch):
    root = small_folder(tmp_path / "pets")
    monkeypatch.setattr("resviz.data.folder._decode", lambda *args: pytest.fail("decoded"))
    with pytest.raises(ResvizError, match=r"image folder pets: 2 images of 3x40000x40000 would take 9.6 GB in "
                                          r"memory, more than the 4 GB resviz allows here") as caught:
        load_dataset(str(root), split="train", size=40_000)
    one_line(caught.value)


# ---------------------------------------------------------------- generated and converted data


def test_shapes_and_conversions_too_large_to_hold_are_refused_before_allocating():
    error, peak = traced_peak(lambda: load_dataset("shapes", n=10**9))
    assert one_line(error).startswith("shapes: 1000000000 images of 3x32x32 and their masks would take 4.1 TB in "
                                      "memory, more than the 4 GB resviz allows here")
    assert peak < 10 * MB
    images = torch.zeros(1000, 1, 28, 28, dtype=torch.uint8)
    with pytest.raises(ResvizError, match=r"mnist: 1000 images converted to 3x2048x2048 would take 12.6 GB") as caught:
        convert_images(images, size=2048, channels=3, name="mnist")
    one_line(caught.value)


def test_conversion_in_blocks_gives_what_one_pass_gives():
    images = torch.randint(0, 256, (5, 3, 40, 40), dtype=torch.uint8)
    grey = convert_images(images, size=24, channels=1)
    weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    luma = (images.float() * weights).sum(1, keepdim=True).round_().clamp_(0, 255)
    expected = torch.nn.functional.interpolate(luma, size=(24, 24), mode="bilinear", align_corners=False,
                                               antialias=True).round_().clamp_(0, 255).to(torch.uint8)
    assert torch.equal(grey, expected)
    assert convert_images(images) is images
    colour = convert_images(grey[:, :, :8, :8], channels=3)
    assert torch.equal(colour, grey[:, :, :8, :8].expand(-1, 3, -1, -1))


def test_idx_subsets_match_a_subset_of_the_whole(tmp_path):
    write_mnist_files(tmp_path / "mnist", n_train=300, n_test=10)
    whole = load_dataset("mnist", data_dir=tmp_path)
    part = load_dataset("mnist", data_dir=tmp_path, n=17, seed=9)
    rows = sample_indices(300, 17, 9)
    assert torch.equal(part.images, whole.images[rows]) and torch.equal(part.labels, whole.labels[rows])


# ---------------------------------------------------------------- downloads


class EndlessResponse:
    """A server that sends zeros for ever, announcing ``length`` (or nothing)."""

    def __init__(self, length: int | None = None) -> None:
        self.headers = {} if length is None else {"Content-Length": str(length)}
        self.sent = 0

    def read(self, size: int) -> bytes:
        self.sent += size
        return bytes(size)

    def __enter__(self) -> EndlessResponse:
        return self

    def __exit__(self, *exc) -> None:
        pass


def test_a_download_larger_than_a_data_set_file_is_cut_off(tmp_path):
    from resviz.data.download import DOWNLOAD_MAX_BYTES, download_file

    announced = EndlessResponse(length=50 * 10**9)
    with pytest.raises(ResvizError, match=r"download of http://mirror/x.gz refused: the server announces 50 GB, more "
                                          r"than the 1 GB a data set file can be"):
        download_file("http://mirror/x.gz", tmp_path / "x.gz", opener=lambda request, timeout: announced)
    assert announced.sent == 0 and DOWNLOAD_MAX_BYTES == 1_000_000_000
    silent = EndlessResponse()
    with pytest.raises(ResvizError, match=r"download of http://mirror/x.gz stopped: it sent more than the 200 kB a "
                                          r"data set file can be"):
        download_file("http://mirror/x.gz", tmp_path / "x.gz", opener=lambda request, timeout: silent,
                      max_bytes=200_000)
    assert silent.sent < 300_000 and list(tmp_path.iterdir()) == []
