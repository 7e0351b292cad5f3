"""IDX files and MNIST / Fashion-MNIST read from files written in the published format."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from resviz.data import load_dataset
from resviz.data.idx import read_idx
from resviz.errors import ResvizError

from data_format_writers import idx_bytes, write_idx, write_mnist_files


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, dtype, gz):
    array = (np.arange(2 * 3 * 4) - 7).astype(dtype).reshape(2, 3, 4)
    if dtype == np.uint8:
        array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4) * 10
    path = write_idx(tmp_path / "values.idx", array, gz=gz)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == gz
    loaded = read_idx(path)
    assert loaded.dtype == np.dtype(dtype) and loaded.shape == (2, 3, 4)
    np.testing.assert_array_equal(loaded, array)


def test_idx_big_endian_values_are_decoded(tmp_path):
    path = write_idx(tmp_path / "ints.idx", np.array([1, 256, -2], dtype=np.int32))
    assert path.read_bytes()[8:12] == b"\x00\x00\x00\x01"  # stored big-endian
    assert read_idx(path).tolist() == [1, 256, -2]


def test_bad_idx_files_name_the_file(tmp_path):
    good = idx_bytes(np.zeros((4, 5, 5), np.uint8))
    cases = {
        "short.idx": (good[:-3], "is truncated: 113 bytes, its header \\(4x5x5 values\\) needs 116"),
        "long.idx": (good + b"\x00", "is longer than its header says"),
        "magic.idx": (b"\x01\x02" + good[2:], "is not an IDX file"),
        "type.idx": (good[:2] + b"\x07" + good[3:], "unknown value type 0x07"),
        "header.idx": (good[:6], "truncated header"),
        "broken.gz": (gzip.compress(good)[:-12], "damaged or truncated gzip file"),
    }
    for name, (data, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ResvizError, match=f"{path}.* {message}"):
            read_idx(path)


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_from_a_data_folder(tmp_path, gz):
    written = write_mnist_files(tmp_path / "mnist", n_train=30, n_test=10, gz=gz)
    train = load_dataset("mnist", data_dir=tmp_path)
    assert train.name == "mnist" and train.classes == [str(d) for d in range(10)]
    assert train.images.shape == (30, 1, 28, 28) and train.images.dtype == torch.uint8
    assert torch.equal(train.images[:, 0], torch.from_numpy(written["train-images"]))
    assert train.labels.tolist() == written["train-labels"].tolist()
    test = load_dataset("mnist", split="test", data_dir=tmp_path)
    assert torch.equal(test.images[:, 0], torch.from_numpy(written["t10k-images"]))


def test_fashion_files_directly_in_the_folder_and_adapted_to_a_model(tmp_path):
    written = write_mnist_files(tmp_path, n_train=20, n_test=8, gz=True, seed=3)
    data = load_dataset("fashion-mnist", data_dir=tmp_path, size=32, channels=3, n=12, seed=1)
    assert data.name == "fashion" and data.classes[0] == "T-shirt/top" and data.classes[9] == "Ankle boot"
    assert data.images.shape == (12, 3, 32, 32)
    assert torch.equal(data.images[:, 0], data.images[:, 2])  # grey copied to three channels
    subset = load_dataset("fashion", data_dir=tmp_path, n=12, seed=1)
    # The same seeded subset, before and after resizing.
    originals = torch.from_numpy(written["train-images"]).unsqueeze(1)
    positions = [next(i for i in range(20) if torch.equal(originals[i], img)) for img in subset.images]
    assert positions == sorted(positions) and len(set(positions)) == 12
    assert subset.labels.tolist() == [int(written["train-labels"][i]) for i in positions]


def test_missing_and_inconsistent_mnist_files_say_what_was_expected(tmp_path):
    with pytest.raises(ResvizError, match=r"MNIST train files not found in .*: expected "
                                          r"train-images-idx3-ubyte\[\.gz\] and "
                                          r"train-labels-idx1-ubyte\[\.gz\].*--download"):
        load_dataset("mnist", data_dir=tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((5, 28, 28), np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(4, np.uint8))
    with pytest.raises(ResvizError, match="has 5 images but .*train-labels-idx1-ubyte has 4 labels"):
        load_dataset("mnist", data_dir=tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.full(5, 12, np.uint8))
    with pytest.raises(ResvizError, match="labels outside 0..9"):
        load_dataset("mnist", data_dir=tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((5, 28, 28), np.float32))
    with pytest.raises(ResvizError, match="should hold N x H x W uint8 images"):
        load_dataset("mnist", data_dir=tmp_path)
    with pytest.raises(ResvizError, match="data folder .*elsewhere does not exist"):
        load_dataset("mnist", data_dir=tmp_path / "elsewhere")
