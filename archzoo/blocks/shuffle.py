"""Channel shuffle and the ShuffleNet units built around it.

- ShuffleNet: Zhang et al. 2018, "ShuffleNet: An Extremely Efficient Convolutional Neural Network
  for Mobile Devices" (arXiv:1707.01083). Grouped 1x1 convolutions are cheap but each group sees
  only its own inputs; shuffling the channels between two grouped layers (section 3.1: reshape to
  (g, C/g), transpose, flatten) lets information cross groups. `ShuffleUnitV1` is Figure 2 (b, c):
  GConv 1x1 -> BN ReLU -> shuffle -> DWConv 3x3 -> BN -> GConv 1x1 -> BN, added to the input (stride
  1) or concatenated with a 3x3 average-pooled input (stride 2), then ReLU.
- ShuffleNet V2: Ma et al. 2018, "ShuffleNet V2: Practical Guidelines for Efficient CNN
  Architecture Design" (arXiv:1807.11164), Figure 3 (c, d): split the channels in half, keep one
  half and send the other through 1x1 -> DW 3x3 -> 1x1 (equal widths, no grouped 1x1), concatenate,
  shuffle with 2 groups; the stride-2 unit sends the whole input down two branches instead.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .conv_norm_act import ConvNormAct


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    b, c, h, w = x.shape
    x = x.view(b, groups, c // groups, h, w)  # (B, g, C/g, H, W)
    return x.transpose(1, 2).reshape(b, c, h, w)  # (B, C, H, W), channel i*g + j <- j*C/g + i


class ChannelShuffle(nn.Module):
    def __init__(self, *, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] % self.groups:
            raise ValueError(f"channel shuffle with {self.groups} groups needs channels divisible "
                             f"by {self.groups}; got {x.shape[1]}")
        return channel_shuffle(x, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


class ShuffleUnitV1(nn.Module):
    """`mid_chs` defaults to a quarter of `out_chs` (the paper's bottleneck); `group_first=False`
    keeps the first 1x1 dense, as the paper does where the input has few channels (stage 2)."""

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        *,
        groups: int,
        stride: int = 1,
        mid_chs: int | None = None,
        group_first: bool = True,
        norm_layer: type[nn.Module] = nn.BatchNorm2d,
        act_layer: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        if stride not in (1, 2) or (stride == 1 and in_chs != out_chs):
            raise ValueError(f"ShuffleUnitV1 takes stride 1 with in_chs == out_chs, or stride 2; "
                             f"got stride {stride}, {in_chs} -> {out_chs} channels")
        mid_chs = mid_chs or out_chs // 4
        branch_chs = out_chs - in_chs if stride == 2 else out_chs  # stride 2 concatenates the input
        first_groups = groups if group_first else 1
        self.reduce = ConvNormAct(in_chs, mid_chs, kernel_size=1, padding=0, groups=first_groups,
                                  norm_layer=norm_layer, act_layer=act_layer)
        # a dense first layer already mixes every channel: nothing to shuffle
        self.shuffle = ChannelShuffle(groups=groups) if first_groups > 1 else nn.Identity()
        self.depthwise = ConvNormAct(mid_chs, mid_chs, kernel_size=3, stride=stride, groups=mid_chs,
                                     norm_layer=norm_layer, act_layer=None)
        self.expand = ConvNormAct(mid_chs, branch_chs, kernel_size=1, padding=0, groups=groups,
                                  norm_layer=norm_layer, act_layer=None)
        self.shortcut = nn.AvgPool2d(3, stride=2, padding=1) if stride == 2 else None
        self.act = act_layer()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(self.depthwise(self.shuffle(self.reduce(x))))
        if self.shortcut is None:
            return self.act(x + y)
        return self.act(torch.cat([self.shortcut(x), y], dim=1))  # (B, in + branch, H/2, W/2)


class ShuffleUnitV2(nn.Module):
    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        *,
        stride: int = 1,
        norm_layer: type[nn.Module] = nn.BatchNorm2d,
        act_layer: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        if stride not in (1, 2) or (stride == 1 and in_chs != out_chs) or out_chs % 2:
            raise ValueError(f"ShuffleUnitV2 takes stride 1 with in_chs == out_chs, or stride 2, "
                             f"and an even out_chs; got stride {stride}, {in_chs} -> {out_chs}")
        self.stride = stride
        branch_chs = out_chs // 2
        branch_in = in_chs if stride == 2 else branch_chs

        def dw(chs: int) -> ConvNormAct:  # no activation after the depthwise conv (Figure 3)
            return ConvNormAct(chs, chs, kernel_size=3, stride=stride, groups=chs,
                               norm_layer=norm_layer, act_layer=None)

        def pw(i: int, o: int) -> ConvNormAct:
            return ConvNormAct(i, o, kernel_size=1, padding=0, norm_layer=norm_layer, act_layer=act_layer)

        # the left branch: identity at stride 1, DW 3x3 / 2 -> 1x1 at stride 2
        self.left = nn.Sequential(dw(in_chs), pw(in_chs, branch_chs)) if stride == 2 else nn.Identity()
        self.right = nn.Sequential(pw(branch_in, branch_chs), dw(branch_chs), pw(branch_chs, branch_chs))
        self.shuffle = ChannelShuffle(groups=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            kept, x = x.chunk(2, dim=1)  # 2 x (B, C/2, H, W)
        else:
            kept = self.left(x)
        return self.shuffle(torch.cat([kept, self.right(x)], dim=1))  # (B, out, H', W')
