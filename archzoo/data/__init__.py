"""archzoo.data: real image datasets that work offline, batched transforms and a resumable loader.

`load_dataset(name_or_path)` gives a `DataBundle` (both splits as uint8 tensors, class names,
train statistics); `build_transforms` and `BatchLoader` turn it into deterministic float batches.
Named datasets and how to get each one are listed in `KNOWN_DATASETS`.
"""
from ._sources import KNOWN_DATASETS
from .datasets import DataBundle, ImageDataset, load_dataset, split_train_val
from .loader import BatchLoader
from .readers import DataError, read_cifar, read_idx, read_image_folder, read_npz
from .transforms import Compose, Normalize, RandomCrop, RandomHorizontalFlip, Resize, build_transforms

__all__ = [
    "KNOWN_DATASETS", "BatchLoader", "Compose", "DataBundle", "DataError", "ImageDataset", "Normalize",
    "RandomCrop", "RandomHorizontalFlip", "Resize", "build_transforms", "load_dataset", "read_cifar",
    "read_idx", "read_image_folder", "read_npz", "split_train_val",
]
