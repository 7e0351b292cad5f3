"""``load_dataset``: one entry point for every data set resviz trains on.

``shapes`` is generated; ``mnist``, ``fashion``, ``cifar10`` and ``cifar100`` are read from
their published files in a data folder (downloaded there only when asked); any other name
that is a folder is read as an image folder (a subfolder per class).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ResvizError, did_you_mean
from ..limits import check_seed
from .cifar import CIFAR10, CIFAR100, CifarDataset, find_cifar_source, load_cifar
from .download import fetch_resources
from .folder import load_image_folder
from .idx import FASHION_MNIST, MNIST, IdxDataset, expected_files_message, find_idx_files, load_idx_dataset
from .shapes import SHAPE_CLASSES, make_shapes
from .types import ImageData, convert_images

DATASETS = ("shapes", "mnist", "fashion", "cifar10", "cifar100")
ALIASES = {"fashion-mnist": "fashion", "fashion_mnist": "fashion", "fashionmnist": "fashion",
           "cifar-10": "cifar10", "cifar_10": "cifar10", "cifar-100": "cifar100", "cifar_100": "cifar100"}
SPLITS = {"train": "train", "test": "test", "val": "test", "valid": "test", "validation": "test"}
SHAPES_DEFAULT_SIZE = {"train": 5000, "test": 1000}
DATA_DIR_ENV = "RESVIZ_DATA_DIR"


def default_data_dir() -> Path:
    """Where data sets are looked for and downloaded to when no folder is given: $RESVIZ_DATA_DIR or ~/.cache."""
    configured = os.environ.get(DATA_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "resviz" / "data"


def resolve_dataset_name(name: str) -> str:
    """The canonical name of a built-in data set, or "folder" when ``name`` is an existing folder."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key in DATASETS:
        return key
    if Path(name).expanduser().is_dir():
        return "folder"
    if os.sep in name or "/" in name or Path(name).expanduser().exists():
        raise ResvizError(f"data set {name}: not a folder; an image folder needs a subfolder per class")
    raise ResvizError(f"unknown data set {name!r}{did_you_mean(key, DATASETS)}: choose one of "
                      f"{', '.join(DATASETS)} or give a folder of images (a subfolder per class)")


def class_count(name: str) -> int | None:
    """How many classes a built-in data set has, without reading it; None for anything else."""
    key = ALIASES.get(name.strip().lower(), name.strip().lower())
    if key == "shapes":
        return len(SHAPE_CLASSES)
    dataset = {"mnist": MNIST, "fashion": FASHION_MNIST, "cifar10": CIFAR10, "cifar100": CIFAR100}.get(key)
    if isinstance(dataset, IdxDataset):
        return len(dataset.classes)
    return dataset.num_classes if dataset is not None else None


def _split(split: str) -> str:
    try:
        return SPLITS[split.lower()]
    except KeyError:
        raise ResvizError(f"unknown split {split!r}: use train or test") from None


def _data_folder(data_dir: str | Path | None, download: bool) -> Path:
    folder = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    if folder.exists() and not folder.is_dir():
        raise ResvizError(f"data folder {folder} is not a folder")
    if not folder.exists() and data_dir is not None and not download:
        raise ResvizError(f"data folder {folder} does not exist")
    return folder


def _load_idx(dataset: IdxDataset, folder: Path, split: str, download: bool, opener: Callable | None,
              n: int | None, seed: int) -> ImageData:
    if find_idx_files(dataset, folder, split) is None:
        if not download:
            raise ResvizError(expected_files_message(dataset, folder, split) +
                              "; pass --download to fetch them or --data-dir to point at a folder that has them")
        fetch_resources(dataset.resources(), folder / dataset.folders[0], opener=opener)
    return load_idx_dataset(dataset, folder, split, n=n, seed=seed)


def _load_cifar(dataset: CifarDataset, folder: Path, split: str, download: bool,
                opener: Callable | None, n: int | None, seed: int) -> ImageData:
    source = find_cifar_source(dataset, folder)
    if source is None:
        if not download:
            raise ResvizError(f"{dataset.title} not found in {folder}: expected {dataset.expected()}; pass "
                              "--download to fetch it or --data-dir to point at a folder that has it")
        (source,) = fetch_resources([dataset.archive], folder, opener=opener)
    return load_cifar(dataset, source, split, n=n, seed=seed)


def load_dataset(name: str, *, split: str = "train", data_dir: str | Path | None = None, download: bool = False,
                 size: int | None = None, channels: int | None = None, seed: int = 0, n: int | None = None,
                 opener: Callable[..., Any] | None = None) -> ImageData:
    """A split of a data set, in memory.

    ``size`` and ``channels`` adapt images to a model's input (resize, grey<->colour); when
    None, shapes are 32x32 colour and real data sets keep their own format. ``n`` limits the
    number of samples (a seeded random subset of a real data set; the number generated for
    shapes, 5000 train / 1000 test by default). ``opener`` replaces ``urllib.request.urlopen``
    for downloads (tests, proxies).
    """
    kind = resolve_dataset_name(name)
    split = _split(split)
    if n is not None and n < 0:
        raise ResvizError(f"data set {name}: the number of samples must be positive, got {n}")
    check_seed(seed, "data seed")
    if kind == "shapes":
        count = SHAPES_DEFAULT_SIZE[split] if n is None else n
        # Train and test come from different streams of the same seed, so they never share an image.
        return make_shapes(count, size=size or 32, channels=channels or 3, seed=seed,
                           variant=0 if split == "train" else 1)
    # Each reader decodes only the seeded subset of n samples it is asked for.
    if kind == "folder":
        data = load_image_folder(Path(name).expanduser(), split=split, size=size, channels=channels, seed=seed, n=n)
    elif kind in ("cifar10", "cifar100") and data_dir is not None and Path(data_dir).expanduser().is_file():
        # --data-dir may name the downloaded archive itself.
        data = load_cifar(CIFAR10 if kind == "cifar10" else CIFAR100, Path(data_dir).expanduser(), split, n=n,
                          seed=seed)
    else:
        folder = _data_folder(data_dir, download)
        if kind == "mnist":
            data = _load_idx(MNIST, folder, split, download, opener, n, seed)
        elif kind == "fashion":
            data = _load_idx(FASHION_MNIST, folder, split, download, opener, n, seed)
        else:
            data = _load_cifar(CIFAR10 if kind == "cifar10" else CIFAR100, folder, split, download, opener, n, seed)
    if size is not None or channels is not None:
        data = ImageData(convert_images(data.images, size=size, channels=channels, name=data.name), data.labels,
                         data.classes, data.name, data.masks)
    return data
