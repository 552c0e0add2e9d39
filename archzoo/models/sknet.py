"""SKNet: Li, Wang, Hu, Yang 2019, "Selective Kernel Networks" (arXiv:1903.06586).

SKNet-50 (Table 1) is ResNeXt-50 (32x4d) with every grouped 3x3 replaced by a selective kernel
convolution SK[M=2, G=32, r=16]: two paths (3x3 and 3x3 with dilation 2), d = max(C/16, 32)
attention channels (see `blocks/selective_kernel.py`). Down-sampling is in the SK convolution, as in
ResNeXt.

Departures and options:
- The paper gives 27.5M parameters and 4.47 GFLOPs; archzoo takes the paper's equations literally
  (fuse FC without bias, followed by BN; select matrices without bias) and counts 27,479,784,
  which rounds to the paper's 27.5M (MACs 4.463e9, 0.2% under 4.47e9). timm's `skresnet50` is a
  different, slimmer network (SK on ResNet-50 with split inputs, 25.8M), not a reference here.
- `stem="cifar"` keeps 28x28 / 32x32 inputs at full resolution, as in `resnet.py`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

from ..blocks.selective_kernel import SKBottleneck
from ._base import ImageClassifier
from ._registry import ModelCard, Paper, register_variants
from .resnet import ResNetConfig, build_resnet

PAPER = Paper("Selective Kernel Networks", 2019, "1903.06586", "Li, Wang, Hu, Yang")


@dataclass(frozen=True)
class SKNetConfig(ResNetConfig):
    num_paths: int = 2  # M
    reduction: int = 16  # r
    min_attn_chs: int = 32  # L


def _sk_block(cfg: SKNetConfig, in_chs: int, out_chs: int, mid_chs: int, stride: int) -> nn.Module:
    return SKBottleneck(in_chs, out_chs, mid_chs=mid_chs, stride=stride, groups=cfg.groups,
                        num_paths=cfg.num_paths, reduction=cfg.reduction,
                        min_attn_chs=cfg.min_attn_chs, shortcut=cfg.shortcut)


def build_sknet(cfg: SKNetConfig) -> ImageClassifier:
    return build_resnet(cfg, _sk_block)


VARIANTS: dict[str, SKNetConfig] = {
    "sknet50": SKNetConfig("bottleneck", (3, 4, 6, 3), groups=32, width_per_group=4,
                           stride_in_3x3=True),
}


def _card(name: str, cfg: SKNetConfig) -> ModelCard:
    return ModelCard(
        name=name, family="sknet", task="classification", paper=PAPER, input_size=(3, 224, 224),
        num_classes=cfg.num_classes, params=27_479_784, macs=4_470_000_000,
        source="params: archzoo's exact count of the paper's Table 1 net (the paper: 27.5M); "
               "MACs: the paper's Table 1 (4.47 GFLOPs = multiply-adds)",
        macs_convention="the paper's rounded figure (multiply-adds of conv and FC layers)",
        small_input_size=(3, 32, 32),
        notes=("no reference implementation has these exact layers; the count is archzoo's",),
    )


register_variants("sknet", VARIANTS, build_sknet, _card)
