"""Inception modules: parallel branches of different receptive fields, concatenated on channels.

`InceptionV1` is the module of Szegedy et al. 2014, "Going Deeper with Convolutions"
(arXiv:1409.4842), Figure 2(b): 1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | 3x3 max pool -> 1x1, the 1x1s
reducing channels before the expensive convolutions. `kernel_5x5=3` gives the 3x3 that the widely
used reference implementation has in that branch.

`InceptionV3A` ... `InceptionV3E` are the modules of Szegedy et al. 2016, "Rethinking the Inception
Architecture for Computer Vision" (arXiv:1512.00567), in the layout of the authors' released
Inception-v3 (the paper's figures give the branch structure, not every width):
- A (35x35, Figure 5): 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | avg pool -> 1x1. The release keeps
  a 5x5 branch beside the factorized double 3x3.
- B (35 -> 17 grid reduction, Figure 10): 3x3/2 | 1x1 -> 3x3 -> 3x3/2 | max pool /2.
- C (17x17, Figure 6): n x n factorized into 1xn and nx1 (n = 7): 1x1 | 1x1 -> 1x7 -> 7x1 |
  1x1 -> 7x1 -> 1x7 -> 7x1 -> 1x7 | avg pool -> 1x1.
- D (17 -> 8 grid reduction): 1x1 -> 3x3/2 | 1x1 -> 1x7 -> 7x1 -> 3x3/2 | max pool /2.
- E (8x8, Figure 7): the expanded filter bank, whose 3x3 branches end in 1x3 and 3x1 side by side.
"""
from __future__ import annotations

from functools import partial

import torch
import torch.nn as nn

from .conv_norm_act import ConvNormAct


class Concat(nn.ModuleList):
    """Runs every branch on the same input and concatenates the outputs on channels."""

    def __init__(self, *branches: nn.Module, out_chs: int) -> None:
        super().__init__(branches)
        self.out_chs = out_chs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self], 1)  # (B, sum of branch C, H, W)


def _conv(norm_layer: type[nn.Module] | None, act_layer: type[nn.Module]):
    return partial(ConvNormAct, norm_layer=norm_layer, act_layer=act_layer)


class InceptionV1(Concat):
    def __init__(
        self,
        in_chs: int,
        *,
        c1x1: int,
        c3x3_reduce: int,
        c3x3: int,
        c5x5_reduce: int,
        c5x5: int,
        pool_proj: int,
        kernel_5x5: int = 5,
        norm_layer: type[nn.Module] | None = None,
        act_layer: type[nn.Module] = nn.ReLU,
    ) -> None:
        conv = _conv(norm_layer, act_layer)
        super().__init__(
            conv(in_chs, c1x1, kernel_size=1),
            nn.Sequential(conv(in_chs, c3x3_reduce, kernel_size=1),
                          conv(c3x3_reduce, c3x3, kernel_size=3)),
            nn.Sequential(conv(in_chs, c5x5_reduce, kernel_size=1),
                          conv(c5x5_reduce, c5x5, kernel_size=kernel_5x5)),
            nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1),
                          conv(in_chs, pool_proj, kernel_size=1)),
            out_chs=c1x1 + c3x3 + c5x5 + pool_proj,
        )


class InceptionV3A(Concat):
    def __init__(
        self,
        in_chs: int,
        *,
        pool_proj: int,
        norm_layer: type[nn.Module] | None = nn.BatchNorm2d,
        act_layer: type[nn.Module] = nn.ReLU,
    ) -> None:
        conv = _conv(norm_layer, act_layer)
        super().__init__(
            conv(in_chs, 64, kernel_size=1),
            nn.Sequential(conv(in_chs, 48, kernel_size=1), conv(48, 64, kernel_size=5)),
            nn.Sequential(conv(in_chs, 64, kernel_size=1), conv(64, 96, kernel_size=3),
                          conv(96, 96, kernel_size=3)),
            nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1),
                          conv(in_chs, pool_proj, kernel_size=1)),
            out_chs=64 + 64 + 96 + pool_proj,
        )


