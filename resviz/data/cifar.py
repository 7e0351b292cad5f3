"""CIFAR-10 and CIFAR-100 from their official python-version archives, or the folders they unpack to.

The batches are Python pickles of dicts (``b'data'``: N x 3072 uint8, ``b'labels'`` or
``b'fine_labels'``, ``b'batch_label'``, ``b'filenames'``). They are read with the restricted
unpickler of ``safe_pickle`` straight out of the ``.tar.gz`` (nothing is extracted to disk).
"""

from __future__ import annotations

import tarfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import torch

from ..errors import ResvizError
from .download import Resource
from .safe_pickle import safe_loads
from .types import ImageData


@dataclass(frozen=True)
class CifarDataset:
    name: str
    title: str
    archive: Resource
    folder: str  # what the archive unpacks to
    train_batches: tuple[str, ...]
    test_batches: tuple[str, ...]
    meta_file: str
    labels_key: bytes
    names_key: bytes

    def batches(self, split: str) -> tuple[str, ...]:
        return self.train_batches if split == "train" else self.test_batches

    def expected(self) -> str:
        return f"{self.archive.filename} or its folder {self.folder}/ ({', '.join(self.train_batches[:1])}, " \
               f"{', '.join(self.test_batches)}, {self.meta_file}, ...)"


CIFAR10 = CifarDataset(
    name="cifar10", title="CIFAR-10",
    archive=Resource("cifar-10-python.tar.gz", ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
                     md5="c58f30108f718f92721af3b95e74349a"),
    folder="cifar-10-batches-py", train_batches=tuple(f"data_batch_{i}" for i in range(1, 6)),
    test_batches=("test_batch",), meta_file="batches.meta", labels_key=b"labels", names_key=b"label_names")

CIFAR100 = CifarDataset(
    name="cifar100", title="CIFAR-100",
    archive=Resource("cifar-100-python.tar.gz", ("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",),
                     md5="eb9058c3a382ffc7106e4002c42a8d85"),
    folder="cifar-100-python", train_batches=("train",), test_batches=("test",), meta_file="meta",
    labels_key=b"fine_labels", names_key=b"fine_label_names")


def find_cifar_source(dataset: CifarDataset, data_dir: Path) -> Path | None:
    """The unpacked folder or the archive, in that order of preference; None when neither is there."""
    for folder in (data_dir / dataset.folder, data_dir / dataset.name / dataset.folder, data_dir):
        if (folder / dataset.meta_file).is_file() and (folder / dataset.test_batches[0]).is_file():
            return folder
    for archive in (data_dir / dataset.archive.filename, data_dir / dataset.name / dataset.archive.filename):
        if archive.is_file():
            return archive
    return None


def _read_members(dataset: CifarDataset, source: Path, names: list[str]) -> dict[str, bytes]:
    """The named batch files' bytes, from a folder or from the archive (read in memory, never extracted)."""
    if source.is_dir():
        found = {}
        for name in names:
            path = source / name
            if not path.is_file():
                raise ResvizError(f"{dataset.title} folder {source} has no {name}: expected {dataset.expected()}")
            found[name] = path.read_bytes()
        return found
    found = {}
    try:
        with tarfile.open(source, "r:*") as archive:
            for member in archive:
                parts = PurePosixPath(member.name).parts
                if member.isfile() and len(parts) == 2 and parts[0] == dataset.folder and parts[1] in names:
                    handle = archive.extractfile(member)
                    if handle is not None:
                        found[parts[1]] = handle.read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise ResvizError(f"{source} is not a readable {dataset.title} archive: {exc}") from None
    missing = [name for name in names if name not in found]
    if missing:
        raise ResvizError(f"{source} is not the {dataset.title} archive: it has no {dataset.folder}/{missing[0]} "
                          f"(expected {dataset.expected()})")
    return found


def _get(mapping: Mapping[Any, Any], key: bytes, where: str) -> Any:
    for candidate in (key, key.decode("ascii")):
        if candidate in mapping:
            return mapping[candidate]
    raise ResvizError(f"{where} has no {key.decode('ascii')!r} entry")


def _decode_names(values: Any, where: str) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, (bytes, str)) for v in values):
        raise ResvizError(f"{where}: the class names should be a list of strings")
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in values]


def _decode_batch(blob: bytes, where: str, labels_key: bytes, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    batch = safe_loads(blob, where)
    if not isinstance(batch, dict):
        raise ResvizError(f"{where} should hold a dict, it holds a {type(batch).__name__}")
    data = _get(batch, b"data", where)
    labels = _get(batch, labels_key, where)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shape = getattr(data, "shape", None)
        raise ResvizError(f"{where}: 'data' should be an N x 3072 uint8 array, got {type(data).__name__} {shape}")
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu" or len(labels) != len(data):
        raise ResvizError(f"{where}: expected {len(data)} integer labels, got {labels.dtype} of shape {labels.shape}")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ResvizError(f"{where}: labels outside 0..{num_classes - 1}")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def load_cifar(dataset: CifarDataset, source: Path, split: str) -> ImageData:
    batches = list(dataset.batches(split))
    blobs = _read_members(dataset, source, [*batches, dataset.meta_file])
    meta_where = f"{source}/{dataset.meta_file}" if source.is_dir() else f"{dataset.meta_file} in {source}"
    meta = safe_loads(blobs[dataset.meta_file], meta_where)
    if not isinstance(meta, dict):
        raise ResvizError(f"{meta_where} should hold a dict, it holds a {type(meta).__name__}")
    classes = _decode_names(_get(meta, dataset.names_key, meta_where), meta_where)
    images, labels = [], []
    for name in batches:
        where = f"{source}/{name}" if source.is_dir() else f"{name} in {source}"
        batch_images, batch_labels = _decode_batch(blobs.pop(name), where, dataset.labels_key, len(classes))
        images.append(batch_images)
        labels.append(batch_labels)
    return ImageData(images=torch.from_numpy(np.concatenate(images)),
                     labels=torch.from_numpy(np.concatenate(labels)), classes=classes, name=dataset.name)
