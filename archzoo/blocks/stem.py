"""The ResNet-style tail (He et al. 2016, arXiv:1512.03385) that ResNet, pre-activation ResNet,
DenseNet and DPN share, and the small-input tail offered in its place.

"imagenet": 7x7/2 conv + 3x3/2 max pool (reduction 4). "cifar": one 3x3/1 conv (reduction 1), so
28x28 and 32x32 inputs keep their resolution. Pre-activation nets pass `norm_act=False`: their first
block normalizes and activates, so the stem's conv is bare.
"""
from __future__ import annotations

import torch.nn as nn

from .conv_norm_act import ConvNormAct


def resnet_stem(kind: str, *, in_chs: int, out_chs: int, norm_act: bool = True) -> tuple[nn.Module, int]:
    """Return (tail, reduction) for `kind` "imagenet" or "cifar"."""
    norm, act = (nn.BatchNorm2d, nn.ReLU) if norm_act else (None, None)
    if kind == "imagenet":
        conv = ConvNormAct(in_chs, out_chs, kernel_size=7, stride=2, padding=3, bias=False,
                           norm_layer=norm, act_layer=act)
        return nn.Sequential(conv, nn.MaxPool2d(3, stride=2, padding=1)), 4
    if kind == "cifar":
        return ConvNormAct(in_chs, out_chs, kernel_size=3, bias=False, norm_layer=norm,
                           act_layer=act), 1
    raise ValueError(f"unknown stem {kind!r}; expected 'imagenet' or 'cifar'")
