"""Readers for the image-dataset file formats archzoo trains on offline.

Each reader turns one on-disk format into numpy arrays: IDX files (MNIST, Fashion-MNIST, KMNIST,
EMNIST; LeCun et al., "Gradient-based learning applied to document recognition", 1998, and
http://yann.lecun.com/exdb/mnist/ for the format), CIFAR-10/100 python batches (Krizhevsky,
"Learning Multiple Layers of Features from Tiny Images", 2009), image folders (one subfolder per
class) and `.npz` archives. Readers know formats, not datasets: naming, class lists and splitting
live in `datasets.py`.

Files come from users and packages we do not control, so every reader checks what it reads and
fails with a one-line `DataError` naming the file, what was expected and what came. CIFAR batches
are pickles by format; they are loaded with an unpickler that only builds plain containers, bytes
and numpy arrays, so a tampered batch cannot run code.
"""
from __future__ import annotations

import gzip
import pickle
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image  # pillow ships with matplotlib, a dependency

from ._safe_pickle import load_restricted


class DataError(ValueError):
    """A dataset is missing, unknown, truncated or malformed; the message is one line."""


@dataclass
class Splits:
    """What a container format holds: uint8 images [N, C, H, W], int64 labels [N], class names."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray | None = None  # None when the file holds a single set
    test_labels: np.ndarray | None = None
    classes: list[str] | None = None  # None when the format does not name its classes


# ---- IDX -------------------------------------------------------------------------------------

# The third magic byte of an IDX file; all multi-byte values are big-endian.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    """Return the file's bytes, gunzipped when it is gzip (by magic number, not by extension)."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: expected a readable file, got {e.strerror or e}") from None
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError:
        raise DataError(f"{path}: expected a complete gzip stream, got a truncated one") from None
    except (OSError, zlib.error) as e:
        raise DataError(f"{path}: expected valid gzip data, got a corrupt stream ({e})") from None


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (raw or gzipped) into a native-endian array of its stored dtype and dims."""
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise DataError(f"{path}: expected a 4-byte IDX header, got {len(data)} bytes")
    if data[0] != 0 or data[1] != 0:
        raise DataError(f"{path}: expected IDX magic bytes 00 00, got {data[:2].hex(' ')}")
    code, ndim = data[2], data[3]
    if code not in _IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise DataError(f"{path}: expected an IDX dtype code in {known}, got 0x{code:02X}")
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise DataError(f"{path}: expected {header} header bytes for {ndim} dims, got {len(data)}")
    dims = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[code])
    want = int(np.prod(dims)) * dtype.itemsize
    got = len(data) - header
    if got != want:
        kind = "image data" if ndim >= 3 else "label data" if ndim == 1 else "data"
        shape = "x".join(map(str, dims))
        raise DataError(f"{path}: expected {want} bytes of {kind} for {shape}, got {got}")
    array = np.frombuffer(data, dtype, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="))  # a writable, native-endian copy


# ---- CIFAR python batches --------------------------------------------------------------------

def _load_batch(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as f:
            obj = load_restricted(f)
    except OSError as e:
        raise DataError(f"{path}: expected a readable CIFAR batch, got {e.strerror or e}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
        raise DataError(f"{path}: expected a CIFAR python batch, got an unreadable pickle ({e})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a dict in the CIFAR batch, got {type(obj).__name__}")
    return {k.decode() if isinstance(k, bytes) else str(k): v for k, v in obj.items()}


def _field(batch: dict[str, object], key: str, path: Path) -> object:
    if key not in batch:
        raise DataError(f"{path}: expected key '{key}' in the CIFAR batch, got {sorted(batch)}")
    return batch[key]


def _batch_arrays(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    batch = _load_batch(path)
    data = np.asarray(_field(batch, "data", path))
    labels = np.asarray(_field(batch, label_key, path))
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(f"{path}: expected uint8 data of shape [N, 3072], "
                        f"got {data.dtype} {list(data.shape)}")
    if labels.shape != (data.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{path}: expected {data.shape[0]} integer labels, "
                        f"got {labels.dtype} {list(labels.shape)}")
    # Rows are stored channel-planar (1024 red, 1024 green, 1024 blue values), row-major.
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def _label_names(path: Path, key: str) -> list[str]:
    names = _field(_load_batch(path), key, path)
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]  # type: ignore[union-attr]


def read_cifar(directory: str | Path) -> Splits:
    """Read an extracted CIFAR-10 (`data_batch_1..5`, `test_batch`, `batches.meta`) or CIFAR-100
    (`train`, `test`, `meta`; fine labels) python-batch directory."""
    directory = Path(directory)
    if (directory / "batches.meta").is_file():
        files = [directory / f"data_batch_{i}" for i in range(1, 6)] + [directory / "test_batch"]
        meta, label_key, names_key = directory / "batches.meta", "labels", "label_names"
    elif (directory / "meta").is_file():
        files = [directory / "train", directory / "test"]
        meta, label_key, names_key = directory / "meta", "fine_labels", "fine_label_names"
    else:
        raise DataError(f"{directory}: expected a CIFAR batch directory with batches.meta (CIFAR-10) "
                        f"or meta (CIFAR-100), got neither")
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise DataError(f"{directory}: expected CIFAR files {', '.join(f.name for f in files)}, "
                        f"missing {', '.join(missing)}")
    *train_files, test_file = files
    parts = [_batch_arrays(f, label_key) for f in train_files]
    test_images, test_labels = _batch_arrays(test_file, label_key)
    return Splits(train_images=np.concatenate([p[0] for p in parts]),
                  train_labels=np.concatenate([p[1] for p in parts]),
                  test_images=test_images, test_labels=test_labels,
                  classes=_label_names(meta, names_key))


# ---- image folders ---------------------------------------------------------------------------

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".tif", ".tiff", ".webp")


def _class_dirs(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise DataError(f"{directory}: expected an image folder (one subfolder per class), "
                        f"got no such directory")
    dirs = sorted(p for p in directory.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not dirs:
        raise DataError(f"{directory}: expected one subfolder per class, got none")
    return dirs


def _mode(path: Path) -> str:
    try:
        with Image.open(path) as im:
            return im.mode
    except OSError as e:
        raise DataError(f"{path}: expected a readable image, got {e}") from None


def _open(path: Path) -> Image.Image:
    try:
        with Image.open(path) as im:
            im.load()
            return im.copy()
    except (OSError, SyntaxError) as e:  # PIL raises SyntaxError on some broken PNG chunks
        raise DataError(f"{path}: expected a readable image, got {e}") from None


def read_image_folder(directory: str | Path, *, classes: list[str] | None = None,
                      channels: int | None = None,
                      image_size: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read `directory/<class>/<image>` into uint8 images [N, C, H, W], int64 labels and class names.

    Classes are the sorted subfolder names unless `classes` fixes them (so a test folder labels
    like its train folder). Channels are 1 when every image is grayscale, else 3, unless
    `channels` fixes them. Images must share one size unless `image_size` (H, W) resizes them.
    """
    directory = Path(directory)
    dirs = _class_dirs(directory)
    names = list(classes) if classes is not None else [d.name for d in dirs]
    unknown = [d.name for d in dirs if d.name not in names]
    if unknown:
        raise DataError(f"{directory}: expected class folders among {names}, got {unknown}")
    files = [(f, names.index(d.name)) for d in dirs for f in sorted(d.iterdir())
             if f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith(".")]
    if not files:
        raise DataError(f"{directory}: expected images ({', '.join(IMAGE_SUFFIXES)}) "
                        f"in the class folders, got none")
    if channels is None:  # PIL reads only the header here, so this pass is cheap
        channels = 1 if all(_mode(f) in ("1", "L", "I", "I;16", "F") for f, _ in files) else 3
    mode = {1: "L", 3: "RGB"}[channels]
    size = None if image_size is None else (image_size[1], image_size[0])  # PIL sizes are (W, H)
    arrays = []
    for f, _ in files:
        im = _open(f).convert(mode)
        if size is None:
            size = im.size
        if im.size != size:
            if image_size is None:
                raise DataError(f"{f}: expected {size[1]}x{size[0]} like {files[0][0].name}, "
                                f"got {im.size[1]}x{im.size[0]}")
            im = im.resize(size, Image.Resampling.BILINEAR)
        arrays.append(np.asarray(im, dtype=np.uint8).reshape(size[1], size[0], channels))
    stacked = np.stack(arrays).transpose(0, 3, 1, 2)  # B H W C -> B C H W
    labels = np.array([label for _, label in files], dtype=np.int64)
    return np.ascontiguousarray(stacked), labels, names


