"""Residual blocks of He et al. 2016, "Deep Residual Learning for Image Recognition" (arXiv:1512.03385).

`BasicBlock` is two 3x3 convolutions (ResNet-18/34 and the CIFAR nets), `Bottleneck` is
1x1 reduce -> 3x3 -> 1x1 expand (ResNet-50 and deeper). A shortcut that changes shape is either a
1x1 projection with BN (the paper's option B) or the parameter-free option A: subsample by the
stride and pad the new channels with zeros (section 4.2's CIFAR nets).

`stride_in_3x3` moves the bottleneck's down-sampling from the first 1x1 (the paper) to the 3x3,
the "v1.5" change of the common reference implementation (more MACs, better accuracy).
`groups` and `mid_chs` make the same block serve ResNeXt and wide ResNets.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .conv_norm_act import ConvNormAct


class ZeroPadShortcut(nn.Module):
    """Option A: x[:, :, ::s, ::s] with zero channels appended; no parameters."""

    def __init__(self, *, in_chs: int, out_chs: int, stride: int) -> None:
        super().__init__()
        self.stride, self.extra = stride, out_chs - in_chs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))  # pad channels at the end


def make_shortcut(
    *, in_chs: int, out_chs: int, stride: int, kind: str, norm_layer: type[nn.Module]
) -> nn.Module:
    if in_chs == out_chs and stride == 1:
        return nn.Identity()
    if kind == "projection":
        return ConvNormAct(in_chs, out_chs, kernel_size=1, stride=stride, padding=0,
                           norm_layer=norm_layer, act_layer=None)
    if kind == "zero_pad":
        return ZeroPadShortcut(in_chs=in_chs, out_chs=out_chs, stride=stride)
    raise ValueError(f"unknown shortcut {kind!r}; expected 'projection' or 'zero_pad'")


class BasicBlock(nn.Module):
    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        *,
        stride: int = 1,
        shortcut: str = "projection",
        norm_layer: type[nn.Module] = nn.BatchNorm2d,
        act_layer: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        self.conv1 = ConvNormAct(in_chs, out_chs, kernel_size=3, stride=stride,
                                 norm_layer=norm_layer, act_layer=act_layer)
        self.conv2 = ConvNormAct(out_chs, out_chs, kernel_size=3,
                                 norm_layer=norm_layer, act_layer=None)
        self.shortcut = make_shortcut(in_chs=in_chs, out_chs=out_chs, stride=stride,
                                      kind=shortcut, norm_layer=norm_layer)
        self.act = act_layer()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv2(self.conv1(x)) + self.shortcut(x))


class Bottleneck(nn.Module):
    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        *,
        mid_chs: int,
        stride: int = 1,
        groups: int = 1,
        stride_in_3x3: bool = False,
        shortcut: str = "projection",
        norm_layer: type[nn.Module] = nn.BatchNorm2d,
        act_layer: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        s1, s3 = (1, stride) if stride_in_3x3 else (stride, 1)
        self.conv1 = ConvNormAct(in_chs, mid_chs, kernel_size=1, stride=s1, padding=0,
                                 norm_layer=norm_layer, act_layer=act_layer)
        self.conv2 = ConvNormAct(mid_chs, mid_chs, kernel_size=3, stride=s3, groups=groups,
                                 norm_layer=norm_layer, act_layer=act_layer)
        self.conv3 = ConvNormAct(mid_chs, out_chs, kernel_size=1, padding=0,
                                 norm_layer=norm_layer, act_layer=None)
        self.shortcut = make_shortcut(in_chs=in_chs, out_chs=out_chs, stride=stride,
                                      kind=shortcut, norm_layer=norm_layer)
        self.act = act_layer()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv3(self.conv2(self.conv1(x))) + self.shortcut(x))
