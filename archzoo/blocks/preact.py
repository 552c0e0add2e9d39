"""Pre-activation units: He, Zhang, Ren, Sun 2016, "Identity Mappings in Deep Residual Networks"
(arXiv:1603.05027).

Moving BN and ReLU in front of each convolution (Figure 4e, "full pre-activation") leaves the
shortcut a clean identity from block to block, so signal and gradient pass through the whole net
unchanged by any activation. `NormActConv` is the BN -> ReLU -> conv unit (also the unit of DPN);
`PreActBottleneck` is the bottleneck built from it. When the shape changes, the projection
shortcut takes the pre-activated input, as the paper's code does, so that both paths see a
normalized signal; otherwise the shortcut is the raw input.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn


class NormAct(nn.Sequential):
    def __init__(self, chs: int, *, norm_layer: type[nn.Module] = nn.BatchNorm2d,
                 act_layer: type[nn.Module] = nn.ReLU) -> None:
        super().__init__(OrderedDict(norm=norm_layer(chs), act=act_layer()))


class NormActConv(nn.Sequential):
    """norm -> act -> conv (no bias: the next unit's norm shifts)."""

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        *,
        kernel_size: int = 3,
        stride: int = 1,
        groups: int = 1,
        norm_layer: type[nn.Module] = nn.BatchNorm2d,
        act_layer: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__(OrderedDict(
            norm=norm_layer(in_chs), act=act_layer(),
            conv=nn.Conv2d(in_chs, out_chs, kernel_size, stride=stride, padding=kernel_size // 2,
                           groups=groups, bias=False),
        ))


class PreActBottleneck(nn.Module):
    """BN-ReLU-1x1 -> BN-ReLU-3x3 (stride) -> BN-ReLU-1x1, plus the identity (or projection)."""

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        *,
        mid_chs: int,
        stride: int = 1,
        groups: int = 1,
        norm_layer: type[nn.Module] = nn.BatchNorm2d,
        act_layer: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        self.preact = NormAct(in_chs, norm_layer=norm_layer, act_layer=act_layer)
        self.conv1 = nn.Conv2d(in_chs, mid_chs, 1, bias=False)
        self.conv2 = NormActConv(mid_chs, mid_chs, kernel_size=3, stride=stride, groups=groups,
                                 norm_layer=norm_layer, act_layer=act_layer)
        self.conv3 = NormActConv(mid_chs, out_chs, kernel_size=1,
                                 norm_layer=norm_layer, act_layer=act_layer)
        self.shortcut = (nn.Conv2d(in_chs, out_chs, 1, stride=stride, bias=False)
                         if stride != 1 or in_chs != out_chs else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xp = self.preact(x)
        shortcut = x if self.shortcut is None else self.shortcut(xp)
        return self.conv3(self.conv2(self.conv1(xp))) + shortcut  # no activation after the sum
