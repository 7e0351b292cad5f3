"""Image folders: a subfolder per class, PNG/JPEG through PIL, split folders, and clear layout errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from resviz.data import load_dataset
from resviz.data.folder import holdout_split
from resviz.errors import ResvizError


def save(path, array, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format=fmt)
    return array


def make_folder(root, classes=("cat", "dog", "emu"), per_class=5, size=12, mode="RGB", seed=0):
    rng = np.random.default_rng(seed)
    written = {}
    for name in classes:
        for i in range(per_class):
            shape = (size, size, 3) if mode == "RGB" else (size, size)
            written[(name, i)] = save(root / name / f"{i:03d}.png", rng.integers(0, 256, shape, dtype=np.uint8))
    return written


def test_a_class_per_subfolder_with_a_seeded_holdout(tmp_path):
    written = make_folder(tmp_path / "pets", per_class=5)
    (tmp_path / "pets" / ".hidden").mkdir()
    (tmp_path / "pets" / "cat" / "notes.txt").write_text("not an image")
    train = load_dataset(str(tmp_path / "pets"), split="train")
    test = load_dataset(str(tmp_path / "pets"), split="test")
    assert train.classes == ["cat", "dog", "emu"] and train.name == "pets"
    assert train.images.shape == (12, 3, 12, 12) and test.images.shape == (3, 3, 12, 12)
    assert train.class_counts() == [4, 4, 4] and test.class_counts() == [1, 1, 1]
    # Pixels survive exactly (PNG is lossless) and each image keeps its class.
    originals = {name: [torch.from_numpy(a).permute(2, 0, 1) for (n, _), a in written.items() if n == name]
                 for name in train.classes}
    for data in (train, test):
        for image, label in zip(data.images, data.labels):
            assert any(torch.equal(image, original) for original in originals[data.classes[label]])
    again = load_dataset(str(tmp_path / "pets"), split="test")
    assert torch.equal(again.images, test.images)


def test_train_and_test_folders_jpeg_grey_and_resizing(tmp_path):
    root = tmp_path / "digits"
    rng = np.random.default_rng(1)
    for split, count in (("train", 3), ("val", 2)):
        for name in ("one", "two"):
            for i in range(count):
                save(root / split / name / f"{i}.jpg", rng.integers(0, 256, (20, 20), dtype=np.uint8), "JPEG")
    train = load_dataset(str(root), split="train")
    assert train.images.shape == (6, 1, 20, 20) and train.classes == ["one", "two"]  # grey stays one channel
    test = load_dataset(str(root), split="test", size=8, channels=3)
    assert test.images.shape == (4, 3, 8, 8) and test.labels.tolist() == [0, 0, 1, 1]


def test_mixed_sizes_need_a_size(tmp_path):
    root = tmp_path / "mixed"
    save(root / "a" / "x.png", np.zeros((10, 10, 3), np.uint8))
    save(root / "a" / "y.png", np.zeros((10, 10, 3), np.uint8))
    save(root / "b" / "z.png", np.zeros((14, 10, 3), np.uint8))
    save(root / "b" / "w.png", np.zeros((14, 10, 3), np.uint8))
    with pytest.raises(ResvizError, match="are not all the same square size .*give a size"):
        load_dataset(str(root))
    assert load_dataset(str(root), size=6).images.shape[1:] == (3, 6, 6)


def test_wrong_layouts_say_what_was_expected(tmp_path):
    flat = tmp_path / "flat"
    save(flat / "a.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(ResvizError, match=r"image folder .*flat has no class subfolders \(found 1 images directly in "
                                          r"it.*expected a subfolder per class holding its images \(FOLDER/<class>/"):
        load_dataset(str(flat))

    empty_classes = tmp_path / "empty"
    (empty_classes / "a").mkdir(parents=True)
    (empty_classes / "b").mkdir()
    with pytest.raises(ResvizError, match=r"has subfolders \(a, b\) but no images in them: expected a subfolder"):
        load_dataset(str(empty_classes))

    one_empty = tmp_path / "one-empty"
    make_folder(one_empty, classes=("a", "b"), per_class=2)
    (one_empty / "c").mkdir()
    with pytest.raises(ResvizError, match="class folder\\(s\\) c hold no images"):
        load_dataset(str(one_empty))

    single = tmp_path / "single"
    make_folder(single, classes=("only",), per_class=3)
    with pytest.raises(ResvizError, match="has only one class \\(only\\)"):
        load_dataset(str(single))

    broken = tmp_path / "broken"
    make_folder(broken, classes=("a", "b"), per_class=2)
    (broken / "b" / "bad.png").write_bytes(b"not a png")
    with pytest.raises(ResvizError, match=r"image .*broken/b/bad.png cannot be read"):
        load_dataset(str(broken))

    with pytest.raises(ResvizError, match="not a folder; an image folder needs a subfolder per class"):
        load_dataset(str(tmp_path / "missing" / "folder"))
    with pytest.raises(ResvizError, match="unknown data set 'cifar' .*choose one of shapes, mnist"):
        load_dataset("cifar")


def test_holdout_split_is_stratified_and_deterministic():
    labels = [0] * 10 + [1] * 5 + [2]
    train, test = holdout_split(labels, seed=3)
    assert sorted(train + test) == list(range(16)) and not set(train) & set(test)
    assert [labels[i] for i in test].count(0) == 2 and [labels[i] for i in test].count(1) == 1
    assert 15 in train  # a class with one image keeps it for training
    assert holdout_split(labels, seed=3) == (train, test) and holdout_split(labels, seed=4) != (train, test)