class InceptionV3B(Concat):
    """Grid reduction: stride-2 convolutions beside a stride-2 pool, so nothing is a bottleneck."""

    def __init__(
        self,
        in_chs: int,
        *,
        norm_layer: type[nn.Module] | None = nn.BatchNorm2d,
        act_layer: type[nn.Module] = nn.ReLU,
    ) -> None:
        conv = _conv(norm_layer, act_layer)
        super().__init__(
            conv(in_chs, 384, kernel_size=3, stride=2, padding=0),
            nn.Sequential(conv(in_chs, 64, kernel_size=1), conv(64, 96, kernel_size=3),
                          conv(96, 96, kernel_size=3, stride=2, padding=0)),
            nn.MaxPool2d(3, stride=2),
            out_chs=384 + 96 + in_chs,
        )


class InceptionV3C(Concat):
    """7x7 receptive fields from 1x7 and 7x1 convolutions (`mid_chs` wide), 192 out per branch."""

    def __init__(
        self,
        in_chs: int,
        *,
        mid_chs: int,
        norm_layer: type[nn.Module] | None = nn.BatchNorm2d,
        act_layer: type[nn.Module] = nn.ReLU,
    ) -> None:
        conv = _conv(norm_layer, act_layer)
        c = mid_chs
        super().__init__(
            conv(in_chs, 192, kernel_size=1),
            nn.Sequential(conv(in_chs, c, kernel_size=1), conv(c, c, kernel_size=(1, 7)),
                          conv(c, 192, kernel_size=(7, 1))),
            nn.Sequential(conv(in_chs, c, kernel_size=1), conv(c, c, kernel_size=(7, 1)),
                          conv(c, c, kernel_size=(1, 7)), conv(c, c, kernel_size=(7, 1)),
                          conv(c, 192, kernel_size=(1, 7))),
            nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1), conv(in_chs, 192, kernel_size=1)),
            out_chs=4 * 192,
        )


class InceptionV3D(Concat):
    def __init__(
        self,
        in_chs: int,
        *,
        norm_layer: type[nn.Module] | None = nn.BatchNorm2d,
        act_layer: type[nn.Module] = nn.ReLU,
    ) -> None:
        conv = _conv(norm_layer, act_layer)
        super().__init__(
            nn.Sequential(conv(in_chs, 192, kernel_size=1),
                          conv(192, 320, kernel_size=3, stride=2, padding=0)),
            nn.Sequential(conv(in_chs, 192, kernel_size=1), conv(192, 192, kernel_size=(1, 7)),
                          conv(192, 192, kernel_size=(7, 1)),
                          conv(192, 192, kernel_size=3, stride=2, padding=0)),
            nn.MaxPool2d(3, stride=2),
            out_chs=320 + 192 + in_chs,
        )


class InceptionV3E(Concat):
    """Widened for the 8x8 grid: each 3x3 path splits into parallel 1x3 and 3x1 convolutions."""

    def __init__(
        self,
        in_chs: int,
        *,
        norm_layer: type[nn.Module] | None = nn.BatchNorm2d,
        act_layer: type[nn.Module] = nn.ReLU,
    ) -> None:
        conv = _conv(norm_layer, act_layer)

        def split(chs: int) -> Concat:  # (B, chs, H, W) -> (B, 768, H, W)
            return Concat(conv(chs, 384, kernel_size=(1, 3)), conv(chs, 384, kernel_size=(3, 1)),
                          out_chs=768)

        super().__init__(
            conv(in_chs, 320, kernel_size=1),
            nn.Sequential(conv(in_chs, 384, kernel_size=1), split(384)),
            nn.Sequential(conv(in_chs, 448, kernel_size=1), conv(448, 384, kernel_size=3),
                          split(384)),
            nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1), conv(in_chs, 192, kernel_size=1)),
            out_chs=320 + 768 + 768 + 192,
        )
