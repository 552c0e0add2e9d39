"""ShuffleNet V1 and V2.

- V1: Zhang et al. 2018, "ShuffleNet: An Extremely Efficient Convolutional Neural Network for
  Mobile Devices" (arXiv:1707.01083), Table 1: a 3x3/2 conv (24) and 3x3/2 max-pool, three stages
  of 4 / 8 / 4 shuffle units (the first at stride 2) whose width depends on the number of groups g
  (stage 2: 144, 200, 240, 272, 384 for g = 1, 2, 3, 4, 8; doubling per stage), global pool, FC.
  "ShuffleNet s x" scales every layer's filters by s (Table 2: 1x, 0.5x, 0.25x).
- V2: Ma et al. 2018, "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design"
  (arXiv:1807.11164), Table 5: the same tail and 4 / 8 / 4 stages of V2 units, then a 1x1 conv to
  1024 (2048 for 2x), global pool, FC.

Departures and notes:
- V1 gives no parameter counts; the cards hold archzoo's exact count. Its MACs are the paper's
  complexities: Table 1 per group count for 1x, Table 2 for the scaled nets (g = 3).
- V1's first unit of stage 2 keeps its first 1x1 dense (section 3.3: the input has only 24
  channels) and so skips the shuffle after it, which would only permute the channels.
- V1 scales the tail's 24 filters with s too (12 at 0.5x), as the authors' code does, except at
  0.25x: the paper's 13 MFLOPs there fits a 12-filter tail (13.3M) and not a 6-filter one (11.0M).
- Every layer pads, so any input of at least 1x1 runs, but the stride-32 ImageNet net shrinks 28x28
  to 1x1 in its last stage. `stem="cifar"` is archzoo's small-input configuration (not in the
  papers; common CIFAR ports of ShuffleNet make the same change): the 3x3 conv runs at stride 1
  and the max-pool is dropped, so the net divides the side by 8 (28x28 -> 4x4 at the last stage).
  The layers and the parameter count stay the same.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

from ..blocks.conv_norm_act import ConvNormAct
from ..blocks.heads import ClassifierHead
from ..blocks.shuffle import ShuffleUnitV1, ShuffleUnitV2
from ._base import FeatureInfo, ImageClassifier, build_classifier
from ._registry import ModelCard, Paper, register_variants

PAPERS = {
    "v1": Paper("ShuffleNet: An Extremely Efficient Convolutional Neural Network for Mobile Devices",
                2018, "1707.01083", "Zhang, Zhou, Lin, Sun"),
    "v2": Paper("ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design", 2018,
                "1807.11164", "Ma, Zhang, Zheng, Sun"),
}
V1_STAGE2 = {1: 144, 2: 200, 3: 240, 4: 272, 8: 384}  # Table 1: stage-2 width per group count
# Table 5: tail, stage 2, 3, 4 and conv5 widths per scale
V2_WIDTHS = {0.5: (24, 48, 96, 192, 1024), 1.0: (24, 116, 232, 464, 1024),
             1.5: (24, 176, 352, 704, 1024), 2.0: (24, 244, 488, 976, 2048)}


@dataclass(frozen=True)
class ShuffleNetConfig:
    version: str  # "v1" or "v2"
    scale: float = 1.0  # the paper's "s x"
    groups: int = 3  # V1's group count
    stem_chs: int | None = None  # V1's tail width; None: 24 x scale
    repeats: tuple[int, ...] = (4, 8, 4)  # units per stage
    drop_rate: float = 0.0
    stem: str = "imagenet"  # "imagenet" (3x3/2 conv + 3x3/2 max-pool) or "cifar" (3x3/1 conv)
    num_classes: int = 1000
    in_chans: int = 3


def _widths(cfg: ShuffleNetConfig) -> tuple[int, ...]:
    if cfg.version == "v2":
        if cfg.scale not in V2_WIDTHS:
            raise ValueError(f"ShuffleNet V2 has scales {sorted(V2_WIDTHS)}; got {cfg.scale}")
        return V2_WIDTHS[cfg.scale]
    if cfg.groups not in V1_STAGE2:
        raise ValueError(f"ShuffleNet V1 has groups {sorted(V1_STAGE2)}; got {cfg.groups}")
    base = V1_STAGE2[cfg.groups]
    stages = (int(base * 2**i * cfg.scale) for i in range(len(cfg.repeats)))
    return (cfg.stem_chs or int(24 * cfg.scale), *stages)


def build_shufflenet(cfg: ShuffleNetConfig) -> ImageClassifier:
    if cfg.version not in ("v1", "v2"):
        raise ValueError(f"unknown ShuffleNet version {cfg.version!r}; expected 'v1' or 'v2'")
    if cfg.stem not in ("imagenet", "cifar"):
        raise ValueError(f"unknown ShuffleNet stem {cfg.stem!r}; expected 'imagenet' or 'cifar'")
    widths = _widths(cfg)

    def make() -> ImageClassifier:
        chs = widths[0]
        if cfg.stem == "cifar":  # the same parameter names as the ImageNet tail's
            tail = nn.Sequential(ConvNormAct(cfg.in_chans, chs, kernel_size=3, stride=1))
        else:
            tail = nn.Sequential(ConvNormAct(cfg.in_chans, chs, kernel_size=3, stride=2),
                                 nn.MaxPool2d(3, stride=2, padding=1))
        stages, info, reduction = [], [], 1 if cfg.stem == "cifar" else 4
        for i, n in enumerate(cfg.repeats):
            out, units = widths[1 + i], []
            for j in range(n):
                stride = 2 if j == 0 else 1
                if cfg.version == "v1":
                    units.append(ShuffleUnitV1(chs, out, groups=cfg.groups, stride=stride,
                                               group_first=(i, j) != (0, 0)))
                else:
                    units.append(ShuffleUnitV2(chs, out, stride=stride))
                chs = out
            reduction *= 2
            stages.append(nn.Sequential(*units))
            info.append(FeatureInfo(f"body.{i}", chs, reduction))
        if cfg.version == "v2":  # conv5
            stages.append(ConvNormAct(chs, widths[-1], kernel_size=1, padding=0))
            chs = widths[-1]
            info.append(FeatureInfo(f"body.{len(stages) - 1}", chs, reduction))
        return ImageClassifier(
            tail=tail, body=nn.Sequential(*stages),
            head=ClassifierHead(chs, cfg.num_classes, drop_rate=cfg.drop_rate),
            feature_info=info, in_chans=cfg.in_chans, num_classes=cfg.num_classes, num_features=chs,
        )

    return build_classifier(make)


VARIANTS: dict[str, ShuffleNetConfig] = {
    **{f"shufflenet_v1_g{g}_x1_0": ShuffleNetConfig("v1", groups=g) for g in V1_STAGE2},
    "shufflenet_v1_g3_x0_5": ShuffleNetConfig("v1", scale=0.5, groups=3),
    "shufflenet_v1_g3_x0_25": ShuffleNetConfig("v1", scale=0.25, groups=3, stem_chs=12),
    "shufflenet_v2_x0_5": ShuffleNetConfig("v2", scale=0.5),
    "shufflenet_v2_x1_0": ShuffleNetConfig("v2", scale=1.0),
    "shufflenet_v2_x1_5": ShuffleNetConfig("v2", scale=1.5),
    "shufflenet_v2_x2_0": ShuffleNetConfig("v2", scale=2.0),
}

_TV = "torchvision 0.29 reference implementation (params; MACs by torch.utils.flop_counter)"
_V1 = "params: archzoo's exact count (the paper gives none); MACs: the paper's Table {t} ({m} MFLOPs)"
# name: (params, MACs, source)
_FIGURES: dict[str, tuple[int, int, str]] = {
    "shufflenet_v1_g1_x1_0": (1_531_936, 143_000_000, _V1.format(t=1, m=143)),
    "shufflenet_v1_g2_x1_0": (1_733_848, 140_000_000, _V1.format(t=1, m=140)),
    "shufflenet_v1_g3_x1_0": (1_865_728, 137_000_000, _V1.format(t=1, m=137)),
    "shufflenet_v1_g4_x1_0": (1_968_344, 133_000_000, _V1.format(t=1, m=133)),
    "shufflenet_v1_g8_x1_0": (2_434_768, 137_000_000, _V1.format(t=1, m=137)),
    "shufflenet_v1_g3_x0_5": (718_324, 38_000_000, _V1.format(t=2, m=38)),
    "shufflenet_v1_g3_x0_25": (306_124, 13_000_000, _V1.format(t=2, m=13)),
    "shufflenet_v2_x0_5": (1_366_792, 40_476_448, _TV + "; the paper's Table 5: 1.4M, 41M"),
    "shufflenet_v2_x1_0": (2_278_604, 144_907_992, _TV + "; the paper's Table 5: 2.3M, 146M"),
    "shufflenet_v2_x1_5": (3_503_624, 295_759_392, _TV + "; the paper's Table 5: 3.5M, 299M"),
    "shufflenet_v2_x2_0": (7_393_996, 583_253_464, _TV + "; the paper's Table 5: 7.4M, 591M"),
}
_TOP1 = {"shufflenet_v2_x0_5": 60.552, "shufflenet_v2_x1_0": 69.362, "shufflenet_v2_x1_5": 72.996,
         "shufflenet_v2_x2_0": 76.23}  # torchvision IMAGENET1K_V1


def _card(name: str, cfg: ShuffleNetConfig) -> ModelCard:
    params, macs, source = _FIGURES[name]
    notes = ["28x28 (Fashion-MNIST): the ImageNet net shrinks it to 1x1; stem=cifar (3x3/1 conv, no "
             "max-pool) keeps side / 8: 28x28 ends at 4x4"]
    if cfg.version == "v1":
        notes.append("stage 2's first unit: dense first 1x1, no shuffle after it")
    if cfg.stem_chs:
        notes.append(f"tail of {cfg.stem_chs} filters, not 24 x {cfg.scale} (fits the paper's "
                     "13 MFLOPs, which is rounded to two digits: archzoo counts 13.3M)")
    return ModelCard(
        name=name, family="shufflenet", task="classification", paper=PAPERS[cfg.version],
        input_size=(3, 224, 224), num_classes=cfg.num_classes, params=params, macs=macs,
        source=source,
        macs_convention="matmul-class ops only, no bias" if cfg.version == "v2" else
        "the paper's rounded complexity (multiply-adds of conv and FC layers)",
        small_input_size=(3, 64, 64), notes=tuple(notes),
        accuracy={"imagenet_top1": _TOP1[name]} if name in _TOP1 else {},
    )


register_variants("shufflenet", VARIANTS, build_shufflenet, _card)
