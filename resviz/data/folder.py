"""Image folders: one subfolder per class (``root/<class>/<image>.png``), optionally split in ``train/`` and ``test/``.

Images are decoded with PIL, converted to grey or RGB, resized to a square, and held in
memory as uint8. A folder without a held-out split is divided deterministically (20% of
each class held out, chosen from the seed).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from ..errors import ResvizError
from .images import open_image
from .types import ImageData, check_memory, sample_indices

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
TRAIN_FOLDERS = ("train", "training")
TEST_FOLDERS = ("test", "val", "valid", "validation")
HOLDOUT_FRACTION = 0.2
# The most the decoded images of one split (at the size they are resized to) may take in memory.
FOLDER_MAX_BYTES = 4_000_000_000
_GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}

LAYOUT = "a subfolder per class holding its images (FOLDER/<class>/<image>.png|.jpg|...), " \
         "optionally inside FOLDER/train/ and FOLDER/test/"


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def _class_folders(root: Path) -> list[Path]:
    return sorted((p for p in root.iterdir() if p.is_dir() and _visible(p)), key=lambda p: p.name)


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and _visible(p) and p.suffix.lower() in IMAGE_SUFFIXES)


def _find_split_folder(root: Path, names: tuple[str, ...]) -> Path | None:
    return next((root / name for name in names if (root / name).is_dir()), None)


def scan_image_folder(root: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    """(class names, [(image path, class index)]) of a per-class folder, or a ResvizError saying what was expected."""
    if not root.exists():
        raise ResvizError(f"image folder {root} does not exist")
    if not root.is_dir():
        raise ResvizError(f"{root} is not a folder: expected {LAYOUT}")
    folders = _class_folders(root)
    if not folders:
        loose = [p.name for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
        hint = f" (found {len(loose)} images directly in it: move them into one folder per class)" if loose else ""
        raise ResvizError(f"image folder {root} has no class subfolders{hint}: expected {LAYOUT}")
    classes = [folder.name for folder in folders]
    samples = []
    empty = []
    for index, folder in enumerate(folders):
        images = _images_in(folder)
        if not images:
            empty.append(folder.name)
        samples.extend((path, index) for path in images)
    if not samples:
        raise ResvizError(f"image folder {root} has subfolders ({', '.join(classes[:5])}"
                          f"{', ...' if len(classes) > 5 else ''}) but no images in them: expected {LAYOUT}")
    if empty:
        raise ResvizError(f"image folder {root}: class folder(s) {', '.join(empty)} hold no images "
                          f"({', '.join(IMAGE_SUFFIXES)}); expected {LAYOUT}")
    if len(classes) < 2:
        raise ResvizError(f"image folder {root} has only one class ({classes[0]}): expected {LAYOUT}, "
                          "with at least two classes")
    return classes, samples


def _decode(path: Path, channels: int | None, size: int | None) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with open_image(path) as image:
            image.load()
            if channels is None:
                channels = 1 if image.mode in _GREY_MODES else 3
            image = image.convert("L" if channels == 1 else "RGB")
            if size is not None and image.size != (size, size):
                image = image.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
            array = np.asarray(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ResvizError(f"image {path} cannot be read: {exc}") from None
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def _image_modes_and_sizes(paths: list[Path]) -> tuple[bool, Counter]:
    from PIL import UnidentifiedImageError

    any_colour = False
    sizes: Counter = Counter()
    for path in paths:
        try:
            with open_image(path) as image:  # reads the header only
                any_colour |= image.mode not in _GREY_MODES
                sizes[image.size] += 1
        except (UnidentifiedImageError, OSError) as exc:
            raise ResvizError(f"image {path} cannot be read: {exc}") from None
    return any_colour, sizes


def decide_format(paths: list[Path], *, size: int | None, channels: int | None, root: Path) -> tuple[int, int]:
    """(size, channels) for a set of images: grey only when every image is grey; a size given or shared by all."""
    any_colour, sizes = _image_modes_and_sizes(paths)
    if channels is None:
        channels = 3 if any_colour else 1
    if size is None:
        (width, height), _ = sizes.most_common(1)[0]
        if len(sizes) > 1 or width != height:
            shown = ", ".join(f"{w}x{h}" for (w, h), _ in sizes.most_common(3))
            raise ResvizError(f"images in {root} are not all the same square size ({shown}): give a size to "
                              "resize them to (e.g. --image-size 32)")
        size = width
    return size, channels


def read_images(name: str, classes: list[str], samples: list[tuple[Path, int]], *, size: int,
                channels: int) -> ImageData:
    check_memory(f"image folder {name}", f"{len(samples)} images of {channels}x{size}x{size}",
                 len(samples) * channels * size * size, FOLDER_MAX_BYTES,
                 "use fewer samples (--samples N) or a smaller image size")
    images = np.zeros((len(samples), channels, size, size), np.uint8)
    for index, (path, _) in enumerate(samples):
        images[index] = _decode(path, channels, size)
    labels = np.asarray([label for _, label in samples], dtype=np.int64)
    return ImageData(images=torch.from_numpy(images), labels=torch.from_numpy(labels), classes=classes, name=name)


def holdout_split(labels: list[int], seed: int, fraction: float = HOLDOUT_FRACTION) -> tuple[list[int], list[int]]:
    """(train indices, test indices): ``fraction`` of each class held out, chosen deterministically from ``seed``."""
    rng = np.random.default_rng([seed, 0x4F4C44])
    by_class: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        by_class.setdefault(label, []).append(index)
    train, test = [], []
    for label in sorted(by_class):
        members = np.asarray(by_class[label])
        members = members[rng.permutation(len(members))]
        held = int(round(len(members) * fraction)) if len(members) > 1 else 0
        held = min(max(held, 1 if len(members) > 1 else 0), len(members) - 1)
        test.extend(members[:held].tolist())
        train.extend(members[held:].tolist())
    return sorted(train), sorted(test)


def _chosen(samples: list[tuple[Path, int]], n: int | None, seed: int) -> list[tuple[Path, int]]:
    rows = sample_indices(len(samples), n, seed)
    return samples if rows is None else [samples[i] for i in rows.tolist()]


def load_image_folder(root: str | os.PathLike, *, split: str = "train", size: int | None = None,
                      channels: int | None = None, seed: int = 0, n: int | None = None) -> ImageData:
    """A split of an image folder (``split`` is "train" or "test"); with ``n``, only a seeded random subset
    of ``n`` images is decoded."""
    root = Path(root)
    name = root.resolve().name or str(root)
    train_dir = _find_split_folder(root, TRAIN_FOLDERS) if root.is_dir() else None
    test_dir = _find_split_folder(root, TEST_FOLDERS) if root.is_dir() else None
    if train_dir is not None and test_dir is not None:
        classes, train_samples = scan_image_folder(train_dir)
        test_classes, test_samples = scan_image_folder(test_dir)
        unknown = sorted(set(test_classes) - set(classes))
        if unknown:
            raise ResvizError(f"{test_dir} has classes that {train_dir} lacks: {', '.join(unknown[:5])}")
        # A class missing from the test folder keeps the training folder's numbering.
        test_samples = [(path, classes.index(test_classes[label])) for path, label in test_samples]
        size, channels = decide_format([p for p, _ in train_samples + test_samples], size=size, channels=channels,
                                       root=root)
        chosen = _chosen(train_samples if split == "train" else test_samples, n, seed)
        return read_images(name, classes, chosen, size=size, channels=channels)
    classes, samples = scan_image_folder(root)
    size, channels = decide_format([p for p, _ in samples], size=size, channels=channels, root=root)
    train, test = holdout_split([label for _, label in samples], seed)
    chosen = _chosen([samples[i] for i in (train if split == "train" else test)], n, seed)
    return read_images(name, classes, chosen, size=size, channels=channels)
