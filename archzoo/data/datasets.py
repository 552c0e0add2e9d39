"""Image datasets as whole uint8 tensors, and `load_dataset`, the one way in.

The datasets archzoo trains on (Fashion-MNIST, digits, CIFAR, users' folders) fit in memory, so an
`ImageDataset` is just an images tensor [N, C, H, W] (uint8, a quarter of float32's memory) and a
labels tensor [N]: batches are gathered by indexing, with no per-sample Python, and the class names
travel with the data. `load_dataset` resolves a name or a path to a `DataBundle` holding both splits
and the per-channel statistics `Normalize` needs, so a trainer never re-reads the train set.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ._sources import canonical_name, load_named, load_path, unknown_name_error
from .readers import DataError, Splits

# The seed and share of the fixed train/test split for datasets that ship as one set (digits, a
# single image folder, an images/labels .npz): fixed so every run and every paper comparison sees
# the same test images.
SINGLE_SET_TEST_FRACTION = 0.2
SINGLE_SET_SEED = 0


class ImageDataset:
    """Images uint8 [N, C, H, W], labels int64 [N] and the class names the labels index."""

    def __init__(self, *, images: Tensor, labels: Tensor, classes: list[str]) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise DataError(f"expected images as a uint8 tensor [N, C, H, W], "
                            f"got {images.dtype} {list(images.shape)}")
        if labels.shape != (images.shape[0],):
            raise DataError(f"expected {images.shape[0]} labels, got shape {list(labels.shape)}")
        self.images = images
        self.labels = labels.long()
        self.classes = list(classes)

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        """One image as float [C, H, W] in [0, 1] and its label (for inspection; `BatchLoader`
        gathers whole batches instead)."""
        return self.images[index].float().div_(255), int(self.labels[index])

    def __repr__(self) -> str:
        c, h, w = self.images.shape[1:]
        return f"ImageDataset({len(self)} images {c}x{h}x{w}, {len(self.classes)} classes)"

    def subset(self, indices: Tensor | list[int] | np.ndarray) -> ImageDataset:
        """The images at `indices` (a copy; same class list)."""
        index = torch.as_tensor(indices, dtype=torch.long)
        return ImageDataset(images=self.images[index], labels=self.labels[index], classes=self.classes)


@dataclass
class DataBundle:
    """A dataset ready to train on: both splits, class names, input shape and train statistics."""

    name: str
    train: ImageDataset
    test: ImageDataset
    classes: list[str]
    in_chans: int
    image_size: tuple[int, int]  # (H, W)
    mean: tuple[float, ...]  # per channel, train images, [0, 1] scale
    std: tuple[float, ...]

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def channel_stats(images: Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Exact per-channel mean and (population) std of uint8 images in [0, 1] scale.

    A 256-bin histogram per channel gives both in float64 without a float copy of the images.
    """
    values = torch.arange(256, dtype=torch.float64) / 255
    mean, std = [], []
    for c in range(images.shape[1]):
        counts = torch.bincount(images[:, c].reshape(-1), minlength=256).double()
        m = (counts @ values) / counts.sum()
        var = (counts @ (values - m) ** 2) / counts.sum()
        mean.append(float(m))
        std.append(float(var.sqrt()))
    return tuple(mean), tuple(std)


def split_train_val(ds: ImageDataset, *, val_fraction: float, seed: int) -> tuple[ImageDataset, ImageDataset]:
    """Split off `val_fraction` of each class (rounded per class) with a seeded permutation.

    Stratified so a small validation set still sees every class in its train proportion; the same
    seed gives the same split on every machine (torch's CPU generator is platform-independent).
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"expected val_fraction in (0, 1), got {val_fraction}")
    g = torch.Generator().manual_seed(seed)
    val_parts = []
    for label in torch.unique(ds.labels):  # sorted, so the draw order is fixed
        members = torch.nonzero(ds.labels == label).flatten()
        members = members[torch.randperm(len(members), generator=g)]
        val_parts.append(members[: round(len(members) * val_fraction)])
    is_val = torch.zeros(len(ds), dtype=torch.bool)
    is_val[torch.cat(val_parts)] = True
    # Both halves keep the dataset's order; loaders shuffle.
    return ds.subset(torch.nonzero(~is_val).flatten()), ds.subset(torch.nonzero(is_val).flatten())


def load_dataset(name_or_path: str, *, data_dir: str | Path | None = None) -> DataBundle:
    """Load a named dataset (see `KNOWN_DATASETS`; names win over same-named paths) or a path: a
    directory of IDX files, CIFAR batches, an image folder, or a `.npz` file.

    Sets that ship as one (digits, a single image folder, an images/labels .npz) are split 80/20 by
    a fixed seed, stratified. Missing or malformed data raises `DataError` saying how to get it.
    """
    name = canonical_name(name_or_path)
    if name is not None:
        splits = load_named(name, Path(data_dir).expanduser() if data_dir else None)
    else:
        path = Path(name_or_path).expanduser()
        if not path.exists():
            raise unknown_name_error(name_or_path)
        splits = load_path(path)
        name = path.stem if path.is_file() else path.resolve().name
    return _bundle(name, splits)


def _bundle(name: str, splits: Splits) -> DataBundle:
    """Check the arrays agree, name the classes, split single sets and compute the statistics."""
    labels = [splits.train_labels] + ([] if splits.test_labels is None else [splits.test_labels])
    low = min((int(lab.min()) for lab in labels if lab.size), default=0)
    top = max((int(lab.max()) for lab in labels if lab.size), default=-1)
    classes = splits.classes if splits.classes is not None else [str(i) for i in range(top + 1)]
    if low < 0 or top >= len(classes):
        raise DataError(f"{name}: expected labels in 0..{len(classes) - 1} (one per class), got {low}..{top}")
    if len(splits.train_images) == 0:
        raise DataError(f"{name}: expected training images, got none")
    train = ImageDataset(images=torch.from_numpy(splits.train_images),
                         labels=torch.from_numpy(splits.train_labels), classes=classes)
    if splits.test_images is None:
        train, test = split_train_val(train, val_fraction=SINGLE_SET_TEST_FRACTION, seed=SINGLE_SET_SEED)
    else:
        test = ImageDataset(images=torch.from_numpy(splits.test_images),
                            labels=torch.from_numpy(splits.test_labels), classes=classes)
    if test.images.shape[1:] != train.images.shape[1:]:
        raise DataError(f"{name}: expected test images shaped like train {list(train.images.shape[1:])}, "
                        f"got {list(test.images.shape[1:])}")
    mean, std = channel_stats(train.images)
    c, h, w = train.images.shape[1:]
    return DataBundle(name=name, train=train, test=test, classes=classes, in_chans=c,
                      image_size=(h, w), mean=mean, std=std)
