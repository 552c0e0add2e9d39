"""Convolution -> normalization -> activation, the unit most CNN layers are made of.

The convolution has no bias when a normalization follows it (the norm's shift replaces it), as in
ResNet (He et al. 2016, arXiv:1512.03385) and every BN network after it.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn


class ConvNormAct(nn.Sequential):
    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        *,
        kernel_size: int | tuple[int, int] = 3,
        stride: int = 1,
        padding: int | tuple[int, int] | None = None,
        dilation: int = 1,
        groups: int = 1,
        bias: bool | None = None,
        norm_layer: type[nn.Module] | None = nn.BatchNorm2d,
        act_layer: type[nn.Module] | None = nn.ReLU,
    ) -> None:
        if padding is None:  # "same" for odd kernels at stride 1
            k = (kernel_size,) * 2 if isinstance(kernel_size, int) else kernel_size
            padding = tuple(dilation * (ki - 1) // 2 for ki in k)
        layers: OrderedDict[str, nn.Module] = OrderedDict({
            "conv": nn.Conv2d(
                in_chs, out_chs, kernel_size, stride=stride, padding=padding, dilation=dilation,
                groups=groups, bias=norm_layer is None if bias is None else bias,
            )
        })
        if norm_layer is not None:
            layers["norm"] = norm_layer(out_chs)
        if act_layer is not None:
            layers["act"] = act_layer()
        super().__init__(layers)
        self.out_chs = out_chs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x)
