"""Data-parallel training under `torchrun` (DDP over gloo, which runs on CPUs).

`torchrun --nproc_per_node=2 -m archzoo train ...` sets WORLD_SIZE, RANK and the rendezvous
address; the trainer then joins the process group, wraps the model in DistributedDataParallel
and shards each epoch with `BatchLoader(rank=, world_size=)`. Only rank 0 writes files and shows
progress. Per-step decisions that must agree on every rank (stop on NaN, stop on Ctrl-C) go
through one small all-reduce, so no rank waits forever on a collective the others skipped.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> Dist:
        """Join the gloo group when launched by torchrun with more than one process."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        if not dist.is_initialized():
            dist.init_process_group(backend="gloo")
        return cls(rank=dist.get_rank(), world_size=dist.get_world_size())

    def all_sum(self, values: list[float]) -> list[float]:
        if not self.enabled:
            return values
        t = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(t)
        return t.tolist()

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's `obj` on every rank (a run directory name, an error message)."""
        if not self.enabled:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's `obj`, on every rank (each rank's RNG state, for checkpoints)."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()
