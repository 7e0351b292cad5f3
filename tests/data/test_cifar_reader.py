"""CIFAR-10/100 from archives and folders written like the originals, through the restricted unpickler."""

from __future__ import annotations

import io
import pickle
import tarfile

import numpy as np
import pytest
import torch

from resviz.data import load_dataset
from resviz.data.safe_pickle import safe_loads
from resviz.errors import ResvizError

from data_format_writers import cifar_members, write_members, write_tar_gz


def expected_images(batch: dict) -> torch.Tensor:
    return torch.from_numpy(batch[b"data"].reshape(-1, 3, 32, 32))


def test_cifar10_from_the_official_archive(tmp_path):
    members, originals = cifar_members("cifar10", per_batch=6)
    write_tar_gz(tmp_path / "cifar-10-python.tar.gz", members)
    train = load_dataset("cifar10", data_dir=tmp_path)
    assert train.name == "cifar10" and train.classes[:3] == ["airplane", "automobile", "bird"]
    assert train.images.shape == (30, 3, 32, 32) and train.images.dtype == torch.uint8
    expected = torch.cat([expected_images(originals[f"data_batch_{i}"]) for i in range(1, 6)])
    assert torch.equal(train.images, expected)
    assert train.labels.tolist() == sum((originals[f"data_batch_{i}"][b"labels"] for i in range(1, 6)), [])
    test = load_dataset("cifar10", split="test", data_dir=tmp_path)
    assert torch.equal(test.images, expected_images(originals["test_batch"]))
    named = load_dataset("cifar10", split="test", data_dir=tmp_path / "cifar-10-python.tar.gz")  # the archive itself
    assert torch.equal(named.images, test.images)
    assert not list(tmp_path.glob("cifar-10-batches-py"))  # read in memory, nothing extracted


def test_cifar10_from_the_unpacked_folder_pickled_by_python3(tmp_path):
    # Re-saved copies made with Python 3 (protocol 2 and the default) read the same way.
    for protocol in (2, pickle.DEFAULT_PROTOCOL):
        folder = tmp_path / f"p{protocol}"
        members, originals = cifar_members("cifar10", per_batch=4, seed=protocol,
                                           pickler=lambda obj, protocol=protocol: pickle.dumps(obj, protocol=protocol))
        write_members(folder, members)
        data = load_dataset("cifar-10", split="test", data_dir=folder)
        assert torch.equal(data.images, expected_images(originals["test_batch"]))
        # The data folder may also be the unpacked folder itself.
        direct = load_dataset("cifar10", split="test", data_dir=folder / "cifar-10-batches-py")
        assert torch.equal(direct.images, data.images)


def test_cifar100_fine_labels_and_names(tmp_path):
    members, originals = cifar_members("cifar100", per_batch=7)
    write_tar_gz(tmp_path / "cifar-100-python.tar.gz", members)
    train = load_dataset("cifar100", data_dir=tmp_path)
    assert len(train.classes) == 100 and train.classes[42] == "class_42"
    assert train.labels.tolist() == originals["train"][b"fine_labels"]
    assert torch.equal(train.images, expected_images(originals["train"]))
    small = load_dataset("cifar100", split="test", data_dir=tmp_path, size=16, channels=1)
    assert small.images.shape == (7, 1, 16, 16)


class _RunsCode:
    """A pickle that would call os.system if loaded with plain pickle.load."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


def test_a_malicious_batch_is_refused_without_running_anything(tmp_path):
    marker = tmp_path / "pwned"
    members, _ = cifar_members("cifar10", per_batch=2)
    members["cifar-10-batches-py/test_batch"] = pickle.dumps({b"data": _RunsCode(marker), b"labels": [0]},
                                                             protocol=2)
    write_tar_gz(tmp_path / "cifar-10-python.tar.gz", members)
    with pytest.raises(ResvizError, match=r"test_batch in .*cifar-10-python.tar.gz is not a valid data batch: "
                                          r"the pickle refers to (posix|os)\.system, which is not allowed"):
        load_dataset("cifar10", split="test", data_dir=tmp_path)
    assert not marker.exists()


@pytest.mark.parametrize("payload, message", [
    (np.array([object()], dtype=object), "not allowed"),  # object arrays could smuggle globals
    (np.zeros(3, dtype=[("a", "u1")]), "not allowed"),
])
def test_only_numeric_arrays_are_rebuilt(payload, message):
    with pytest.raises(ResvizError, match=message):
        safe_loads(pickle.dumps({b"data": payload}, protocol=2), "batch", max_array_bytes=1000)
    assert safe_loads(pickle.dumps({"x": np.arange(3, dtype=np.int16), "y": np.float32(2.5)}), "ok",
                      max_array_bytes=6)["x"].tolist() == [0, 1, 2]


def test_wrong_archives_and_batches_say_what_is_wrong(tmp_path):
    members, _ = cifar_members("cifar10", per_batch=2)
    incomplete = {k: v for k, v in members.items() if not k.endswith("data_batch_3")}
    write_tar_gz(tmp_path / "cifar-10-python.tar.gz", incomplete)
    with pytest.raises(ResvizError, match="is not the CIFAR-10 archive: it has no cifar-10-batches-py/data_batch_3"):
        load_dataset("cifar10", data_dir=tmp_path)

    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"\x1f\x8b\x08\x00garbage" * 20)
    with pytest.raises(ResvizError, match="is not a readable CIFAR-10 archive"):
        load_dataset("cifar10", data_dir=tmp_path)

    bad = dict(members)
    bad["cifar-10-batches-py/test_batch"] = pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]})
    write_members(tmp_path / "folder", bad)
    with pytest.raises(ResvizError, match=r"test_batch: 'data' should be an N x 3072 uint8 array"):
        load_dataset("cifar10", split="test", data_dir=tmp_path / "folder")

    bad["cifar-10-batches-py/test_batch"] = b"\x80\x02}q\x00(U\x04data"  # cut short
    write_members(tmp_path / "folder", bad)
    with pytest.raises(ResvizError, match="test_batch is not a valid data batch"):
        load_dataset("cifar10", split="test", data_dir=tmp_path / "folder")

    with pytest.raises(ResvizError, match=r"CIFAR-100 not found in .*: expected cifar-100-python.tar.gz or its "
                                          r"folder cifar-100-python/"):
        load_dataset("cifar100", data_dir=tmp_path)


def test_archive_members_outside_the_data_folder_are_ignored(tmp_path):
    members, originals = cifar_members("cifar10", per_batch=2)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in {**members, "../test_batch": b"evil", "other/test_batch": b"evil"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(buffer.getvalue())
    data = load_dataset("cifar10", split="test", data_dir=tmp_path)
    assert torch.equal(data.images, expected_images(originals["test_batch"]))
    assert not (tmp_path.parent / "test_batch").exists()
