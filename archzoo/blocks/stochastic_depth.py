"""Stochastic depth: Huang et al. 2016, "Deep Networks with Stochastic Depth" (arXiv:1603.09382).

While training, each sample's residual branch is dropped with probability `p` (the block becomes the
identity for that sample). The paper keeps survivors as they are and multiplies the branch by the
survival probability at test time; like EfficientNet's and ConvNeXt's reference code, archzoo
scales survivors by 1 / (1 - p) while training instead, which gives the same expectation and leaves
evaluation untouched. `drop_path_rates` is the paper's linear decay rule: 0 for the first block,
`rate` for the last.
"""
from __future__ import annotations

import torch
import torch.nn as nn


def drop_path(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    if p == 0.0 or not training:
        return x
    keep = 1.0 - p
    mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)  # (B, 1, 1, 1)
    return x * mask / keep


class DropPath(nn.Module):
    """Drop a residual branch per sample; apply it to the branch, before the addition."""

    def __init__(self, *, p: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"drop-path probability must be in [0, 1); got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def drop_path_rates(rate: float, num_blocks: int) -> list[float]:
    """Linearly increasing drop probabilities over `num_blocks` blocks, from 0 to `rate`."""
    if num_blocks <= 1:
        return [0.0] * num_blocks
    return [rate * i / (num_blocks - 1) for i in range(num_blocks)]
