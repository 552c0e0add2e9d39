"""Depthwise-separable convolution: Howard et al. 2017, "MobileNets: Efficient Convolutional Neural
Networks for Mobile Vision Applications" (arXiv:1704.04861), section 3.1; the factorization is
Sifre's (2014), made popular by Xception (Chollet 2017, arXiv:1610.02357).

A k x k convolution from M to N channels costs k*k*M*N multiply-adds per position; a depthwise
k x k (one filter per channel, k*k*M) followed by a pointwise 1x1 (M*N) costs 1/N + 1/k^2 of it.
MobileNet puts BN and ReLU after both parts (Figure 3).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .conv_norm_act import ConvNormAct


class DepthwiseSeparableConv(nn.Sequential):
    """depthwise k x k -> norm -> act, then pointwise 1x1 -> norm -> act (`pw_act`)."""

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        *,
        kernel_size: int = 3,
        stride: int = 1,
        dilation: int = 1,
        norm_layer: type[nn.Module] = nn.BatchNorm2d,
        act_layer: type[nn.Module] = nn.ReLU,
        pw_act: bool = True,
    ) -> None:
        super().__init__()
        self.depthwise = ConvNormAct(in_chs, in_chs, kernel_size=kernel_size, stride=stride,
                                     dilation=dilation, groups=in_chs,
                                     norm_layer=norm_layer, act_layer=act_layer)
        self.pointwise = ConvNormAct(in_chs, out_chs, kernel_size=1, padding=0,
                                     norm_layer=norm_layer, act_layer=act_layer if pw_act else None)
        self.out_chs = out_chs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))
