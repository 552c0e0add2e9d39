"""ResNet: He et al. 2016, "Deep Residual Learning for Image Recognition" (arXiv:1512.03385).

ImageNet nets (Table 1): a 7x7/2 conv + 3x3/2 max-pool tail, four stages of basic (18, 34) or
bottleneck (50, 101, 152) blocks, global average pool + linear head. Projection shortcuts
(option B) where the shape changes. CIFAR nets (section 4.2): a 3x3 conv tail with 16 channels,
three stages of n basic blocks at 16, 32, 64 channels (depth 6n + 2), zero-padding shortcuts
(option A).

Departures and options:
- `resnet50/101/152` put the down-sampling stride in the first 1x1 conv, as the paper does; the
  `_v1_5` variants put it in the 3x3, as the widely used reference implementation does (same
  parameters, about 6% more MACs at 224).
- `stem="cifar"` (3x3/1 conv, no max-pool) is offered for any depth so that 28x28 and 32x32
  inputs keep spatial resolution; the paper's ImageNet tail is the default.

ResNeXt: Xie et al. 2017, "Aggregated Residual Transformations for Deep Neural Networks"
(arXiv:1611.05431): the bottleneck's 3x3 becomes a grouped conv (cardinality 32, Figure 3's
form (c)); the paper down-samples in that 3x3 (section 4), so `resnext*` put the stride there.
`resnext101_32x8d` is the reference implementation's wider 101 (the paper's are 32x4d and 64x4d).
Wide ResNet: Zagoruyko and Komodakis 2016, "Wide Residual Networks" (arXiv:1605.07146): the
ImageNet WRN-50-2-bottleneck doubles the 3x3 width of every bottleneck; the paper does
not say where it down-samples, and its released model (like the reference) uses the 3x3.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch.nn as nn

from ..blocks import BasicBlock, Bottleneck, ClassifierHead
from ..blocks.stem import resnet_stem
from ._base import FeatureInfo, ImageClassifier, build_classifier
from ._registry import ModelCard, Paper, register_variants

PAPER = Paper("Deep Residual Learning for Image Recognition", 2016, "1512.03385",
              "He, Zhang, Ren, Sun")
RESNEXT_PAPER = Paper("Aggregated Residual Transformations for Deep Neural Networks", 2017,
                      "1611.05431", "Xie, Girshick, Dollar, Tu, He")
WRN_PAPER = Paper("Wide Residual Networks", 2016, "1605.07146", "Zagoruyko, Komodakis")


@dataclass(frozen=True)
class ResNetConfig:
    block: str  # "basic" or "bottleneck"
    layers: tuple[int, ...]  # blocks per stage
    widths: tuple[int, ...] = (64, 128, 256, 512)  # 3x3 width of each stage
    stem: str = "imagenet"  # "imagenet" (7x7/2 + max-pool) or "cifar" (3x3/1)
    stem_width: int = 64
    shortcut: str = "projection"  # "projection" (option B) or "zero_pad" (option A)
    stride_in_3x3: bool = False
    groups: int = 1
    width_per_group: int = 64
    expansion: int = 4  # bottleneck output = expansion x stage width
    num_classes: int = 1000
    in_chans: int = 3
    drop_rate: float = 0.0


def _tail(cfg: ResNetConfig) -> tuple[nn.Module, int]:
    return resnet_stem(cfg.stem, in_chs=cfg.in_chans, out_chs=cfg.stem_width)


# make_block(cfg, in_chs, out_chs, mid_chs, stride) -> a bottleneck-like block; families built on
# this skeleton (SENet, SKNet) pass their own
BlockFn = Callable[[ResNetConfig, int, int, int, int], nn.Module]


def _bottleneck(cfg: ResNetConfig, in_chs: int, out_chs: int, mid_chs: int,
                stride: int) -> nn.Module:
    return Bottleneck(in_chs, out_chs, mid_chs=mid_chs, stride=stride, groups=cfg.groups,
                      stride_in_3x3=cfg.stride_in_3x3, shortcut=cfg.shortcut)


def _stage(cfg: ResNetConfig, in_chs: int, width: int, depth: int, stride: int,
           make_block: BlockFn) -> tuple[nn.Sequential, int]:
    blocks = []
    for i in range(depth):
        s = stride if i == 0 else 1
        if cfg.block == "basic":
            blocks.append(BasicBlock(in_chs, width, stride=s, shortcut=cfg.shortcut))
            in_chs = width
        else:
            mid = int(width * cfg.width_per_group / 64) * cfg.groups
            out = width * cfg.expansion
            blocks.append(make_block(cfg, in_chs, out, mid, s))
            in_chs = out
    return nn.Sequential(*blocks), in_chs


def build_resnet(cfg: ResNetConfig, make_block: BlockFn = _bottleneck) -> ImageClassifier:
    if cfg.block not in ("basic", "bottleneck"):
        raise ValueError(f"unknown block {cfg.block!r}; expected 'basic' or 'bottleneck'")

    def make() -> ImageClassifier:
        tail, reduction = _tail(cfg)
        stages, info, chs = [], [], cfg.stem_width
        for i, (width, depth) in enumerate(zip(cfg.widths, cfg.layers)):
            stride = 1 if i == 0 else 2
            stage, chs = _stage(cfg, chs, width, depth, stride, make_block)
            reduction *= stride
            stages.append(stage)
            info.append(FeatureInfo(f"body.{i}", chs, reduction))
        model = ImageClassifier(
            tail=tail, body=nn.Sequential(*stages),
            head=ClassifierHead(chs, cfg.num_classes, drop_rate=cfg.drop_rate),
            feature_info=info, in_chans=cfg.in_chans, num_classes=cfg.num_classes,
            num_features=chs,
        )
        for m in model.modules():  # He initialization, as the paper (and its reference) use
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        return model

    return build_classifier(make)


def _cifar(n: int) -> ResNetConfig:
    return ResNetConfig("basic", (n, n, n), widths=(16, 32, 64), stem="cifar", stem_width=16,
                        shortcut="zero_pad", num_classes=10)


VARIANTS: dict[str, ResNetConfig] = {
    "resnet18": ResNetConfig("basic", (2, 2, 2, 2)),
    "resnet34": ResNetConfig("basic", (3, 4, 6, 3)),
    "resnet50": ResNetConfig("bottleneck", (3, 4, 6, 3)),
    "resnet101": ResNetConfig("bottleneck", (3, 4, 23, 3)),
    "resnet152": ResNetConfig("bottleneck", (3, 8, 36, 3)),
    "resnet50_v1_5": ResNetConfig("bottleneck", (3, 4, 6, 3), stride_in_3x3=True),
    "resnet101_v1_5": ResNetConfig("bottleneck", (3, 4, 23, 3), stride_in_3x3=True),
    "resnet152_v1_5": ResNetConfig("bottleneck", (3, 8, 36, 3), stride_in_3x3=True),
    "resnext50_32x4d": ResNetConfig("bottleneck", (3, 4, 6, 3), stride_in_3x3=True, groups=32,
                                    width_per_group=4),
    "resnext101_32x8d": ResNetConfig("bottleneck", (3, 4, 23, 3), stride_in_3x3=True, groups=32,
                                     width_per_group=8),
    "wide_resnet50_2": ResNetConfig("bottleneck", (3, 4, 6, 3), stride_in_3x3=True,
                                    width_per_group=128),
    "resnet20": _cifar(3),
    "resnet56": _cifar(9),
    "resnet110": _cifar(18),
}

_TV = "torchvision 0.29 reference implementation (params; MACs by torch.utils.flop_counter)"
# name: (params, MACs, source, ImageNet top-1 of the reference implementation if published)
_FIGURES: dict[str, tuple[int, int | None, str]] = {
    "resnet18": (11_689_512, 1_814_073_344, _TV),
    "resnet34": (21_797_672, 3_663_761_408, _TV),
    "resnet50": (25_557_032, None, "params: " + _TV + "; MACs: the paper's Table 1 (3.8e9 FLOPs = multiply-adds)"),
    "resnet101": (44_549_160, None, "params: " + _TV + "; MACs: the paper's Table 1 (7.6e9)"),
    "resnet152": (60_192_808, None, "params: " + _TV + "; MACs: the paper's Table 1 (11.3e9)"),
    "resnet50_v1_5": (25_557_032, 4_089_184_256, _TV),
    "resnet101_v1_5": (44_549_160, 7_801_405_440, _TV),
    "resnet152_v1_5": (60_192_808, 11_513_626_624, _TV),
    "resnext50_32x4d": (25_028_904, 4_230_479_872, _TV),
    "resnext101_32x8d": (88_791_336, 16_414_015_488, _TV),
    "wide_resnet50_2": (68_883_240, 11_398_021_120, _TV),
    "resnet20": (269_722, 40_551_104, "He et al. 2016 sec 4.2 (0.27M); reference/model_figures.csv resnet20_cifar"),
    "resnet56": (853_018, None, "He et al. 2016 sec 4.2 (0.85M); reference/model_figures.csv resnet56_cifar"),
    "resnet110": (1_727_962, None, "He et al. 2016 sec 4.2 (1.7M); reference/model_figures.csv resnet110_cifar"),
}
_PAPER_MACS = {"resnet50": 3_800_000_000, "resnet101": 7_600_000_000, "resnet152": 11_300_000_000}
# torchvision's published ImageNet top-1 (IMAGENET1K_V1 weights)
_TOP1 = {"resnet18": 69.758, "resnet34": 73.314, "resnet50_v1_5": 76.130, "resnet101_v1_5": 77.374,
         "resnet152_v1_5": 78.312, "resnext50_32x4d": 77.618, "resnext101_32x8d": 79.312,
         "wide_resnet50_2": 78.468}


def _card(name: str, cfg: ResNetConfig) -> ModelCard:
    params, macs, source = _FIGURES[name]
    cifar = cfg.stem == "cifar"
    notes = []
    if name.endswith("_v1_5"):
        notes.append("stride 2 in the bottleneck's 3x3 conv, not its first 1x1 (reference 'v1.5')")
    if name == "resnext101_32x8d":
        notes.append("32x8d is the reference implementation's variant; the paper's 101 is 32x4d")
    if name == "wide_resnet50_2":
        notes.append("stride 2 in the 3x3 conv (the paper does not say; its released model does)")
    if cifar:
        notes.append("CIFAR net of section 4.2: option-A zero-padding shortcuts, 10 classes")
    return ModelCard(
        name=name, family="resnet", task="classification",
        paper=RESNEXT_PAPER if name.startswith("resnext") else WRN_PAPER if name.startswith("wide")
        else PAPER,
        input_size=(3, 32, 32) if cifar else (3, 224, 224), num_classes=cfg.num_classes,
        params=params, macs=macs or _PAPER_MACS.get(name), source=source,
        macs_convention="matmul-class ops only, no bias" if macs else
        "the paper's rounded figure (multiply-adds of conv and FC layers)",
        small_input_size=(3, 32, 32) if cifar or cfg.groups > 1 or cfg.width_per_group > 64
        else (3, 64, 64), notes=tuple(notes),
        accuracy={"imagenet_top1": _TOP1[name]} if name in _TOP1 else {},
    )


register_variants("resnet", VARIANTS, build_resnet, _card)
