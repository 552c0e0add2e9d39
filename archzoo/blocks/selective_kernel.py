"""Selective kernel convolution: Li, Wang, Hu, Yang 2019, "Selective Kernel Networks"
(arXiv:1903.06586), section 3.1.

Split: M paths see the same input with growing receptive fields (3x3 grouped convs with dilation
1, 2, ...: the paper replaces the 5x5 by a dilated 3x3 for efficiency), each followed by BN-ReLU.
Fuse: U = sum of the paths; s = global average pool of U; z = ReLU(BN(W s)) with
d = max(C / r, L) channels (L = 32). Select: per path a C x d matrix gives one logit per channel;
a softmax across the M paths weights them, so the weights of each channel sum to 1 and the
neuron's effective receptive field follows the input.

    V = sum_m a_m * U_m,   a_m = softmax_m(A_m z)    (per channel)

Like the paper's equations, the select matrices have no bias. `SKBottleneck` is the SK unit of
SKNet-50: ResNeXt's bottleneck with its grouped 3x3 replaced by this convolution.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .conv_norm_act import ConvNormAct
from .residual import make_shortcut


class SelectiveKernel(nn.Module):
    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        *,
        stride: int = 1,
        groups: int = 32,
        num_paths: int = 2,
        reduction: int = 16,
        min_attn_chs: int = 32,
        norm_layer: type[nn.Module] = nn.BatchNorm2d,
        act_layer: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        self.paths = nn.ModuleList(
            ConvNormAct(in_chs, out_chs, kernel_size=3, stride=stride, dilation=m + 1,
                        groups=groups, norm_layer=norm_layer, act_layer=act_layer)
            for m in range(num_paths)
        )
        attn_chs = max(out_chs // reduction, min_attn_chs)
        self.fuse = ConvNormAct(out_chs, attn_chs, kernel_size=1, padding=0,
                                norm_layer=norm_layer, act_layer=act_layer)
        self.select = nn.Conv2d(attn_chs, out_chs * num_paths, 1, bias=False)  # A, B, ... stacked
        self.num_paths, self.out_chs = num_paths, out_chs

    def path_weights(self, feats: torch.Tensor) -> torch.Tensor:
        """Softmax weights (B, M, C, 1, 1) of the paths' outputs `feats` (B, M, C, H, W)."""
        s = feats.sum(1).mean((2, 3), keepdim=True)  # fuse: (B, C, 1, 1)
        logits = self.select(self.fuse(s))  # (B, M*C, 1, 1)
        return logits.view(-1, self.num_paths, self.out_chs, 1, 1).softmax(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = torch.stack([path(x) for path in self.paths], dim=1)  # (B, M, C, H, W)
        return (feats * self.path_weights(feats)).sum(1)  # (B, C, H, W)


class SKBottleneck(nn.Module):
    """1x1 reduce -> selective kernel (carries the stride) -> 1x1 expand, plus the shortcut."""

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        *,
        mid_chs: int,
        stride: int = 1,
        groups: int = 32,
        num_paths: int = 2,
        reduction: int = 16,
        min_attn_chs: int = 32,
        shortcut: str = "projection",
        norm_layer: type[nn.Module] = nn.BatchNorm2d,
        act_layer: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        self.conv1 = ConvNormAct(in_chs, mid_chs, kernel_size=1, padding=0,
                                 norm_layer=norm_layer, act_layer=act_layer)
        self.conv2 = SelectiveKernel(mid_chs, mid_chs, stride=stride, groups=groups,
                                     num_paths=num_paths, reduction=reduction,
                                     min_attn_chs=min_attn_chs, norm_layer=norm_layer,
                                     act_layer=act_layer)
        self.conv3 = ConvNormAct(mid_chs, out_chs, kernel_size=1, padding=0,
                                 norm_layer=norm_layer, act_layer=None)
        self.shortcut = make_shortcut(in_chs=in_chs, out_chs=out_chs, stride=stride,
                                      kind=shortcut, norm_layer=norm_layer)
        self.act = act_layer()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv3(self.conv2(self.conv1(x))) + self.shortcut(x))
