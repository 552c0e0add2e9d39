"""Where each named dataset lives and how a path is recognised.

Nothing is downloaded: every named dataset comes from a package (Debian's Fashion-MNIST,
scikit-learn's digits) or from files the user already has, and a missing one fails with the
command or the files that provide it. A path is sniffed for IDX files, CIFAR batches, image
folders or a `.npz`, so users need not say which format they hold.
"""
from __future__ import annotations

import difflib
import re
from pathlib import Path

import numpy as np

from .readers import DataError, Splits, read_cifar, read_idx, read_image_folder, read_npz, to_nchw_uint8

DEFAULT_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
# Kuzushiji-MNIST's ten hiragana (お き す つ な は ま や れ を), romanised for any terminal.
KMNIST_CLASSES = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]
DIGIT_CLASSES = [str(d) for d in range(10)]
EMNIST_SPLITS = ("balanced", "byclass", "bymerge", "digits", "letters", "mnist")

_IDX_FILES = ("train-images-idx3-ubyte, train-labels-idx1-ubyte, "
              "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte")

KNOWN_DATASETS: dict[str, str] = {
    "fashion-mnist": "Fashion-MNIST, 70k 28x28 grayscale clothes, 10 classes: "
                     "apt-get install dataset-fashion-mnist, or --data-dir DIR with the four IDX files",
    "fashion-mnist-rows": "Fashion-MNIST for sequence classifiers (rnn_classifier*): each image read as 28 "
                          "steps of 28 pixels, top row first; the same files as fashion-mnist",
    "mnist": "MNIST, 70k 28x28 grayscale digits, 10 classes: --data-dir DIR with the four IDX files",
    "kmnist": "Kuzushiji-MNIST, 70k 28x28 grayscale hiragana, 10 classes: "
              "--data-dir DIR with the four IDX files",
    "emnist": "EMNIST (emnist-<split>, split one of " + ", ".join(EMNIST_SPLITS) + "; default balanced), "
              "28x28 handwritten characters: --data-dir DIR with the emnist-<split>-* IDX files",
    "digits": "scikit-learn's bundled 8x8 digits, 1,797 images, 10 classes, seeded 80/20 split: no download",
    "cifar10": "CIFAR-10, 60k 32x32 colour images, 10 classes: --data-dir DIR with the extracted "
               "cifar-10-batches-py (data_batch_1..5, test_batch, batches.meta)",
    "cifar100": "CIFAR-100, 60k 32x32 colour images, 100 fine classes: --data-dir DIR with the extracted "
                "cifar-100-python (train, test, meta)",
}

_IDX_PATTERN = re.compile(r"^(?P<prefix>.*?)(?P<split>train|t10k|test)[-.](?P<kind>images|labels)[-.]"
                          r"idx\d-ubyte(?:\.gz)?$")


def canonical_name(name: str) -> str | None:
    """The registered spelling of a dataset name ("Fashion_MNIST" -> "fashion-mnist"), or None."""
    key = re.sub(r"[\s_-]", "", name.lower())
    for known in KNOWN_DATASETS:
        if key == known.replace("-", ""):
            return known
    for split in EMNIST_SPLITS:
        if key == f"emnist{split}":
            return f"emnist-{split}"
    return None


def unknown_name_error(name: str) -> DataError:
    close = difflib.get_close_matches(name.lower(), list(KNOWN_DATASETS), n=1, cutoff=0.3)
    hint = f" (closest: {close[0]})" if close else ""
    return DataError(f"unknown dataset '{name}': expected one of {', '.join(KNOWN_DATASETS)}{hint}, "
                     f"or an existing .npz file or data directory")


def _idx_sets(directory: Path) -> dict[str, dict[str, Path]]:
    """IDX files in `directory` grouped by file-name prefix ("" for MNIST, "emnist-letters-", ...)."""
    sets: dict[str, dict[str, Path]] = {}
    for f in sorted(directory.iterdir()) if directory.is_dir() else []:
        m = _IDX_PATTERN.match(f.name)
        if m and f.is_file():
            split = "train" if m["split"] == "train" else "test"
            # sorted() puts a raw file before its .gz twin, and the raw one skips decompression
            sets.setdefault(m["prefix"], {}).setdefault(f"{split}-{m['kind']}", f)
    return sets


def _read_idx_set(files: dict[str, Path], *, transpose: bool) -> Splits:
    arrays = {}
    for split in ("train", "test"):
        images, labels = read_idx(files[f"{split}-images"]), read_idx(files[f"{split}-labels"])
        if labels.ndim != 1 or len(labels) != len(images):
            raise DataError(f"{files[f'{split}-labels']}: expected {len(images)} labels to match "
                            f"{files[f'{split}-images'].name}, got shape {list(labels.shape)}")
        if transpose:  # EMNIST stores each image column-major
            images = images.swapaxes(1, 2)
        arrays[split] = (to_nchw_uint8(images, source=str(files[f"{split}-images"])), labels.astype(np.int64))
    return Splits(*arrays["train"], *arrays["test"])


def _idx_dir(name: str, dirs: list[Path], *, prefix: str = "", transpose: bool = False,
             advice: str) -> Splits:
    for d in dirs:
        files = _idx_sets(d).get(prefix, {})
        if len(files) == 4:
            return _read_idx_set(files, transpose=transpose)
    wanted = _IDX_FILES.replace("t10k", "test") if prefix else _IDX_FILES
    wanted = ", ".join(prefix + w for w in wanted.split(", "))
    found = max((len(_idx_sets(d).get(prefix, {})) for d in dirs), default=0)
    raise DataError(f"{name}: expected the IDX files {wanted} (raw or .gz) {_where(dirs)}, "
                    f"found {found} of 4: {advice}")


