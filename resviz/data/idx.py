"""IDX files (the MNIST format) and the MNIST and Fashion-MNIST data sets read from them.

An IDX file is ``00 00 TYPE NDIM``, NDIM big-endian uint32 sizes, then the values in
big-endian order. Files may be gzipped (as published) or not; both are recognised by their
content, not their name.
"""

from __future__ import annotations

import gzip
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import ResvizError
from .download import Resource
from .types import ImageData

_IDX_TYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_GZIP_MAGIC = b"\x1f\x8b"


def read_file_maybe_gzipped(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise ResvizError(f"{path} cannot be read: {exc}") from None
    if data[:2] == _GZIP_MAGIC:
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise ResvizError(f"{path} is a damaged or truncated gzip file: {exc}") from None
    return data


def parse_idx(data: bytes, where: str) -> np.ndarray:
    """The array an IDX file holds (native byte order)."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ResvizError(f"{where} is not an IDX file (it should start with 00 00 TYPE NDIM)")
    dtype = _IDX_TYPES.get(data[2])
    if dtype is None:
        raise ResvizError(f"{where} is not an IDX file: unknown value type 0x{data[2]:02x}")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise ResvizError(f"{where} is not a valid IDX file: truncated header ({len(data)} bytes)")
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "longer than its header says"
        raise ResvizError(f"{where} is {state}: {len(data)} bytes, its header ({'x'.join(map(str, shape))} "
                          f"values) needs {expected}")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, gzipped or not."""
    path = Path(path)
    return parse_idx(read_file_maybe_gzipped(path), str(path))


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


def load_idx_dataset(dataset: IdxDataset, data_dir: Path, split: str) -> ImageData:
    files = find_idx_files(dataset, data_dir, split)
    if files is None:
        raise ResvizError(expected_files_message(dataset, data_dir, split) + "; pass --download to fetch them")
    images_path, labels_path = files
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ResvizError(f"{images_path} should hold N x H x W uint8 images, it holds {images.dtype} of shape "
                          f"{images.shape}")
    if labels.ndim != 1:
        raise ResvizError(f"{labels_path} should hold N labels, it holds shape {labels.shape}")
    if len(labels) != len(images):
        raise ResvizError(f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(dataset.classes)):
        raise ResvizError(f"{labels_path} has labels outside 0..{len(dataset.classes) - 1}")
    return ImageData(images=torch.from_numpy(images.copy()).unsqueeze(1),
                     labels=torch.from_numpy(labels.astype(np.int64)), classes=list(dataset.classes),
                     name=dataset.name)
