"""Data sets held in memory as uint8 tensors: synthetic shapes, MNIST, Fashion-MNIST, CIFAR-10/100, image folders.

Qt-free. ``load_dataset(name, split=...)`` gives an ``ImageData``; ``BatchLoader`` serves it
in normalised (optionally augmented) batches on the training device.
"""

from __future__ import annotations

from .datasets import DATASETS, class_count, default_data_dir, load_dataset, resolve_dataset_name
from .download import ProgressBar, Resource, download_file, fetch_resource
from .loader import BatchLoader, augment_batch, draw_augmentation
from .shapes import SHAPE_CLASSES, make_shapes
from .types import ImageData, convert_images, dataset_stats

__all__ = [
    "DATASETS", "SHAPE_CLASSES", "BatchLoader", "ImageData", "ProgressBar", "Resource", "augment_batch",
    "class_count", "convert_images", "dataset_stats", "default_data_dir", "download_file", "draw_augmentation", "fetch_resource",
    "load_dataset", "make_shapes", "resolve_dataset_name",
]