def _where(dirs: list[Path]) -> str:
    return "in " + " or ".join(map(str, dirs)) if dirs else "(no --data-dir given)"


def _emnist(split: str, data_dir: Path | None) -> Splits:
    advice = (f"download the EMNIST gzip archive (nist.gov/itl/products-and-services/emnist-dataset), "
              f"put the emnist-{split}-* files in DIR and pass --data-dir DIR")
    dirs = [data_dir, data_dir / "emnist", data_dir / "gzip"] if data_dir else []
    splits = _idx_dir(f"emnist-{split}", dirs, prefix=f"emnist-{split}-", transpose=True, advice=advice)
    mapping = next((d / f"emnist-{split}-mapping.txt" for d in dirs
                    if (d / f"emnist-{split}-mapping.txt").is_file()), None)
    if mapping is None:  # name the classes by their label numbers
        codes = {int(k): [] for k in np.unique(splits.train_labels)}
    else:  # lines "label ascii [ascii ...]"; letters give upper and lower case
        codes = {int(row[0]): [int(c) for c in row[1:]] for row in
                 (line.split() for line in mapping.read_text().splitlines() if line.strip())}
    keys = np.array(sorted(codes))
    splits.classes = ["".join(map(chr, codes[k])) or str(k) for k in keys]
    # Labels can start at 1 (letters); remap them onto 0..K-1 so they index a K-way head.
    for attr in ("train_labels", "test_labels"):
        labels = getattr(splits, attr)
        pos = np.searchsorted(keys, labels).clip(0, len(keys) - 1)
        if not np.array_equal(keys[pos], labels):
            raise DataError(f"emnist-{split}: expected labels among {keys.min()}..{keys.max()}, "
                            f"got {sorted(set(labels.tolist()) - set(keys.tolist()))[:5]}")
        setattr(splits, attr, pos.astype(np.int64))
    return splits


def _digits() -> Splits:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DataError("digits: expected scikit-learn for its bundled digits, got none: "
                        "pip install scikit-learn") from None
    bunch = load_digits()
    images = np.rint(bunch.images * (255 / 16)).astype(np.uint8)  # stored as 0..16 intensities
    return Splits(images[:, None], bunch.target.astype(np.int64), classes=DIGIT_CLASSES)


def _cifar(name: str, data_dir: Path | None) -> Splits:
    folder, marker = {"cifar10": ("cifar-10-batches-py", "batches.meta"),
                      "cifar100": ("cifar-100-python", "meta")}[name]
    dirs = [data_dir, data_dir / folder, data_dir / name] if data_dir else []
    for d in dirs:
        if (d / marker).is_file():
            return read_cifar(d)
    raise DataError(f"{name}: expected the extracted {folder} batches ({marker} and the data files) "
                    f"{_where(dirs)}, found none: get {folder.replace('-batches-py', '-python')}.tar.gz from "
                    f"cs.toronto.edu/~kriz/cifar.html, extract it into DIR and pass --data-dir DIR")


def load_named(name: str, data_dir: Path | None) -> Splits:
    """Read the named dataset (a `canonical_name`) from `data_dir` or its packaged home."""
    if name == "digits":
        return _digits()
    if name in ("cifar10", "cifar100"):
        return _cifar(name, data_dir)
    if name.startswith("emnist"):
        return _emnist(name.partition("-")[2] or "balanced", data_dir)
    dirs = [data_dir, data_dir / name] if data_dir else []
    if name in ("fashion-mnist", "fashion-mnist-rows"):  # rows: the same images, read by rows
        advice = ("install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist) "
                  "or pass --data-dir DIR holding the four IDX files")
        dirs = [data_dir, data_dir / "fashion-mnist"] if data_dir else [DEFAULT_FASHION_DIR]
        splits = _idx_dir("fashion-mnist", dirs, advice=advice)
        splits.classes = FASHION_CLASSES
        return splits
    advice = "put them in DIR and pass --data-dir DIR"
    splits = _idx_dir(name, dirs, advice=advice)
    splits.classes = KMNIST_CLASSES if name == "kmnist" else DIGIT_CLASSES
    return splits


def load_path(path: Path) -> Splits:
    """Read a `.npz` file or sniff a directory: IDX files, CIFAR batches, train/ + test/ image
    folders, or one image folder (its split is left to the caller)."""
    if path.is_file():
        if path.suffix.lower() != ".npz":
            kind = f"a {path.suffix} file" if path.suffix else "a file without suffix"
            raise DataError(f"{path}: expected a .npz file or a data directory, got {kind}")
        return read_npz(path)
    sets = {p: f for p, f in _idx_sets(path).items() if len(f) == 4}
    if len(sets) > 1:
        raise DataError(f"{path}: expected one set of IDX files, got {len(sets)} (prefixes "
                        f"{', '.join(repr(p) for p in sets)}): point at a folder holding one set")
    if sets:
        return _read_idx_set(next(iter(sets.values())), transpose=False)
    if (path / "batches.meta").is_file() or (path / "meta").is_file():
        return read_cifar(path)
    if (path / "train").is_dir() and (path / "test").is_dir():
        images, labels, classes = read_image_folder(path / "train")
        test_images, test_labels, _ = read_image_folder(
            path / "test", classes=classes, channels=images.shape[1], image_size=images.shape[2:])
        return Splits(images, labels, test_images, test_labels, classes)
    if not any(p.is_dir() for p in path.iterdir()):
        raise DataError(f"{path}: expected IDX files, CIFAR batches, train/ and test/ image folders "
                        f"or one subfolder per class, got none of these")
    images, labels, classes = read_image_folder(path)
    return Splits(images, labels, classes=classes)
