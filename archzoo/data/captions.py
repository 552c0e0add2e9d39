"""Captioned images that work offline: canvases of 2-4 Fashion-MNIST (or digits) items on a grid.

Seed 003 motivates attention by captioning (attend to different parts of an image; Xu et al. 2015,
"Show, Attend and Tell", arXiv:1502.03044), seed 001 captions with a Transformer, seed 004 with a
ViT: an encoder reads the image, a decoder writes the sentence and, word by word, attends to the
places it names. Real captioning sets (COCO) cannot be downloaded here,
so archzoo composes its own from real images: each canvas is a 2x2 grid of cells, 2 to 4 of them
holding a Fashion-MNIST item (or a scikit-learn digit), shifted by a few pixels inside its cell. The
caption names the items in reading order with their places:

    "a sandal top left , a bag bottom right"
    "a coat top right , a dress bottom left , a sneaker bottom right"

Empty cells are not mentioned, so the decoder must find which cells are filled (attend to places)
before naming what fills them. Words are whole tokens (`WordVocab`); the grammar fixes the vocabulary.

Splits: `train` and `val` canvases draw their items from two disjoint parts of the dataset's train
images (a seeded permutation keeps 10% for val); `test` canvases draw from its test images, so no
item of a test canvas was ever seen in training. Everything is a pure function of (name, sizes,
seed). `CaptionBatches` yields (images (B 1 H W) normalized floats, tgt_in (B T) = <bos> words,
tgt_out (B T) = words <eos>), padded with 0 and shuffled by (seed, epoch), so a resumed run sees
the same batches.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import torch
from torch import Tensor

from .readers import DataError
from .tokenize import BOS, EOS, PAD, SPECIALS, UNK

KNOWN_CAPTION_SETS = {
    "fashion-captions": "2-4 Fashion-MNIST items on a 2x2 grid of a 64x64 canvas, captioned with their "
                        "places (a sandal top left , a bag bottom right): needs fashion-mnist",
    "digits-captions": "2-4 scikit-learn digits on a 2x2 grid of a 24x24 canvas, captioned the same way: "
                       "no download",
}
# the word each class is called by: one token each ("top" is a place, so T-shirt/top is "t-shirt")
FASHION_WORDS = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                 "ankle-boot"]
DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
ROWS, COLS = ("top", "bottom"), ("left", "right")
PLACES = [f"{r} {c}" for r in ROWS for c in COLS]  # cell k of the 2x2 grid, in reading order
MARGIN = 4  # a cell is the item's side plus this; the item sits at a random offset in 0..MARGIN
VAL_SHARE = 0.1


class WordVocab:
    """Words <-> ids, specials first like `CharVocab` (<pad> <bos> <eos> <unk> = 0..3)."""

    pad_id, bos_id, eos_id, unk_id = PAD, BOS, EOS, UNK

    def __init__(self, words: Iterable[str]) -> None:
        self.words = sorted(set(words))
        if not self.words or any(not w or " " in w for w in self.words):
            raise ValueError(f"expected non-empty words without spaces, got {self.words[:5]}")
        self.itos = list(SPECIALS) + self.words
        self.stoi = {w: i for i, w in enumerate(self.itos) if i >= len(SPECIALS)}

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        unknown = sorted({w for w in text.split() if w not in self.stoi})
        if unknown:
            raise DataError(f"words outside the caption vocabulary: {', '.join(unknown)} "
                            f"(it knows {len(self.words)}: {' '.join(self.words)})")
        return [self.stoi[w] for w in text.split()]

    def decode(self, ids: Iterable[int]) -> str:
        out = []
        for i in map(int, ids):
            if i == EOS:
                break
            if i >= len(SPECIALS):
                out.append(self.itos[i])
        return " ".join(out)

    def to_json(self) -> str:
        return json.dumps({"words": self.words})

    @classmethod
    def from_json(cls, text: str) -> WordVocab:
        return cls(json.loads(text)["words"])


def caption_vocab(class_words: list[str]) -> WordVocab:
    return WordVocab(["a", ","] + list(ROWS) + list(COLS) + class_words)


@dataclass
class CaptionSet:
    """Canvases uint8 (N 1 H W), their captions, and which item (dataset index) sits in each cell."""

    images: Tensor
    captions: list[str]
    cells: Tensor  # (N 4) int64: the source image index in each cell, -1 where empty

    def __len__(self) -> int:
        return len(self.captions)


@dataclass
class CaptionData:
    name: str
    train: CaptionSet
    val: CaptionSet
    test: CaptionSet
    vocab: WordVocab
    mean: float  # of the train canvases, [0, 1] scale
    std: float

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.train.images.shape[-2:])  # type: ignore[return-value]


def compose(images: Tensor, labels: Tensor, words: list[str], n: int, *, generator: torch.Generator,
            min_items: int = 2, max_items: int = 4) -> CaptionSet:
    """`n` canvases from the pool `images` (M 1 h w) uint8: each a 2x2 grid of cells of side h +
    MARGIN, `min_items`..`max_items` of them filled with distinct random pool images."""
    if not 1 <= min_items <= max_items <= 4:
        raise ValueError(f"expected 1 <= min_items <= max_items <= 4, got {min_items} and {max_items}")
    if images.ndim != 4 or images.shape[1] != 1 or len(images) < max_items:
        raise DataError(f"expected at least {max_items} grayscale images (M 1 h w) to compose from, "
                        f"got {tuple(images.shape)}")
    h, w = images.shape[-2:]
    ch, cw = h + MARGIN, w + MARGIN
    counts = torch.randint(min_items, max_items + 1, (n,), generator=generator)  # (N)
    # a random order of the 4 cells per canvas; its first `count` are filled
    rank = torch.rand(n, 4, generator=generator).argsort(1).argsort(1)  # (N 4): each cell's place in it
    filled = rank < counts[:, None]
    picks = torch.randint(len(images), (n, 4), generator=generator)
    offsets = torch.randint(MARGIN + 1, (n, 4, 2), generator=generator)
    cells = torch.where(filled, picks, -1)  # (N 4)
    canvas = torch.zeros(n, 1, 2 * ch, 2 * cw, dtype=torch.uint8)
    for cell in range(4):
        for dy in range(MARGIN + 1):  # one vectorized copy per (cell, offset): no per-canvas Python
            for dx in range(MARGIN + 1):
                rows = torch.nonzero(filled[:, cell] & (offsets[:, cell, 0] == dy)
                                     & (offsets[:, cell, 1] == dx)).flatten()
                y, x = (cell // 2) * ch + dy, (cell % 2) * cw + dx
                canvas[rows, :, y: y + h, x: x + w] = images[picks[rows, cell]]
    item_words = [words[i] for i in labels.tolist()]
    captions = [" , ".join(f"a {item_words[pick]} {PLACES[cell]}" for cell, pick in enumerate(row) if pick >= 0)
                for row in cells.tolist()]
    return CaptionSet(canvas, captions, cells)


def load_captions(name: str, *, data_dir: str | Path | None = None, n_train: int = 20000, n_val: int = 1000,
                  n_test: int = 2000, seed: int = 0) -> CaptionData:
    """Compose a named caption set's three splits (see the module doc)."""
    from .datasets import channel_stats, load_dataset

    if name not in KNOWN_CAPTION_SETS:
        raise DataError(f"unknown caption set {name!r}; expected one of {', '.join(KNOWN_CAPTION_SETS)}")
    source, words = ("fashion-mnist", FASHION_WORDS) if name == "fashion-captions" else ("digits", DIGIT_WORDS)
    bundle = load_dataset(source, data_dir=data_dir)
    if bundle.in_chans != 1 or bundle.num_classes != len(words):
        raise DataError(f"{name}: expected {source} as grayscale images of {len(words)} classes, got "
                        f"{bundle.in_chans} channel(s) and {bundle.num_classes} classes")
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(bundle.train), generator=g)
    cut = int(len(order) * VAL_SHARE)
    val_pool, train_pool = order[:cut], order[cut:]
    train_imgs, train_labels = bundle.train.images[train_pool], bundle.train.labels[train_pool]
    splits = {
        "train": compose(train_imgs, train_labels, words, n_train, generator=g),
        "val": compose(bundle.train.images[val_pool], bundle.train.labels[val_pool], words, n_val, generator=g),
        "test": compose(bundle.test.images, bundle.test.labels, words, n_test, generator=g),
    }
    mean, std = channel_stats(splits["train"].images)
    return CaptionData(name, splits["train"], splits["val"], splits["test"], caption_vocab(words),
                       mean[0], std[0])


