"""Inception-v4 and Inception-ResNet modules: Szegedy, Ioffe, Vanhoucke, Alemi 2017, "Inception-v4,
Inception-ResNet and the Impact of Residual Connections on Learning" (arXiv:1602.07261).

Inception-v4 (Figures 3-8): `InceptionV4Stem` (Figure 3, 299 -> 35x35x384), `InceptionV4A`
(Figure 4), `ReductionA` (Figure 7, widths k, l, m, n of Table 1, shared with both Inception-ResNets),
`InceptionV4B` (Figure 5), `ReductionV4B` (Figure 8), `InceptionV4C` (Figure 6). "V" in the figures
is a valid (unpadded) convolution; every other convolution keeps the grid ("same" padding).
The figures' "1x7" / "7x1" labels do not say which side is the height, so each pair of factorized
convolutions runs in the order of the authors' released network, kernels (height, width) as
PyTorch writes them: the same parameters and multiply-adds either way, and the release's weights
map one to one. Branches are concatenated in the release's order too (pooling branch last).

Inception-ResNet (Figures 10-19): `InceptionResNetA/B/C` run a small Inception module, project its
concatenation back to the input width with a linear 1x1 convolution (bias, no BN: the paper puts
BN only "on top of the traditional layers, but not on top of the summations"), scale it by `scale`
(section 3.3: 0.1 to 0.3 keeps very wide nets from dying early in training) and add it to the
input, then ReLU. `ReductionResNetB` is Figures 12 / 18. `InceptionResNetV1Stem` is Figure 14.

The Inception modules are `Concat`s from `inception.py`: each branch sees the same input.
"""
from __future__ import annotations

from functools import partial

import torch
import torch.nn as nn

from .conv_norm_act import ConvNormAct
from .inception import Concat

Norm = type[nn.Module] | None


def _conv(norm_layer: Norm, act_layer: type[nn.Module]):
    return partial(ConvNormAct, norm_layer=norm_layer, act_layer=act_layer)


def _avg_pool() -> nn.Module:
    # the released nets average over the real pixels only at the border
    return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)


class InceptionV4Stem(nn.Sequential):
    """Figure 3: (B, C, 299, 299) -> (B, 384, 35, 35), max-pools and convolutions side by side."""

    def __init__(self, in_chs: int, *, norm_layer: Norm = nn.BatchNorm2d,
                 act_layer: type[nn.Module] = nn.ReLU) -> None:
        conv = _conv(norm_layer, act_layer)
        super().__init__(
            conv(in_chs, 32, kernel_size=3, stride=2, padding=0),  # (B, 32, 149, 149)
            conv(32, 32, kernel_size=3, padding=0), conv(32, 64, kernel_size=3),  # (B, 64, 147, 147)
            Concat(nn.MaxPool2d(3, stride=2), conv(64, 96, kernel_size=3, stride=2, padding=0),
                   out_chs=160),  # (B, 160, 73, 73)
            Concat(nn.Sequential(conv(160, 64, kernel_size=1), conv(64, 96, kernel_size=3, padding=0)),
                   nn.Sequential(conv(160, 64, kernel_size=1), conv(64, 64, kernel_size=(1, 7)),
                                 conv(64, 64, kernel_size=(7, 1)),
                                 conv(64, 96, kernel_size=3, padding=0)),
                   out_chs=192),  # (B, 192, 71, 71)
            Concat(conv(192, 192, kernel_size=3, stride=2, padding=0), nn.MaxPool2d(3, stride=2),
                   out_chs=384),  # (B, 384, 35, 35)
        )
        self.out_chs = 384


class InceptionV4A(Concat):
    def __init__(self, in_chs: int, *, norm_layer: Norm = nn.BatchNorm2d,
                 act_layer: type[nn.Module] = nn.ReLU) -> None:
        conv = _conv(norm_layer, act_layer)
        super().__init__(
            conv(in_chs, 96, kernel_size=1),
            nn.Sequential(conv(in_chs, 64, kernel_size=1), conv(64, 96, kernel_size=3)),
            nn.Sequential(conv(in_chs, 64, kernel_size=1), conv(64, 96, kernel_size=3),
                          conv(96, 96, kernel_size=3)),
            nn.Sequential(_avg_pool(), conv(in_chs, 96, kernel_size=1)),
            out_chs=4 * 96,
        )


