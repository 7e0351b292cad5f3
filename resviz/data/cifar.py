"""CIFAR-10 and CIFAR-100 from their official python-version archives, or the folders they unpack to.

The batches are Python pickles of dicts (``b'data'``: N x 3072 uint8, ``b'labels'`` or
``b'fine_labels'``, ``b'batch_label'``, ``b'filenames'``). They are read with the restricted
unpickler of ``safe_pickle`` straight out of the ``.tar.gz`` (nothing is extracted to disk).
"""

from __future__ import annotations

import tarfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import torch

from ..errors import ResvizError
from ..limits import format_bytes
from .download import Resource
from .safe_pickle import safe_loads
from .types import ImageData, sample_indices

IMAGE_BYTES = 3 * 32 * 32
META_MAX_BYTES = 1_000_000  # class names and counts
MAX_NAME_LENGTH = 200
MAX_ARCHIVE_MEMBERS = 1000  # the archives hold 8 or 5 files


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
    num_classes: int
    max_batch_images: int  # the most images one of its batch files holds (the format's size)

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
    test_batches=("test_batch",), meta_file="batches.meta", labels_key=b"labels", names_key=b"label_names",
    num_classes=10, max_batch_images=10_000)

CIFAR100 = CifarDataset(
    name="cifar100", title="CIFAR-100",
    archive=Resource("cifar-100-python.tar.gz", ("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",),
                     md5="eb9058c3a382ffc7106e4002c42a8d85"),
    folder="cifar-100-python", train_batches=("train",), test_batches=("test",), meta_file="meta",
    labels_key=b"fine_labels", names_key=b"fine_label_names", num_classes=100, max_batch_images=50_000)


def find_cifar_source(dataset: CifarDataset, data_dir: Path) -> Path | None:
    """The unpacked folder or the archive, in that order of preference; None when neither is there."""
    for folder in (data_dir / dataset.folder, data_dir / dataset.name / dataset.folder, data_dir):
        if (folder / dataset.meta_file).is_file() and (folder / dataset.test_batches[0]).is_file():
            return folder
    for archive in (data_dir / dataset.archive.filename, data_dir / dataset.name / dataset.archive.filename):
        if archive.is_file():
            return archive
    return None


def _member_limit(dataset: CifarDataset, name: str) -> int:
    """The largest a member may be: its images and labels plus room for file names and the pickle's framing."""
    if name == dataset.meta_file:
        return META_MAX_BYTES
    # Twice the image bytes: Python 3 pickles bytes at protocol 2 as UTF-8 text, up to two bytes a byte.
    return dataset.max_batch_images * (2 * IMAGE_BYTES + 256) + 1_000_000


def _too_large(where: str, size: int, limit: int) -> ResvizError:
    return ResvizError(f"{where} is {format_bytes(size)}, larger than the format allows ({format_bytes(limit)}); "
                       "it is not a CIFAR batch")


def _read_members(dataset: CifarDataset, source: Path, names: list[str]) -> Iterator[tuple[str, str, bytes]]:
    """(name, where, bytes) of each named member, from a folder or from the archive (read in memory, never
    extracted), one at a time; each is checked against the size the format allows before it is read."""
    if source.is_dir():
        for name in names:
            path = source / name
            if not path.is_file():
                raise ResvizError(f"{dataset.title} folder {source} has no {name}: expected {dataset.expected()}")
            limit = _member_limit(dataset, name)
            try:
                if path.stat().st_size > limit:
                    raise _too_large(str(path), path.stat().st_size, limit)
                blob = path.read_bytes()
            except OSError as exc:
                raise ResvizError(f"{path} cannot be read: {exc}") from None
            if len(blob) > limit:  # grown since
                raise _too_large(str(path), len(blob), limit)
            yield name, str(path), blob
        return
    missing = list(names)
    try:
        with tarfile.open(source, "r:*") as archive:
            for index, member in enumerate(archive):
                if index >= MAX_ARCHIVE_MEMBERS:
                    raise ResvizError(f"{source} has more than {MAX_ARCHIVE_MEMBERS} entries: it is not the "
                                      f"{dataset.title} archive")
                parts = PurePosixPath(member.name).parts
                if not (member.isfile() and len(parts) == 2 and parts[0] == dataset.folder and parts[1] in missing):
                    continue
                where = f"{parts[1]} in {source}"
                limit = _member_limit(dataset, parts[1])
                if member.size > limit:
                    raise _too_large(where, member.size, limit)
                handle = archive.extractfile(member)
                if handle is not None:
                    missing.remove(parts[1])
                    yield parts[1], where, handle.read()  # member.size bytes
                if not missing:
                    break
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise ResvizError(f"{source} is not a readable {dataset.title} archive: {exc}") from None
    if missing:
        raise ResvizError(f"{source} is not the {dataset.title} archive: it has no {dataset.folder}/{missing[0]} "
                          f"(expected {dataset.expected()})")


