"""Xception: Chollet 2017, "Xception: Deep Learning with Depthwise Separable Convolutions"
(arXiv:1610.02357).

Figure 5: an entry flow (two 3x3 convs, unpadded, the first with stride 2, then three blocks of
two separable convs + a 3x3/2 max-pool at 128, 256, 728 channels, each around a 1x1/2 conv + BN
shortcut), a middle flow of eight identity-shortcut blocks of three ReLU-separable-BN units at 728
channels, an exit flow (a block to 1024 with a strided shortcut, then separable convs to 1536 and
2048 with ReLU), global average pooling and the logistic-regression layer. Every separable conv is
a depthwise 3x3 straight into a pointwise 1x1, with no norm or activation between them
(section 4.7: an intermediate non-linearity hurts), and BN after both.

Departures and options:
- The reference implementation (timm's `legacy_xception`, whose parameter count the card gives)
  applies its first block ReLU in place, so the shortcut sees the activated input; here the
  shortcut takes the block's input as in the paper's Keras code. Same parameters and MACs.
- The paper's dropout of 0.5 before the classifier (section 4.4) is the default `drop_rate`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ..blocks import ClassifierHead, ConvNormAct
from ..blocks.separable import DepthwiseSeparableConv
from ._base import FeatureInfo, ImageClassifier, build_classifier
from ._registry import ModelCard, Paper, register_variants

PAPER = Paper("Xception: Deep Learning with Depthwise Separable Convolutions", 2017, "1610.02357",
              "Chollet")


def separable_bn(in_chs: int, out_chs: int) -> nn.Sequential:
    # nn.Identity as the "norm" keeps depthwise and pointwise back to back and bias-free
    return nn.Sequential(
        DepthwiseSeparableConv(in_chs, out_chs, norm_layer=nn.Identity, act_layer=None,
                               pw_act=False),
        nn.BatchNorm2d(out_chs),
    )


class XceptionBlock(nn.Module):
    """`reps` x (ReLU -> separable conv -> BN), an optional 3x3 max-pool, plus the shortcut."""

    def __init__(self, in_chs: int, out_chs: int, *, reps: int, stride: int = 1,
                 start_with_relu: bool = True, grow_first: bool = True) -> None:
        super().__init__()
        # the width grows in the first unit (entry flow) or in the last (exit flow's 728 -> 1024)
        chs = [in_chs] + ([out_chs] * reps if grow_first else [in_chs] * (reps - 1) + [out_chs])
        units: list[nn.Module] = []
        for i in range(reps):
            if i > 0 or start_with_relu:
                units.append(nn.ReLU())
            units.append(separable_bn(chs[i], chs[i + 1]))
        if stride != 1:
            units.append(nn.MaxPool2d(3, stride=stride, padding=1))
        self.units = nn.Sequential(*units)
        self.shortcut = (ConvNormAct(in_chs, out_chs, kernel_size=1, stride=stride, padding=0,
                                     act_layer=None)
                         if stride != 1 or in_chs != out_chs else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.units(x) + self.shortcut(x)


@dataclass(frozen=True)
class XceptionConfig:
    entry_chs: tuple[int, int] = (32, 64)  # the two plain convs
    block_chs: tuple[int, ...] = (128, 256, 728)  # entry-flow blocks
    middle_blocks: int = 8
    exit_chs: tuple[int, int, int] = (1024, 1536, 2048)
    num_classes: int = 1000
    in_chans: int = 3
    drop_rate: float = 0.5


def build_xception(cfg: XceptionConfig) -> ImageClassifier:
    def make() -> ImageClassifier:
        c1, c2 = cfg.entry_chs
        tail = nn.Sequential(ConvNormAct(cfg.in_chans, c1, kernel_size=3, stride=2, padding=0),
                             ConvNormAct(c1, c2, kernel_size=3, padding=0))
        entry, chs = [], c2
        for i, out in enumerate(cfg.block_chs):
            entry.append(XceptionBlock(chs, out, reps=2, stride=2, start_with_relu=i > 0))
            chs = out
        middle = [XceptionBlock(chs, chs, reps=3) for _ in range(cfg.middle_blocks)]
        e1, e2, e3 = cfg.exit_chs
        exit_flow = nn.Sequential(
            XceptionBlock(chs, e1, reps=2, stride=2, grow_first=False),
            separable_bn(e1, e2), nn.ReLU(), separable_bn(e2, e3), nn.ReLU(),
        )
        n = len(cfg.block_chs)
        info = [FeatureInfo("body.0", chs, 2 ** (n + 1)), FeatureInfo("body.1", chs, 2 ** (n + 1)),
                FeatureInfo("body.2", e3, 2 ** (n + 2))]
        model = ImageClassifier(
            tail=tail, body=nn.Sequential(nn.Sequential(*entry), nn.Sequential(*middle), exit_flow),
            head=ClassifierHead(e3, cfg.num_classes, drop_rate=cfg.drop_rate),
            feature_info=info, in_chans=cfg.in_chans, num_classes=cfg.num_classes, num_features=e3,
        )
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        return model

    return build_classifier(make)


VARIANTS: dict[str, XceptionConfig] = {"xception": XceptionConfig()}


def _card(name: str, cfg: XceptionConfig) -> ModelCard:
    return ModelCard(
        name=name, family="xception", task="classification", paper=PAPER,
        input_size=(3, 299, 299), num_classes=cfg.num_classes, params=22_855_952,
        macs=8_357_403_496,
        source="timm 1.0.31 reference implementation legacy_xception (params; MACs by "
               "torch.utils.flop_counter); the paper's Table 3 gives the same 22,855,952",
        macs_convention="matmul-class ops only, no bias", small_input_size=(3, 32, 32),
        notes=("the shortcut sees the block's input before its first ReLU (the paper's code), "
               "not after it (the reference's in-place ReLU)",),
    )


register_variants("xception", VARIANTS, build_xception, _card)