class ReductionA(Concat):
    """Figure 7: 35 -> 17 grid; `k, l, m, n` are Table 1's filter counts for each network."""

    def __init__(self, in_chs: int, *, k: int, l: int, m: int, n: int,  # noqa: E741 (the paper's)
                 norm_layer: Norm = nn.BatchNorm2d, act_layer: type[nn.Module] = nn.ReLU) -> None:
        conv = _conv(norm_layer, act_layer)
        super().__init__(
            conv(in_chs, n, kernel_size=3, stride=2, padding=0),
            nn.Sequential(conv(in_chs, k, kernel_size=1), conv(k, l, kernel_size=3),
                          conv(l, m, kernel_size=3, stride=2, padding=0)),
            nn.MaxPool2d(3, stride=2),
            out_chs=n + m + in_chs,
        )


class InceptionV4B(Concat):
    def __init__(self, in_chs: int, *, norm_layer: Norm = nn.BatchNorm2d,
                 act_layer: type[nn.Module] = nn.ReLU) -> None:
        conv = _conv(norm_layer, act_layer)
        super().__init__(
            conv(in_chs, 384, kernel_size=1),
            nn.Sequential(conv(in_chs, 192, kernel_size=1), conv(192, 224, kernel_size=(1, 7)),
                          conv(224, 256, kernel_size=(7, 1))),
            nn.Sequential(conv(in_chs, 192, kernel_size=1), conv(192, 192, kernel_size=(7, 1)),
                          conv(192, 224, kernel_size=(1, 7)), conv(224, 224, kernel_size=(7, 1)),
                          conv(224, 256, kernel_size=(1, 7))),
            nn.Sequential(_avg_pool(), conv(in_chs, 128, kernel_size=1)),
            out_chs=384 + 256 + 256 + 128,
        )


class ReductionV4B(Concat):
    """Figure 8: 17 -> 8 grid."""

    def __init__(self, in_chs: int, *, norm_layer: Norm = nn.BatchNorm2d,
                 act_layer: type[nn.Module] = nn.ReLU) -> None:
        conv = _conv(norm_layer, act_layer)
        super().__init__(
            nn.Sequential(conv(in_chs, 192, kernel_size=1),
                          conv(192, 192, kernel_size=3, stride=2, padding=0)),
            nn.Sequential(conv(in_chs, 256, kernel_size=1), conv(256, 256, kernel_size=(1, 7)),
                          conv(256, 320, kernel_size=(7, 1)),
                          conv(320, 320, kernel_size=3, stride=2, padding=0)),
            nn.MaxPool2d(3, stride=2),
            out_chs=192 + 320 + in_chs,
        )


def _split(conv, in_chs: int, out_chs: int) -> Concat:
    """(B, in_chs, H, W) -> (B, 2 * out_chs, H, W): 1x3 and 3x1 side by side (Figure 6)."""
    return Concat(conv(in_chs, out_chs, kernel_size=(1, 3)), conv(in_chs, out_chs, kernel_size=(3, 1)),
                  out_chs=2 * out_chs)


class InceptionV4C(Concat):
    def __init__(self, in_chs: int, *, norm_layer: Norm = nn.BatchNorm2d,
                 act_layer: type[nn.Module] = nn.ReLU) -> None:
        conv = _conv(norm_layer, act_layer)
        super().__init__(
            conv(in_chs, 256, kernel_size=1),
            nn.Sequential(conv(in_chs, 384, kernel_size=1), _split(conv, 384, 256)),
            nn.Sequential(conv(in_chs, 384, kernel_size=1), conv(384, 448, kernel_size=(3, 1)),
                          conv(448, 512, kernel_size=(1, 3)), _split(conv, 512, 256)),
            nn.Sequential(_avg_pool(), conv(in_chs, 256, kernel_size=1)),
            out_chs=256 + 512 + 512 + 256,
        )


class _ScaledResidual(nn.Module):
    """x -> act(x + scale * proj(branches(x))), proj a linear 1x1 back to the input width."""

    def __init__(self, branches: Concat, chs: int, *, scale: float, act: bool,
                 act_layer: type[nn.Module]) -> None:
        super().__init__()
        self.branches = branches
        self.proj = nn.Conv2d(branches.out_chs, chs, 1)
        self.scale = scale
        self.act = act_layer() if act else nn.Identity()
        self.out_chs = chs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.scale * self.proj(self.branches(x)))  # (B, C, H, W)

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


