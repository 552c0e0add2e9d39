"""Layer normalization (Ba et al. 2016, arXiv:1607.06450) for channels-first (B, C, H, W) maps.

Normalizes each position over its C channels, as `nn.LayerNorm(C)` does on a channels-last map;
ConvNeXt (Liu et al. 2022, arXiv:2201.03545) uses it in its tail and down-sampling layers, between
convolutions that want channels first.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class LayerNorm2d(nn.LayerNorm):
    def __init__(self, num_channels: int, *, eps: float = 1e-6) -> None:
        super().__init__(num_channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)  # (B, H, W, C)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)  # (B, C, H, W)