# ---- npz -------------------------------------------------------------------------------------


def to_nchw_uint8(array: np.ndarray, *, source: str) -> np.ndarray:
    """Bring images stored [N, H, W], [N, H, W, C] or [N, C, H, W] (uint8, or float in [0, 1])
    to uint8 [N, C, H, W]; channels-last wins only when the last axis alone looks like channels."""
    a = np.asarray(array)
    if a.ndim == 3:
        a = a[:, None]
    elif a.ndim == 4 and a.shape[-1] in (1, 3) and a.shape[1] not in (1, 3):
        a = a.transpose(0, 3, 1, 2)
    elif a.ndim != 4 or a.shape[1] not in (1, 3):
        raise DataError(f"{source}: expected images [N, H, W], [N, H, W, C] or [N, C, H, W] "
                        f"with C in 1 or 3, got shape {list(array.shape)}")
    if np.issubdtype(a.dtype, np.floating):
        if a.size and (a.min() < 0 or a.max() > 1):
            raise DataError(f"{source}: expected float images in [0, 1], got [{a.min():g}, {a.max():g}]")
        a = np.rint(a * 255)
    elif not np.issubdtype(a.dtype, np.integer) or (a.size and (a.min() < 0 or a.max() > 255)):
        raise DataError(f"{source}: expected uint8-range images, got {a.dtype}")
    return np.ascontiguousarray(a, dtype=np.uint8)


def _labels(array: np.ndarray, n: int, source: str) -> np.ndarray:
    a = np.asarray(array)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.shape != (n,) or not np.issubdtype(a.dtype, np.integer) or (n and a.min() < 0):
        raise DataError(f"{source}: expected {n} non-negative integer labels, got {a.dtype} {list(a.shape)}")
    return a.astype(np.int64)


def read_npz(path: str | Path) -> Splits:
    """Read a `.npz` with x_train/y_train/x_test/y_test, or images/labels (one set), and an
    optional `classes` string array. Loaded without pickle, so object arrays are refused."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zlib.error, EOFError) as e:
        raise DataError(f"{path}: expected a readable .npz archive, got {e}") from None
    if {"x_train", "y_train", "x_test", "y_test"} <= arrays.keys():
        groups = [("x_train", "y_train"), ("x_test", "y_test")]
    elif {"images", "labels"} <= arrays.keys():
        groups = [("images", "labels")]
    else:
        raise DataError(f"{path}: expected keys x_train/y_train/x_test/y_test or images/labels, "
                        f"got {sorted(arrays)}")
    out: list[np.ndarray] = []
    for xk, yk in groups:
        images = to_nchw_uint8(arrays[xk], source=f"{path}[{xk}]")
        out += [images, _labels(arrays[yk], len(images), f"{path}[{yk}]")]
    classes = [str(c) for c in arrays["classes"]] if "classes" in arrays else None
    return Splits(*out, classes=classes)
