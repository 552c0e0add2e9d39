"""A deterministic, resumable batch loader over in-memory uint8 images.

`torch.utils.data.DataLoader` collates sample by sample in Python and, with workers, makes exact
resume hard: its augmentation randomness lives in worker processes. Here a batch is one gather from
the uint8 images tensor, and everything random about it is a pure function of its coordinates:
the epoch's permutation comes from a generator seeded with (seed, epoch), and the augmentation of
batch `step` on `rank` from a generator seeded with (seed, epoch, rank, step). So `iter_from(step)`
skips straight to batch `step` and yields exactly what an uninterrupted epoch would have, with no
replay, and ranks shard one shared permutation the way `DistributedSampler` does.
"""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import torch
from torch import Tensor

from .datasets import ImageDataset
from .transforms import Transform


def _generator(*coordinates: int) -> torch.Generator:
    """A CPU generator seeded from integer coordinates; SeedSequence mixes them so nearby
    coordinates (seed 1 epoch 2, seed 2 epoch 1) give unrelated streams."""
    seed = np.random.SeedSequence(coordinates).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(seed))


_PERMUTATION, _AUGMENTATION = 0, 1  # keep the two streams of one epoch apart


class BatchLoader:
    """Batches (x float [B, C, H, W] transformed, y int64 [B]) of one rank's shard of an epoch.

    Call `set_epoch(e)` before each epoch (as with `DistributedSampler`); `len()` is the number of
    batches per epoch on this rank. With `world_size > 1` the epoch's permutation is wrap-padded
    to a multiple of `world_size` and rank r takes every world_size-th index from r, so shards are
    disjoint up to the padding and equally long. `drop_last` drops this rank's final partial batch.
    Batches are built on `device` (transforms run there).
    """

    def __init__(self, dataset: ImageDataset, *, batch_size: int, shuffle: bool, seed: int,
                 transform: Transform | None, drop_last: bool = False, rank: int = 0, world_size: int = 1,
                 device: str | torch.device = "cpu") -> None:
        if batch_size < 1:
            raise ValueError(f"expected batch_size >= 1, got {batch_size}")
        if seed < 0:
            raise ValueError(f"expected a non-negative seed, got {seed}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"expected 0 <= rank < world_size, got rank {rank} of {world_size}")
        if len(dataset) == 0:
            raise ValueError("expected a non-empty dataset, got 0 images")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.transform = transform
        self.drop_last = drop_last
        self.rank = rank
        self.world_size = world_size
        self.device = torch.device(device)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose permutation and augmentation the next iteration yields."""
        if epoch < 0:
            raise ValueError(f"expected a non-negative epoch, got {epoch}")
        self.epoch = epoch

    @property
    def shard_size(self) -> int:
        """Images this rank sees per epoch (padding included)."""
        return math.ceil(len(self.dataset) / self.world_size)

    def __len__(self) -> int:
        full, rest = divmod(self.shard_size, self.batch_size)
        return full if self.drop_last or rest == 0 else full + 1

    def indices(self) -> Tensor:
        """This rank's dataset indices for the current epoch, in batch order."""
        n = len(self.dataset)
        if self.shuffle:
            order = torch.randperm(n, generator=_generator(self.seed, self.epoch, _PERMUTATION))
        else:
            order = torch.arange(n)
        total = self.shard_size * self.world_size
        order = order.repeat(math.ceil(total / n))[:total]  # wrap-pad, as DistributedSampler does
        return order[self.rank::self.world_size]

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        return self.iter_from(0)

    def iter_from(self, step: int) -> Iterator[tuple[Tensor, Tensor]]:
        """The current epoch's batches from batch `step` on: a resumed run passes the number of
        batches it already trained on this epoch and gets the rest, augmentation included."""
        if not 0 <= step <= len(self):
            raise ValueError(f"expected a step in 0..{len(self)}, got {step}")
        return self._batches(self.indices(), self.epoch, step)

    def _batches(self, order: Tensor, epoch: int, start: int) -> Iterator[tuple[Tensor, Tensor]]:
        images, labels = self.dataset.images, self.dataset.labels
        for step in range(start, len(self)):
            index = order[step * self.batch_size:(step + 1) * self.batch_size]
            x = images[index].to(self.device).float().div_(255)  # B C H W in [0, 1]
            if self.transform is not None:
                g = _generator(self.seed, epoch, _AUGMENTATION, self.rank, step)
                x = self.transform(x, generator=g)
            yield x, labels[index].to(self.device)