class InceptionResNetA(_ScaledResidual):
    """Figures 10 / 16 (35x35): 1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 -> 3x3, `widths` in that order."""

    def __init__(self, chs: int, *, widths: tuple[int, int, int, int, int, int], scale: float,
                 act: bool = True, norm_layer: Norm = nn.BatchNorm2d,
                 act_layer: type[nn.Module] = nn.ReLU) -> None:
        conv = _conv(norm_layer, act_layer)
        a, b1, b2, c1, c2, c3 = widths
        super().__init__(Concat(
            conv(chs, a, kernel_size=1),
            nn.Sequential(conv(chs, b1, kernel_size=1), conv(b1, b2, kernel_size=3)),
            nn.Sequential(conv(chs, c1, kernel_size=1), conv(c1, c2, kernel_size=3),
                          conv(c2, c3, kernel_size=3)),
            out_chs=a + b2 + c3), chs, scale=scale, act=act, act_layer=act_layer)


class InceptionResNetB(_ScaledResidual):
    """Figures 11 / 17 (17x17): 1x1 | 1x1 -> 1x7 -> 7x1, `widths` in that order."""

    def __init__(self, chs: int, *, widths: tuple[int, int, int, int], scale: float,
                 act: bool = True, norm_layer: Norm = nn.BatchNorm2d,
                 act_layer: type[nn.Module] = nn.ReLU) -> None:
        conv = _conv(norm_layer, act_layer)
        a, b1, b2, b3 = widths
        super().__init__(Concat(
            conv(chs, a, kernel_size=1),
            nn.Sequential(conv(chs, b1, kernel_size=1), conv(b1, b2, kernel_size=(1, 7)),
                          conv(b2, b3, kernel_size=(7, 1))),
            out_chs=a + b3), chs, scale=scale, act=act, act_layer=act_layer)


class InceptionResNetC(_ScaledResidual):
    """Figures 13 / 19 (8x8): 1x1 | 1x1 -> 1x3 -> 3x1, `widths` in that order."""

    def __init__(self, chs: int, *, widths: tuple[int, int, int, int], scale: float,
                 act: bool = True, norm_layer: Norm = nn.BatchNorm2d,
                 act_layer: type[nn.Module] = nn.ReLU) -> None:
        conv = _conv(norm_layer, act_layer)
        a, b1, b2, b3 = widths
        super().__init__(Concat(
            conv(chs, a, kernel_size=1),
            nn.Sequential(conv(chs, b1, kernel_size=1), conv(b1, b2, kernel_size=(1, 3)),
                          conv(b2, b3, kernel_size=(3, 1))),
            out_chs=a + b3), chs, scale=scale, act=act, act_layer=act_layer)


class ReductionResNetB(Concat):
    """Figures 12 / 18: 17 -> 8 grid; `widths` = (r, a, b, c1, c2): 1x1 r -> 3x3/2 a |
    1x1 r -> 3x3/2 b | 1x1 r -> 3x3 c1 -> 3x3/2 c2 | max-pool."""

    def __init__(self, in_chs: int, *, widths: tuple[int, int, int, int, int],
                 norm_layer: Norm = nn.BatchNorm2d, act_layer: type[nn.Module] = nn.ReLU) -> None:
        conv = _conv(norm_layer, act_layer)
        r, a, b, c1, c2 = widths
        down = partial(conv, kernel_size=3, stride=2, padding=0)
        super().__init__(
            nn.Sequential(conv(in_chs, r, kernel_size=1), down(r, a)),
            nn.Sequential(conv(in_chs, r, kernel_size=1), down(r, b)),
            nn.Sequential(conv(in_chs, r, kernel_size=1), conv(r, c1, kernel_size=3),
                          conv(c1, c2, kernel_size=3, stride=2, padding=0)),
            nn.MaxPool2d(3, stride=2),
            out_chs=a + b + c2 + in_chs,
        )


class InceptionResNetV1Stem(nn.Sequential):
    """Figure 14: (B, C, 299, 299) -> (B, 256, 35, 35), a plain chain of convolutions."""

    def __init__(self, in_chs: int, *, norm_layer: Norm = nn.BatchNorm2d,
                 act_layer: type[nn.Module] = nn.ReLU) -> None:
        conv = _conv(norm_layer, act_layer)
        super().__init__(
            conv(in_chs, 32, kernel_size=3, stride=2, padding=0),  # (B, 32, 149, 149)
            conv(32, 32, kernel_size=3, padding=0), conv(32, 64, kernel_size=3),  # (B, 64, 147, 147)
            nn.MaxPool2d(3, stride=2),  # (B, 64, 73, 73)
            conv(64, 80, kernel_size=1), conv(80, 192, kernel_size=3, padding=0),  # (B, 192, 71, 71)
            conv(192, 256, kernel_size=3, stride=2, padding=0),  # (B, 256, 35, 35)
        )
        self.out_chs = 256
