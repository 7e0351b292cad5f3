"""IDX files (the MNIST format) and the MNIST and Fashion-MNIST data sets read from them.

An IDX file is ``00 00 TYPE NDIM``, NDIM big-endian uint32 sizes, then the values in
big-endian order. Files may be gzipped (as published) or not; both are recognised by their
content, not their name.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from ..errors import ResvizError
from ..limits import format_bytes
from .download import Resource
from .types import ImageData, check_memory, sample_indices

_IDX_TYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_GZIP_MAGIC = b"\x1f\x8b"
# The most values one IDX file may declare (MNIST's largest file holds 47 MB): checked against the
# header before anything is read, so a small gzipped file cannot inflate into gigabytes.
IDX_MAX_BYTES = 1_000_000_000
IDX_MAX_DIMS = 4  # labels are 1-d, images 3-d; nothing resviz reads has more
_CHUNK = 1 << 20  # bytes read (and inflated) at a time


@dataclass(frozen=True)
class IdxHeader:
    dtype: np.dtype  # big-endian, as stored
    shape: tuple[int, ...]
    offset: int  # bytes before the values

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize

    @property
    def row_bytes(self) -> int:
        return math.prod(self.shape[1:]) * self.dtype.itemsize

    def describe(self) -> str:
        return "x".join(map(str, self.shape))


@contextmanager
def _open(path: Path) -> Iterator[tuple[BinaryIO, bool]]:
    """The file's decompressed byte stream and whether it is gzipped (recognised by its content)."""
    try:
        raw = open(path, "rb")
    except OSError as exc:
        raise ResvizError(f"{path} cannot be read: {exc}") from None
    with raw:
        try:
            gzipped = raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
        except OSError as exc:
            raise ResvizError(f"{path} cannot be read: {exc}") from None
        if not gzipped:
            yield raw, False
            return
        with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
            yield stream, True


def _read(stream: BinaryIO, count: int, path: Path, gzipped: bool) -> bytes:
    """Up to ``count`` bytes (fewer only at the end of the data)."""
    try:
        return stream.read(count)
    except (OSError, EOFError, zlib.error) as exc:
        if gzipped:
            raise ResvizError(f"{path} is a damaged or truncated gzip file: {exc}") from None
        raise ResvizError(f"{path} cannot be read: {exc}") from None


def _read_header(stream: BinaryIO, path: Path, gzipped: bool, max_bytes: int) -> IdxHeader:
    start = _read(stream, 4, path, gzipped)
    if len(start) < 4 or start[0] != 0 or start[1] != 0:
        raise ResvizError(f"{path} is not an IDX file (it should start with 00 00 TYPE NDIM)")
    dtype = _IDX_TYPES.get(start[2])
    if dtype is None:
        raise ResvizError(f"{path} is not an IDX file: unknown value type 0x{start[2]:02x}")
    ndim = start[3]
    if not 1 <= ndim <= IDX_MAX_DIMS:
        raise ResvizError(f"{path} is not an IDX file resviz reads: its header declares {ndim} dimensions "
                          f"(1 to {IDX_MAX_DIMS} are read: labels have 1, images 3)")
    sizes = _read(stream, 4 * ndim, path, gzipped)
    if len(sizes) < 4 * ndim:
        raise ResvizError(f"{path} is not a valid IDX file: truncated header ({4 + len(sizes)} bytes)")
    shape = tuple(int.from_bytes(sizes[4 * i:4 * i + 4], "big") for i in range(ndim))
    header = IdxHeader(dtype, shape, 4 + 4 * ndim)
    if header.nbytes > max_bytes:
        raise ResvizError(f"{path}: its header declares {header.describe()} values ({format_bytes(header.nbytes)}), "
                          f"more than the {format_bytes(max_bytes)} resviz reads from an IDX file")
    return header


def read_idx_header(path: str | os.PathLike, max_bytes: int = IDX_MAX_BYTES) -> IdxHeader:
    """The value type and shape an IDX file declares, read without its values."""
    path = Path(path)
    with _open(path) as (stream, gzipped):
        return _read_header(stream, path, gzipped, max_bytes)


