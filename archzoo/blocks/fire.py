"""The fire module of Iandola et al. 2016, "SqueezeNet: AlexNet-level accuracy with 50x fewer
parameters and <0.5MB model size" (arXiv:1602.07360), section 3.2.

A 1x1 "squeeze" convolution to few channels (s1x1), then an "expand" layer of 1x1 (e1x1) and 3x3
(e3x3) convolutions side by side, concatenated: strategy 2 of the paper (fewer input channels to
the 3x3 filters) and strategy 1 (replace some 3x3 filters with 1x1). Every convolution has a bias
and a ReLU; the paper uses no normalization.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .conv_norm_act import ConvNormAct


class Fire(nn.Module):
    def __init__(
        self,
        in_chs: int,
        *,
        squeeze_chs: int,
        expand1x1_chs: int,
        expand3x3_chs: int,
        norm_layer: type[nn.Module] | None = None,
        act_layer: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        if squeeze_chs >= expand1x1_chs + expand3x3_chs:
            # the paper keeps s1x1 < e1x1 + e3x3 so the squeeze really limits the 3x3 inputs
            raise ValueError(f"squeeze_chs ({squeeze_chs}) must be less than expand1x1_chs + "
                             f"expand3x3_chs ({expand1x1_chs + expand3x3_chs})")
        self.squeeze = ConvNormAct(in_chs, squeeze_chs, kernel_size=1,
                                   norm_layer=norm_layer, act_layer=act_layer)
        self.expand1x1 = ConvNormAct(squeeze_chs, expand1x1_chs, kernel_size=1,
                                     norm_layer=norm_layer, act_layer=act_layer)
        self.expand3x3 = ConvNormAct(squeeze_chs, expand3x3_chs, kernel_size=3,
                                     norm_layer=norm_layer, act_layer=act_layer)
        self.out_chs = expand1x1_chs + expand3x3_chs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze(x)  # (B, s1x1, H, W)
        return torch.cat([self.expand1x1(x), self.expand3x3(x)], 1)  # (B, e1x1 + e3x3, H, W)
