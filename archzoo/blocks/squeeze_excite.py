"""Squeeze-and-excitation: Hu et al. 2018, "Squeeze-and-Excitation Networks" (arXiv:1709.01507).

    s = gate(W2 act(W1 avgpool(x)))        x' = x * s    (one weight per channel)

The two fully connected layers are 1x1 convolutions on the pooled (B, C, 1, 1) map, which is the
same map with bias, and keeps the tensor channels-first. The paper reduces C by r = 16; MobileNetV3
and EfficientNet size the bottleneck from their own blocks, so the block takes `rd_chs` directly.
MobileNetV3 swaps the sigmoid gate for a hard sigmoid (`gate_layer=nn.Hardsigmoid`).
"""
from __future__ import annotations

import torch
import torch.nn as nn


class SqueezeExcite(nn.Module):
    def __init__(
        self,
        chs: int,
        *,
        rd_chs: int,
        act_layer: type[nn.Module] = nn.ReLU,
        gate_layer: type[nn.Module] = nn.Sigmoid,
    ) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(chs, rd_chs, 1)
        self.act = act_layer()
        self.expand = nn.Conv2d(rd_chs, chs, 1)
        self.gate = gate_layer()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)  # (B, C, 1, 1)
        s = self.gate(self.expand(self.act(self.reduce(s))))  # (B, C, 1, 1)
        return x * s

