"""Dense connectivity of Huang et al. 2017, "Densely Connected Convolutional Networks"
(arXiv:1608.06993).

Inside a `DenseBlock` every layer sees the concatenation of the block input and all earlier layers'
outputs, x_l = H_l([x_0, x_1, ..., x_{l-1}]), and adds `growth_rate` (k) channels, so a block of n
layers maps C channels to C + n*k. `DenseLayer` is H_l: BN-ReLU-3x3 conv, or with the bottleneck of
DenseNet-B (section 3) BN-ReLU-1x1 conv (bn_size*k channels) then BN-ReLU-3x3 conv (k channels).
`Transition` sits between blocks: BN-ReLU-1x1 conv (compression: DenseNet-C keeps a fraction
theta of the channels) and a 2x2/2 average pool.

The normalization and activation come before each convolution (pre-activation), so none of the
convolutions needs a bias. The paper's text describes the transition as BN + 1x1 conv + pool; its
composite function H and the authors' code put a ReLU between the two, as here (no parameters).
"""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn


class NormActConv(nn.Sequential):
    """norm -> activation -> convolution (no bias): the pre-activation unit DenseNet is made of."""

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        *,
        kernel_size: int = 1,
        norm_layer: type[nn.Module] = nn.BatchNorm2d,
        act_layer: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__(OrderedDict(
            norm=norm_layer(in_chs),
            act=act_layer(),
            conv=nn.Conv2d(in_chs, out_chs, kernel_size, padding=kernel_size // 2, bias=False),
        ))
        self.out_chs = out_chs


class DenseLayer(nn.Module):
    """H_l: [BN-ReLU-1x1 (bn_size * k)] -> BN-ReLU-3x3 (k); `bn_size=None` drops the bottleneck."""

    def __init__(
        self,
        in_chs: int,
        *,
        growth_rate: int,
        bn_size: int | None = 4,
        drop_rate: float = 0.0,
        norm_layer: type[nn.Module] = nn.BatchNorm2d,
        act_layer: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        self.bottleneck = None
        mid = in_chs
        if bn_size:
            mid = bn_size * growth_rate
            self.bottleneck = NormActConv(in_chs, mid, kernel_size=1,
                                          norm_layer=norm_layer, act_layer=act_layer)
        self.conv = NormActConv(mid, growth_rate, kernel_size=3,
                                norm_layer=norm_layer, act_layer=act_layer)
        # the paper's dropout after each conv, used on CIFAR without data augmentation
        self.drop = nn.Dropout(drop_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bottleneck is not None:
            x = self.drop(self.bottleneck(x))  # (B, bn_size*k, H, W)
        return self.drop(self.conv(x))  # (B, k, H, W)


class DenseBlock(nn.ModuleDict):
    """`num_layers` dense layers; the output is the input with every layer's k channels appended."""

    def __init__(
        self,
        in_chs: int,
        *,
        num_layers: int,
        growth_rate: int,
        bn_size: int | None = 4,
        drop_rate: float = 0.0,
        norm_layer: type[nn.Module] = nn.BatchNorm2d,
        act_layer: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__({
            f"layer{i + 1}": DenseLayer(in_chs + i * growth_rate, growth_rate=growth_rate,
                                        bn_size=bn_size, drop_rate=drop_rate,
                                        norm_layer=norm_layer, act_layer=act_layer)
            for i in range(num_layers)
        })
        self.out_chs = in_chs + num_layers * growth_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.values():
            # x holds the block input and every earlier layer's output, so each layer reads them
            # all: concatenating (not summing) is what makes the block dense
            x = torch.cat([x, layer(x)], 1)  # (B, C + i*k, H, W)
        return x  # (B, C + n*k, H, W)


class Transition(nn.Sequential):
    """BN-ReLU-1x1 conv to `out_chs` (theta * C under compression), then 2x2/2 average pooling."""

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        *,
        norm_layer: type[nn.Module] = nn.BatchNorm2d,
        act_layer: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__(OrderedDict(
            reduce=NormActConv(in_chs, out_chs, kernel_size=1,
                               norm_layer=norm_layer, act_layer=act_layer),
            pool=nn.AvgPool2d(2, stride=2),
        ))
        self.out_chs = out_chs
