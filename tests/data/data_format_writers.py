"""Writers for small fixture files in the real published formats: IDX (plain and gzipped) and CIFAR archives.

The CIFAR batches are written as the originals were: Python 2 ``cPickle`` protocol 2, with
``str`` values as BINSTRING opcodes (they load as ``bytes`` keys such as ``b'data'``) and
arrays rebuilt through ``numpy.core.multiarray._reconstruct``.
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np

IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
             np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    array = np.asarray(array)
    header = bytes([0, 0, IDX_CODES[array.dtype], array.ndim]) + b"".join(
        struct.pack(">I", size) for size in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray, *, gz: bool = False) -> Path:
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_mnist_files(folder: Path, *, n_train: int = 30, n_test: int = 10, gz: bool = True, seed: int = 0,
                      size: int = 28) -> dict[str, np.ndarray]:
    """The four MNIST files as published; returns the arrays written."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, size, size), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        suffix = ".gz" if gz else ""
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images, gz=gz)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels, gz=gz)
        arrays[f"{prefix}-images"], arrays[f"{prefix}-labels"] = images, labels
    return arrays


class _Py2Reconstruct:
    """Stands for numpy.core.multiarray._reconstruct in the pickle stream."""


class Python2StylePickler(pickle._Pickler):  # the pure-Python pickler, so opcodes can be chosen
    dispatch = pickle._Pickler.dispatch.copy()

    def _write_py2_str(self, data: bytes) -> None:
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)

    def save_bytes(self, obj: bytes) -> None:
        self._write_py2_str(obj)
        self.memoize(obj)

    def save_str(self, obj: str) -> None:
        self._write_py2_str(obj.encode("latin1"))
        self.memoize(obj)

    dispatch[bytes] = save_bytes
    dispatch[str] = save_str

    def save_global(self, obj, name=None):
        names = {_Py2Reconstruct: b"numpy.core.multiarray\n_reconstruct\n", np.ndarray: b"numpy\nndarray\n",
                 np.dtype: b"numpy\ndtype\n"}
        if obj in names:
            self.write(pickle.GLOBAL + names[obj])
            self.memoize(obj)
            return
        super().save_global(obj, name)

    def reducer_override(self, obj):
        if isinstance(obj, np.ndarray):
            return _Py2Reconstruct, (np.ndarray, (0,), b"b"), (1, obj.shape, obj.dtype, False, obj.tobytes())
        if isinstance(obj, np.dtype):
            return np.dtype, (obj.str[1:], 0, 1), (3, "|", None, None, None, -1, -1, 0)
        return NotImplemented


def python2_pickle(obj) -> bytes:
    buffer = io.BytesIO()
    Python2StylePickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def cifar_batch(n: int, rng: np.random.Generator, *, fine: bool, batch_label: bytes, num_classes: int) -> dict:
    labels = [int(v) for v in np.arange(n) % num_classes]
    batch = {b"batch_label": batch_label, b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
             b"filenames": [b"img_%d.png" % i for i in range(n)]}
    if fine:
        batch[b"fine_labels"] = labels
        batch[b"coarse_labels"] = [label // 5 for label in labels]
    else:
        batch[b"labels"] = labels
    return batch


def cifar_members(kind: str, *, per_batch: int = 6, seed: int = 0,
                  pickler=python2_pickle) -> tuple[dict[str, bytes], dict[str, dict]]:
    """The files of cifar-10-batches-py/ or cifar-100-python/ as bytes, keyed by their path in the archive,
    and the dicts that were pickled into them (to compare what is read back)."""
    rng = np.random.default_rng(seed)
    originals: dict[str, dict] = {}

    def pickled(name: str, obj: dict) -> bytes:
        originals[name.split("/")[-1]] = obj
        return pickler(obj)

    if kind == "cifar10":
        names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
        members = {f"cifar-10-batches-py/data_batch_{i}": pickled(f"data_batch_{i}", cifar_batch(
            per_batch, rng, fine=False, batch_label=b"training batch %d of 5" % i, num_classes=10))
            for i in range(1, 6)}
        members["cifar-10-batches-py/test_batch"] = pickled("test_batch", cifar_batch(
            per_batch, rng, fine=False, batch_label=b"testing batch 1 of 1", num_classes=10))
        members["cifar-10-batches-py/batches.meta"] = pickled("batches.meta",
            {b"num_cases_per_batch": per_batch, b"label_names": names, b"num_vis": 3072})
        members["cifar-10-batches-py/readme.html"] = b"<html>CIFAR-10</html>"
        return members, originals
    names = [b"class_%02d" % i for i in range(100)]
    members = {"cifar-100-python/train": pickled("train", cifar_batch(
        per_batch, rng, fine=True, batch_label=b"training batch 1 of 1", num_classes=100)),
        "cifar-100-python/test": pickled("test", cifar_batch(
            per_batch, rng, fine=True, batch_label=b"testing batch 1 of 1", num_classes=100)),
        "cifar-100-python/meta": pickled("meta", {b"fine_label_names": names,
                                          b"coarse_label_names": [b"super_%d" % i for i in range(20)]})}
    members["cifar-100-python/file.txt~"] = b""
    return members, originals


def write_tar_gz(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        folders = sorted({name.split("/")[0] for name in members})
        for folder in folders:
            info = tarfile.TarInfo(folder)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            archive.addfile(info)
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def write_members(folder: Path, members: dict[str, bytes]) -> Path:
    for name, data in members.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder
