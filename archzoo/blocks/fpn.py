"""Feature Pyramid Network: Lin, Dollar, Girshick, He, Hariharan, Belongie 2017, "Feature Pyramid
Networks for Object Detection" (arXiv:1612.03144).

A neck over any body's multi-scale maps (`models._features.create_features`): a 1x1 lateral
convolution brings each map to `out_chs` channels, a top-down pathway adds each coarser level,
upsampled by nearest neighbour, to the finer lateral, and a 3x3 convolution on each merged map
"reduces the aliasing effect of upsampling" (Section 3). As in the paper there is no nonlinearity
and no normalization, and `extra_levels` adds coarser levels by stride-2 subsampling of the
coarsest output (the paper's P6 for the RPN, a 1x1 max-pool with stride 2).

Departure: the paper upsamples by exactly 2; here the coarser map is resized to the finer map's
size, so bodies whose stages round odd sizes up (7x7 -> 4x4) still merge.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F


class FeaturePyramid(nn.Module):
    """[(B, C_i, H_i, W_i)] fine to coarse -> [(B, out_chs, H_i, W_i)] + extra coarser levels."""

    def __init__(self, in_chs: Sequence[int], *, out_chs: int = 256, extra_levels: int = 0) -> None:
        super().__init__()
        if not in_chs:
            raise ValueError("FeaturePyramid: expected at least one input level")
        self.in_chs = list(in_chs)
        self.out_chs = out_chs
        self.extra_levels = extra_levels
        self.lateral = nn.ModuleList(nn.Conv2d(c, out_chs, 1) for c in in_chs)
        self.output = nn.ModuleList(nn.Conv2d(out_chs, out_chs, 3, padding=1) for _ in in_chs)

    def forward(self, feats: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        if len(feats) != len(self.lateral):
            raise ValueError(f"FeaturePyramid: built for {len(self.lateral)} levels "
                             f"(channels {self.in_chs}); got {len(feats)} maps")
        merged = [lat(f) for lat, f in zip(self.lateral, feats)]  # each (B, out_chs, H_i, W_i)
        for i in range(len(merged) - 1, 0, -1):  # top-down: coarsest first
            finer = merged[i - 1]
            merged[i - 1] = finer + F.interpolate(merged[i], size=finer.shape[-2:], mode="nearest")
        outs = [conv(m) for conv, m in zip(self.output, merged)]
        for _ in range(self.extra_levels):
            outs.append(F.max_pool2d(outs[-1], kernel_size=1, stride=2))
        return outs