def _pad(seqs: list[list[int]]) -> Tensor:
    out = torch.full((len(seqs), max(map(len, seqs))), PAD, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    return out


class CaptionBatches:
    """(images (B 1 H W) float, normalized; tgt_in (B T) = <bos> y; tgt_out (B T) = y <eos>),
    padded with 0 to the batch's longest caption; shuffled as a pure function of (seed, epoch)."""

    def __init__(self, data: CaptionSet, vocab: WordVocab, *, mean: float, std: float, batch_size: int,
                 shuffle: bool = True, seed: int = 0) -> None:
        if len(data) == 0:
            raise DataError("no captioned images to batch")
        if batch_size < 1:
            raise ValueError(f"expected batch_size >= 1, got {batch_size}")
        ids = [vocab.encode(c) for c in data.captions]
        self.images, self.mean, self.std = data.images, mean, std
        self.tgt_in, self.tgt_out = _pad([[BOS] + t for t in ids]), _pad([t + [EOS] for t in ids])
        self.batch_size, self.shuffle, self.seed, self.epoch = batch_size, shuffle, seed, 0
        self.dataset = data

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-len(self.dataset) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        return self.iter_from(0)

    def normalize(self, images: Tensor) -> Tensor:
        """uint8 (B 1 H W) -> float, standardized by the train canvases' statistics."""
        return (images.float() / 255 - self.mean) / self.std

    def iter_from(self, step: int) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        n = len(self.dataset)
        order = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)) \
            if self.shuffle else torch.arange(n)
        for i in range(step * self.batch_size, n, self.batch_size):
            idx = order[i: i + self.batch_size]
            t = int((self.tgt_out[idx] != PAD).sum(1).max())
            yield self.normalize(self.images[idx]), self.tgt_in[idx, :t], self.tgt_out[idx, :t]