def _read_values(stream: BinaryIO, path: Path, gzipped: bool, header: IdxHeader,
                 rows: np.ndarray | None) -> bytearray:
    """The values of the chosen rows (all rows when None), streamed block by block so that only those are
    kept; every declared byte must be present, with nothing after them."""
    kept = bytearray()
    got = 0
    row_bytes, total_rows = header.row_bytes, header.shape[0]
    per_block = max(1, _CHUNK // row_bytes) if row_bytes else max(total_rows, 1)
    for first in range(0, total_rows if row_bytes else 0, per_block):
        count = min(per_block, total_rows - first)
        low, high = (0, count) if rows is None else np.searchsorted(rows, [first, first + count])
        # All rows go straight to what is kept; a block without a chosen row is read and dropped.
        block = kept if rows is None else bytearray() if high > low else None
        remaining = count * row_bytes
        while remaining:
            piece = _read(stream, min(remaining, _CHUNK), path, gzipped)
            if not piece:
                raise ResvizError(f"{path} is truncated: {header.offset + got} bytes, its header "
                                  f"({header.describe()} values) needs {header.offset + header.nbytes}")
            got += len(piece)
            remaining -= len(piece)
            if block is not None:
                block += piece
        if rows is None or block is None:
            continue
        for row in rows[low:high].tolist():
            kept += block[(row - first) * row_bytes:(row - first + 1) * row_bytes]
    if _read(stream, 1, path, gzipped):
        raise ResvizError(f"{path} is longer than its header says: its header ({header.describe()} values) needs "
                          f"{header.offset + header.nbytes} bytes")
    return kept


def read_idx(path: str | os.PathLike, *, rows: np.ndarray | torch.Tensor | None = None,
             max_bytes: int = IDX_MAX_BYTES) -> np.ndarray:
    """Read an IDX file, gzipped or not (native byte order).

    ``rows`` (sorted indices along the first axis) keeps only those rows. The header is checked
    against ``max_bytes`` before any value is read, and the values are streamed, so memory holds
    only what is kept, however much a gzipped file inflates.
    """
    path = Path(path)
    with _open(path) as (stream, gzipped):
        header = _read_header(stream, path, gzipped, max_bytes)
        if rows is not None:
            rows = np.asarray(rows, dtype=np.int64)
            if len(rows) and (rows.min() < 0 or rows.max() >= header.shape[0]):
                raise ValueError(f"rows outside 0..{header.shape[0] - 1}")
        values = _read_values(stream, path, gzipped, header, rows)
    shape = header.shape if rows is None else (len(rows), *header.shape[1:])
    array = np.frombuffer(values, dtype=header.dtype).reshape(shape)
    return array.astype(header.dtype.newbyteorder("="), copy=False)


@dataclass(frozen=True)
class IdxDataset:
    """An IDX-published data set: its file stems, classes, mirrors and checksums."""

    name: str
    title: str
    classes: tuple[str, ...]
    folders: tuple[str, ...]  # subfolders of the data folder to look in, before the folder itself
    mirrors: tuple[str, ...]
    md5: dict[str, str]  # published .gz file name -> MD5

    def stems(self, split: str) -> tuple[str, str]:
        prefix = "train" if split == "train" else "t10k"
        return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"

    def resources(self) -> list[Resource]:
        return [Resource(filename, tuple(mirror + filename for mirror in self.mirrors), md5=md5)
                for filename, md5 in self.md5.items()]


MNIST = IdxDataset(
    name="mnist", title="MNIST", classes=tuple(str(d) for d in range(10)),
    folders=("mnist", "MNIST/raw", "MNIST"),
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/",
             "http://yann.lecun.com/exdb/mnist/"),
    md5={"train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
         "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
         "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
         "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"})

FASHION_MNIST = IdxDataset(
    name="fashion", title="Fashion-MNIST",
    classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
             "Ankle boot"),
    folders=("fashion", "fashion-mnist", "fashion_mnist", "FashionMNIST/raw", "FashionMNIST"),
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
             "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
    md5={"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
         "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
         "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
         "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"})


def _candidates(stem: str) -> list[str]:
    # As published (gzipped), unpacked, and the dotted variant some mirrors use (train-images.idx3-ubyte).
    dotted = stem.replace("-idx", ".idx")
    return [stem + ".gz", stem, dotted + ".gz", dotted]


def find_idx_files(dataset: IdxDataset, data_dir: Path, split: str) -> tuple[Path, Path] | None:
    """The (images, labels) files of a split: in the data set's own subfolder first, then in the folder itself."""
    folders = [data_dir / sub for sub in dataset.folders] + [data_dir]
    for folder in folders:
        found = []
        for stem in dataset.stems(split):
            match = next((folder / name for name in _candidates(stem) if (folder / name).is_file()), None)
            found.append(match)
        if all(found):
            return found[0], found[1]
    return None


def expected_files_message(dataset: IdxDataset, data_dir: Path, split: str) -> str:
    images, labels = dataset.stems(split)
    return (f"{dataset.title} {split} files not found in {data_dir}: expected {images}[.gz] and {labels}[.gz] "
            f"there or in {data_dir / dataset.folders[0]}")


def load_idx_dataset(dataset: IdxDataset, data_dir: Path, split: str, *, n: int | None = None,
                     seed: int = 0) -> ImageData:
    """A split of an IDX data set; with ``n``, only a seeded random subset of ``n`` samples is read."""
    files = find_idx_files(dataset, data_dir, split)
    if files is None:
        raise ResvizError(expected_files_message(dataset, data_dir, split) + "; pass --download to fetch them")
    images_path, labels_path = files
    # Both headers first: shapes, types and counts are checked before any value is read.
    image_header = read_idx_header(images_path)
    label_header = read_idx_header(labels_path)
    if len(image_header.shape) != 3 or image_header.dtype != np.dtype(">u1"):
        raise ResvizError(f"{images_path} should hold N x H x W uint8 images, its header declares "
                          f"{image_header.dtype.newbyteorder('=')} of shape {image_header.shape}")
    if len(label_header.shape) != 1 or label_header.dtype.kind not in "iu":
        raise ResvizError(f"{labels_path} should hold N integer labels, its header declares "
                          f"{label_header.dtype.newbyteorder('=')} of shape {label_header.shape}")
    count = image_header.shape[0]
    if label_header.shape[0] != count:
        raise ResvizError(f"{images_path} has {count} images but {labels_path} has {label_header.shape[0]} labels")
    rows = sample_indices(count, n, seed)
    kept = count if rows is None else len(rows)
    check_memory(str(images_path), f"{kept} images of {'x'.join(map(str, image_header.shape[1:]))} pixels",
                 kept * (image_header.row_bytes + 8), IDX_MAX_BYTES)
    images = read_idx(images_path, rows=rows)
    labels = read_idx(labels_path, rows=rows).astype(np.int64)
    if len(labels) and (labels.min() < 0 or labels.max() >= len(dataset.classes)):
        raise ResvizError(f"{labels_path} has labels outside 0..{len(dataset.classes) - 1}")
    return ImageData(images=torch.from_numpy(images).unsqueeze(1), labels=torch.from_numpy(labels),
                     classes=list(dataset.classes), name=dataset.name)