def _get(mapping: Mapping[Any, Any], key: bytes, where: str) -> Any:
    for candidate in (key, key.decode("ascii")):
        if candidate in mapping:
            return mapping[candidate]
    raise ResvizError(f"{where} has no {key.decode('ascii')!r} entry")


def _decode_names(values: Any, where: str, count: int) -> list[str]:
    if not isinstance(values, list) or len(values) != count or \
            not all(isinstance(v, (bytes, str)) and len(v) <= MAX_NAME_LENGTH for v in values):
        raise ResvizError(f"{where}: the class names should be a list of {count} short strings")
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in values]


def _decode_labels(labels: Any, count: int, where: str) -> np.ndarray:
    if isinstance(labels, (list, tuple)):
        # Checked before numpy sees them: a list of anything else could make numpy allocate without bound.
        integers = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in labels)
        if len(labels) != count or not integers:
            raise ResvizError(f"{where}: expected {count} integer labels, got a list of {len(labels)} "
                              f"{'integers' if integers else 'values, not all integers'}")
        try:
            return np.asarray(labels, dtype=np.int64)
        except OverflowError:
            raise ResvizError(f"{where}: labels outside the integer range") from None
    if not isinstance(labels, np.ndarray) or labels.ndim != 1 or labels.dtype.kind not in "iu" or len(labels) != count:
        shape = getattr(labels, "shape", None)
        raise ResvizError(f"{where}: expected {count} integer labels, got {type(labels).__name__} {shape}")
    return labels.astype(np.int64)


def _decode_batch(blob: bytes, where: str, dataset: CifarDataset) -> tuple[np.ndarray, np.ndarray]:
    batch = safe_loads(blob, where, max_array_bytes=dataset.max_batch_images * (IMAGE_BYTES + 16))
    if not isinstance(batch, dict):
        raise ResvizError(f"{where} should hold a dict, it holds a {type(batch).__name__}")
    data = _get(batch, b"data", where)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != IMAGE_BYTES:
        shape = getattr(data, "shape", None)
        raise ResvizError(f"{where}: 'data' should be an N x 3072 uint8 array, got {type(data).__name__} {shape}")
    if len(data) > dataset.max_batch_images:
        raise ResvizError(f"{where}: 'data' holds {len(data)} images, more than a {dataset.title} batch "
                          f"({dataset.max_batch_images})")
    labels = _decode_labels(_get(batch, dataset.labels_key, where), len(data), where)
    if len(labels) and (labels.min() < 0 or labels.max() >= dataset.num_classes):
        raise ResvizError(f"{where}: labels outside 0..{dataset.num_classes - 1}")
    return data.reshape(-1, 3, 32, 32), labels


def load_cifar(dataset: CifarDataset, source: Path, split: str, *, n: int | None = None,
               seed: int = 0) -> ImageData:
    """A split of CIFAR-10/100; with ``n``, only a seeded random subset of ``n`` samples is kept."""
    batches = list(dataset.batches(split))
    decoded: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    classes: list[str] = []
    # Each member is decoded as it is read, so at most one pickle's bytes are held at a time.
    for name, where, blob in _read_members(dataset, source, [*batches, dataset.meta_file]):
        if name == dataset.meta_file:
            meta = safe_loads(blob, where, max_array_bytes=0)
            if not isinstance(meta, dict):
                raise ResvizError(f"{where} should hold a dict, it holds a {type(meta).__name__}")
            classes = _decode_names(_get(meta, dataset.names_key, where), where, dataset.num_classes)
        else:
            decoded[name] = _decode_batch(blob, where, dataset)
        del blob
    images = [decoded[name][0] for name in batches]
    labels = np.concatenate([decoded[name][1] for name in batches])
    rows = sample_indices(len(labels), n, seed)
    if rows is not None:
        rows = rows.numpy()
        labels = labels[rows]
        starts = np.cumsum([0] + [len(part) for part in images])
        images = [part[rows[(rows >= start) & (rows < start + len(part))] - start]
                  for part, start in zip(images, starts[:-1])]
    decoded.clear()
    return ImageData(images=torch.from_numpy(np.concatenate(images)), labels=torch.from_numpy(labels),
                     classes=classes, name=dataset.name)
