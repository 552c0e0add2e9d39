"""Tests for archzoo.data: every reader on small files written here, the named datasets, splits,
the loader's determinism and exact resume, DDP sharding and the transforms on known tensors."""
from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from archzoo.data import (KNOWN_DATASETS, BatchLoader, Compose, DataError, Normalize, RandomCrop,
                          RandomHorizontalFlip, Resize, build_transforms, load_dataset, read_cifar, read_idx,
                          read_image_folder, read_npz, split_train_val)
from archzoo.data._sources import DEFAULT_FASHION_DIR, canonical_name
from archzoo.data.datasets import ImageDataset

IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int16): 0x0B, np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D}


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write `array` as IDX (gzipped when the name ends in .gz): magic, dims, big-endian data."""
    header = bytes([0, 0, IDX_CODES[array.dtype], array.ndim]) + np.array(array.shape, ">u4").tobytes()
    data = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def write_idx_set(directory: Path, *, n_train: int = 20, n_test: int = 10, prefix: str = "",
                  test_word: str = "t10k", labels_from: int = 0, num_classes: int = 10) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, word, n in (("train", "train", n_train), ("test", test_word, n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % num_classes + labels_from).astype(np.uint8)
        write_idx(directory / f"{prefix}{word}-images-idx3-ubyte.gz", images)
        write_idx(directory / f"{prefix}{word}-labels-idx1-ubyte.gz", labels)
        arrays[split] = images
    return arrays


# ---- readers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.float32])
def test_idx_round_trip(tmp_path, suffix, dtype):
    array = (np.arange(2 * 3 * 4) - 5).astype(dtype).reshape(2, 3, 4) if dtype != np.uint8 else \
        np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    out = read_idx(write_idx(tmp_path / f"a-idx3-ubyte{suffix}", array))
    assert out.dtype == dtype and out.dtype.isnative and out.flags.writeable
    np.testing.assert_array_equal(out, array)


def test_truncated_idx_names_file_expected_and_got(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    header = bytes([0, 0, 0x08, 3]) + np.array([60000, 28, 28], ">u4").tobytes()
    path.write_bytes(gzip.compress(header + bytes(1000)))
    with pytest.raises(DataError, match="expected 47040000 bytes of image data for 60000x28x28, got 1000") as e:
        read_idx(path)
    assert "train-images-idx3-ubyte.gz" in str(e.value) and "\n" not in str(e.value)


def test_corrupt_idx_files(tmp_path):
    full = gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3]))
    (tmp_path / "cut.gz").write_bytes(full[:-6])
    with pytest.raises(DataError, match="cut.gz: expected a complete gzip stream"):
        read_idx(tmp_path / "cut.gz")
    (tmp_path / "magic").write_bytes(b"PK\x03\x04rest")
    with pytest.raises(DataError, match="expected IDX magic bytes 00 00, got 50 4b"):
        read_idx(tmp_path / "magic")
    (tmp_path / "code").write_bytes(bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 5]))
    with pytest.raises(DataError, match="expected an IDX dtype code .* got 0x07"):
        read_idx(tmp_path / "code")
    with pytest.raises(DataError, match="expected a readable file"):
        read_idx(tmp_path / "absent")


def _py2_str(b: bytes) -> bytes:
    return b"U" + bytes([len(b)]) + b if len(b) < 256 else b"T" + struct.pack("<i", len(b)) + b


def py2_pickle(obj: dict[bytes, object]) -> bytes:
    """Pickle {str: uint8 matrix | list of small ints | list of str} the way Python 2 and numpy 1
    wrote the published CIFAR batches (str as byte strings, numpy.core globals)."""
    def value(v: object) -> bytes:
        if isinstance(v, np.ndarray):
            dtype = (b"cnumpy\ndtype\n" + _py2_str(b"u1") + b"K\x00K\x01\x87R(K\x03" + _py2_str(b"|")
                     + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb")
            shape = b"".join(b"J" + struct.pack("<i", n) for n in v.shape) + b"\x86"
            return (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + _py2_str(b"b")
                    + b"\x87R(K\x01" + shape + dtype + b"\x89" + _py2_str(v.tobytes()) + b"tb")
        items = [b"K" + bytes([i]) if isinstance(i, int) else _py2_str(i) for i in v]
        return b"](" + b"".join(items) + b"e"
    return b"\x80\x02}(" + b"".join(_py2_str(k) + value(v) for k, v in obj.items()) + b"u."


def write_cifar10(directory: Path, *, n: int = 4, protocol: int | None = None) -> np.ndarray:
    """CIFAR-10 python batches, Python 2 style like the published files unless `protocol` is given
    (then Python 3 pickles with bytes keys)."""
    directory.mkdir()
    dump = py2_pickle if protocol is None else lambda obj: pickle.dumps(obj, protocol=protocol)
    rng = np.random.default_rng(1)
    rows = []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        rows.append(data)
        (directory / name).write_bytes(dump({b"data": data, b"labels": [i % 10 for i in range(n)]}))
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    (directory / "batches.meta").write_bytes(dump({b"label_names": names}))
    return np.concatenate(rows)


@pytest.mark.parametrize("protocol", [None, 2, 5])
def test_cifar10_batches(tmp_path, protocol):
    rows = write_cifar10(tmp_path / "c10", protocol=protocol)
    splits = read_cifar(tmp_path / "c10")
    assert splits.train_images.shape == (20, 3, 32, 32) and splits.test_images.shape == (4, 3, 32, 32)
    assert splits.classes[0] == "airplane" and splits.train_labels.dtype == np.int64
    # Row layout: 1024 red, then green, then blue values, each row-major.
    np.testing.assert_array_equal(splits.train_images[0, 1, 0, :5], rows[0, 1024:1029])
    bundle = load_dataset(str(tmp_path / "c10"))
    assert bundle.in_chans == 3 and bundle.image_size == (32, 32) and len(bundle.mean) == 3
    assert load_dataset("cifar10", data_dir=str(tmp_path / "c10")).num_classes == 10


def test_cifar100_fine_labels(tmp_path):
    d = tmp_path / "cifar-100-python"
    d.mkdir()
    for name, n in (("train", 6), ("test", 3)):
        batch = {"data": np.zeros((n, 3072), np.uint8), "fine_labels": [99] * n, "coarse_labels": [19] * n}
        (d / name).write_bytes(pickle.dumps(batch))
    (d / "meta").write_bytes(pickle.dumps({"fine_label_names": [f"c{i}" for i in range(100)]}))
    bundle = load_dataset("cifar100", data_dir=str(tmp_path))
    assert bundle.num_classes == 100 and bundle.train.labels.tolist() == [99] * 6


class _Payload:
    def __reduce__(self):
        return (os.getcwd, ())


def test_cifar_unpickler_refuses_code(tmp_path):
    write_cifar10(tmp_path / "c10")
    (tmp_path / "c10" / "test_batch").write_bytes(pickle.dumps({"data": _Payload()}))
    with pytest.raises(DataError, match="test_batch: .*refused global posix.getcwd"):
        read_cifar(tmp_path / "c10")
    (tmp_path / "c10" / "test_batch").write_bytes(pickle.dumps({"data": 1})[:-3])
    with pytest.raises(DataError, match="test_batch: expected a CIFAR python batch"):
        read_cifar(tmp_path / "c10")


def write_pngs(directory: Path, counts: dict[str, int], *, mode: str = "L", size: tuple[int, int] = (6, 5)) -> None:
    for cls, n in counts.items():
        (directory / cls).mkdir(parents=True)
        for i in range(n):
            value = 40 * i
            Image.new(mode, size, value if mode == "L" else (value, 0, 255)).save(directory / cls / f"{i}.png")


def test_image_folder(tmp_path):
    write_pngs(tmp_path / "gray", {"cat": 2, "dog": 3})
    images, labels, classes = read_image_folder(tmp_path / "gray")
    assert images.shape == (5, 1, 5, 6) and classes == ["cat", "dog"] and labels.tolist() == [0, 0, 1, 1, 1]
    assert images[1].max() == 40
    write_pngs(tmp_path / "rgb", {"a": 1}, mode="RGB")
    images, _, _ = read_image_folder(tmp_path / "rgb")
    assert images.shape == (1, 3, 5, 6) and images[0, :, 0, 0].tolist() == [0, 0, 255]
    Image.new("L", (3, 3)).save(tmp_path / "gray" / "cat" / "small.png")
    with pytest.raises(DataError, match="small.png: expected 5x6 like 0.png, got 3x3"):
        read_image_folder(tmp_path / "gray")
    assert read_image_folder(tmp_path / "gray", image_size=(4, 4))[0].shape == (6, 1, 4, 4)
    (tmp_path / "gray" / "dog" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match="broken.png: expected a readable image"):
        read_image_folder(tmp_path / "gray", image_size=(4, 4))


def test_image_folder_datasets(tmp_path):
    write_pngs(tmp_path / "split" / "train", {"a": 3, "b": 3})
    write_pngs(tmp_path / "split" / "test", {"b": 2}, mode="RGB")
    bundle = load_dataset(str(tmp_path / "split"))
    assert bundle.name == "split" and bundle.classes == ["a", "b"] and bundle.in_chans == 1
    assert len(bundle.train) == 6 and bundle.test.labels.tolist() == [1, 1]
    write_pngs(tmp_path / "one", {"a": 5, "b": 5})
    bundle = load_dataset(str(tmp_path / "one"))
    assert (len(bundle.train), len(bundle.test)) == (8, 2) and sorted(bundle.test.labels.tolist()) == [0, 1]


def test_npz(tmp_path):
    x = np.random.default_rng(0).random((6, 4, 4, 3)).astype(np.float32)  # N H W C in [0, 1]
    np.savez(tmp_path / "a.npz", x_train=x, y_train=np.arange(6) % 2, x_test=x[:2], y_test=np.zeros((2, 1), int))
    splits = read_npz(tmp_path / "a.npz")
    assert splits.train_images.shape == (6, 3, 4, 4) and splits.train_images.dtype == np.uint8
    assert splits.train_images[1, 2, 3, 0] == round(x[1, 3, 0, 2] * 255) and splits.test_labels.shape == (2,)
    np.savez(tmp_path / "b.npz", images=np.zeros((10, 8, 8), np.uint8), labels=np.arange(10) % 2,
             classes=np.array(["no", "yes"]))
    bundle = load_dataset(str(tmp_path / "b.npz"))
    assert bundle.name == "b" and bundle.classes == ["no", "yes"] and (len(bundle.train), len(bundle.test)) == (8, 2)
    np.savez(tmp_path / "d.npz", images=np.zeros((4, 8, 8), np.uint8), labels=np.arange(4), classes=np.array(["a"]))
    with pytest.raises(DataError, match=r"d: expected labels in 0..0 \(one per class\), got 0..3"):
        load_dataset(str(tmp_path / "d.npz"))
    np.savez(tmp_path / "c.npz", data=np.zeros(3))
    with pytest.raises(DataError, match="c.npz: expected keys x_train/y_train/x_test/y_test or images/labels"):
        read_npz(tmp_path / "c.npz")


# ---- named datasets --------------------------------------------------------------------------


def test_digits_bundle():
    bundle = load_dataset("digits")
    assert bundle.classes == [str(d) for d in range(10)] and bundle.in_chans == 1 and bundle.image_size == (8, 8)
    assert len(bundle.train) + len(bundle.test) == 1797 and len(bundle.test) in range(355, 365)
    assert bundle.train.images.dtype == torch.uint8 and int(bundle.train.images.max()) == 255
    again = load_dataset("digits")
    assert torch.equal(bundle.test.labels, again.test.labels) and torch.equal(bundle.test.images, again.test.images)
    x, y = bundle.train[0]
    assert x.shape == (1, 8, 8) and x.dtype == torch.float32 and 0 <= float(x.min()) <= float(x.max()) <= 1
    assert isinstance(y, int)


def test_fashion_mnist_from_data_dir(tmp_path):
    arrays = write_idx_set(tmp_path)
    bundle = load_dataset("Fashion_MNIST", data_dir=str(tmp_path))
    assert bundle.name == "fashion-mnist" and bundle.classes[0] == "T-shirt/top" and bundle.classes[9] == "Ankle boot"
    assert bundle.train.images.shape == (20, 1, 28, 28) and len(bundle.test) == 10
    assert torch.equal(bundle.test.images[:, 0], torch.from_numpy(arrays["test"]))
    pixels = arrays["train"] / 255
    assert bundle.mean[0] == pytest.approx(pixels.mean()) and bundle.std[0] == pytest.approx(pixels.std())


def test_fashion_mnist_rows_is_the_same_images_for_sequence_models(tmp_path):
    write_idx_set(tmp_path)
    rows, images = (load_dataset(n, data_dir=str(tmp_path)) for n in ("fashion-mnist-rows", "fashion-mnist"))
    assert rows.name == "fashion-mnist-rows" and rows.classes == images.classes
    assert torch.equal(rows.train.images, images.train.images) and torch.equal(rows.test.labels, images.test.labels)


def test_mnist_and_kmnist_subfolder_and_raw_names(tmp_path):
    write_idx_set(tmp_path / "kmnist")
    assert load_dataset("kmnist", data_dir=str(tmp_path)).classes[:3] == ["o", "ki", "su"]
    d = tmp_path / "raw"
    d.mkdir()
    write_idx(d / "train-images.idx3-ubyte", np.zeros((3, 4, 4), np.uint8))  # a common renaming
    write_idx(d / "train-labels.idx1-ubyte", np.array([0, 1, 2], np.uint8))
    write_idx(d / "t10k-images.idx3-ubyte", np.zeros((2, 4, 4), np.uint8))
    write_idx(d / "t10k-labels.idx1-ubyte", np.array([1, 1], np.uint8))
    assert load_dataset("mnist", data_dir=str(d)).image_size == (4, 4)
    assert load_dataset(str(d)).classes == ["0", "1", "2"]


def test_emnist_transposes_and_remaps(tmp_path):
    arrays = write_idx_set(tmp_path, prefix="emnist-letters-", test_word="test", labels_from=1, num_classes=3)
    (tmp_path / "emnist-letters-mapping.txt").write_text("1 65 97\n2 66 98\n3 67 99\n")
    bundle = load_dataset("emnist-letters", data_dir=str(tmp_path))
    assert bundle.classes == ["Aa", "Bb", "Cc"] and bundle.train.labels[:4].tolist() == [0, 1, 2, 0]
    assert torch.equal(bundle.train.images[0, 0], torch.from_numpy(arrays["train"][0].T))


def test_missing_and_unknown_dataset_errors(tmp_path):
    with pytest.raises(DataError) as e:
        load_dataset("fashion-mnist", data_dir=str(tmp_path))
    message = str(e.value)
    assert "apt-get install dataset-fashion-mnist" in message and "--data-dir DIR" in message
    assert str(tmp_path) in message and "\n" not in message
    with pytest.raises(DataError, match="mnist: expected the IDX files train-images-idx3-ubyte.*--data-dir"):
        load_dataset("mnist")
    with pytest.raises(DataError, match="cifar10: .*cifar-10-batches-py"):
        load_dataset("cifar10", data_dir=str(tmp_path))
    with pytest.raises(DataError, match=r"unknown dataset 'fashon-mnist': .*cifar100 \(closest: fashion-mnist\)"):
        load_dataset("fashon-mnist")
    assert all(canonical_name(name) == name for name in KNOWN_DATASETS)


@pytest.mark.skipif(not (DEFAULT_FASHION_DIR / "t10k-images-idx3-ubyte.gz").is_file(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_test_split():
    images, labels = (read_idx(DEFAULT_FASHION_DIR / f"t10k-{k}-idx{d}-ubyte.gz") for k, d in (("images", 3), ("labels", 1)))
    assert images.shape == (10000, 28, 28) and labels.shape == (10000,)
    assert np.bincount(labels).tolist() == [1000] * 10


# ---- splits and loader -----------------------------------------------------------------------


def toy_dataset(n: int = 30, classes: int = 3) -> ImageDataset:
    # pixel [0, 0] is the sample's index, so tests can tell samples apart
    images = ((torch.arange(n)[:, None] + 13 * torch.arange(16)) % 256).to(torch.uint8).view(n, 1, 4, 4)
    return ImageDataset(images=images, labels=torch.arange(n) % classes, classes=[str(c) for c in range(classes)])


def test_split_train_val_deterministic_stratified_disjoint():
    ds = toy_dataset()
    train, val = split_train_val(ds, val_fraction=0.2, seed=3)
    again = split_train_val(ds, val_fraction=0.2, seed=3)[1]
    assert torch.equal(val.images, again.images) and val.labels.bincount().tolist() == [2, 2, 2]
    assert len(train) == 24 and not set(train.images[:, 0, 0, 0].tolist()) & set(val.images[:, 0, 0, 0].tolist())
    assert not torch.equal(val.images, split_train_val(ds, val_fraction=0.2, seed=4)[1].images)


def epoch_batches(loader: BatchLoader, *, epoch: int, start: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    loader.set_epoch(epoch)
    return list(loader.iter_from(start))


def test_loader_deterministic_and_exact_resume():
    ds = toy_dataset(n=23)
    augment = Compose([RandomCrop(4, padding=1), RandomHorizontalFlip()])
    make = lambda: BatchLoader(ds, batch_size=5, shuffle=True, seed=7, transform=augment)  # noqa: E731
    loader = make()
    full = epoch_batches(loader, epoch=2)
    assert len(loader) == len(full) == 5 and full[-1][0].shape == (3, 1, 4, 4) and full[0][1].dtype == torch.int64
    assert sorted(torch.cat([y for _, y in full]).tolist()) == sorted(ds.labels.tolist())
    resumed = epoch_batches(make(), epoch=2, start=3)  # a fresh process resuming at step 3
    assert len(resumed) == 2 and all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
                                     for a, b in zip(full[3:], resumed))
    other = epoch_batches(loader, epoch=3)
    assert not torch.equal(full[0][0], other[0][0])
    assert len(BatchLoader(ds, batch_size=5, shuffle=False, seed=0, transform=None, drop_last=True)) == 4
    with pytest.raises(ValueError, match="expected a step in 0..5, got 6"):
        loader.iter_from(6)


def test_ddp_shards_disjoint_equal_and_padded():
    ds = toy_dataset(n=12)
    shards = [BatchLoader(ds, batch_size=2, shuffle=True, seed=1, transform=None, rank=r, world_size=3).indices()
              for r in range(3)]
    assert [len(s) for s in shards] == [4, 4, 4] and sorted(torch.cat(shards).tolist()) == list(range(12))
    loaders = [BatchLoader(toy_dataset(n=10), batch_size=3, shuffle=True, seed=1, transform=None, rank=r,
                           world_size=3) for r in range(3)]
    padded = torch.cat([l.indices() for l in loaders])
    assert len(padded) == 12 and sorted(set(padded.tolist())) == list(range(10))
    assert [len(l) for l in loaders] == [2, 2, 2]


# ---- transforms ------------------------------------------------------------------------------


def test_flip_and_crop_on_known_tensor():
    x = torch.arange(2 * 1 * 3 * 4, dtype=torch.float32).view(2, 1, 3, 4)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(RandomHorizontalFlip(p=1.0)(x, generator=g), x.flip(-1))
    assert torch.equal(RandomHorizontalFlip(p=0.0)(x, generator=g), x)
    flips = RandomHorizontalFlip()(torch.ones(1000, 1, 1, 2) * torch.tensor([0.0, 1.0]), generator=g)
    assert 400 < int((flips[:, 0, 0, 0] == 1).sum()) < 600  # per sample, not per batch
    assert torch.equal(RandomCrop((3, 4))(x, generator=g), x)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    crops = RandomCrop((3, 4), padding=2)(x.repeat(20, 1, 1, 1), generator=g)
    offsets = set()
    for i, crop in enumerate(crops):
        sample = padded[i % 2]
        hits = [(t, l) for t in range(5) for l in range(5) if torch.equal(sample[:, t:t + 3, l:l + 4], crop)]
        assert hits, "every crop is a window of the zero-padded sample"
        offsets.add(hits[0])
    assert len(offsets) > 3  # offsets are drawn per sample


def test_resize_normalize_and_build_transforms():
    x = torch.rand(2, 3, 16, 16)
    assert Resize(8)(x).shape == (2, 3, 8, 8) and Resize((20, 24))(x).shape == (2, 3, 20, 24)
    assert torch.allclose(Resize(8)(torch.full((1, 1, 16, 16), 0.5)), torch.full((1, 1, 8, 8), 0.5))
    out = Normalize((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))(torch.full((1, 3, 2, 2), 1.0))
    assert torch.allclose(out, torch.full_like(out, 2.0))
    with pytest.raises(ValueError, match="expected 1 channels, got 3"):
        Normalize((0.5,), (0.2,))(x)
    bundle = load_dataset("digits")
    kinds = lambda c: [type(t).__name__ for t in c.transforms]  # noqa: E731
    assert kinds(build_transforms(bundle, train=True, augment=True, resize=None)) == \
        ["RandomCrop", "RandomHorizontalFlip", "Normalize"]
    assert kinds(build_transforms(bundle, train=False, augment=True, resize=None)) == ["Normalize"]
    train = build_transforms(bundle, train=True, augment=True, resize=32)
    assert kinds(train)[0] == "Resize" and train.transforms[1].padding == 4
    batch = next(iter(BatchLoader(bundle.train, batch_size=4, shuffle=True, seed=0, transform=train)))[0]
    assert batch.shape == (4, 1, 32, 32)
