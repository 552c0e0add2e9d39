"""EfficientNet and EfficientNetV2.

- Tan and Le 2019, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks"
  (arXiv:1905.11946). B0 (Table 1) is seven stages of MBConv blocks with squeeze-and-excitation
  (bottleneck 1/4 of the block's input width) and SiLU ("swish"); B1-B7 scale it by compound
  scaling: width (channels, rounded to multiples of 8), depth (blocks, rounded up) and resolution.
- Tan and Le 2021, "EfficientNetV2: Smaller Models and Faster Training" (arXiv:2104.00298). S is
  Table 4: Fused-MBConv (no SE) in the first three stages, MBConv with SE after; M and L are the
  official implementation's scaled-up tables (the paper gives only S).

Departures and notes:
- Cards state MACs at 224x224 for every variant so that the figures compare one-to-one with the
  reference implementation; the paper's resolutions (B1 240 ... B7 600; V2 evaluated at 384/480)
  and FLOPs are in each card's notes. Any input size runs: every layer pads.
- The stride-32 ImageNet nets shrink 28x28 to 1x1 before the last stages. `stem="cifar"` is
  archzoo's small-input configuration (not in the papers; the change CIFAR ports of MobileNetV2-
  style nets make): the stem conv and the first stride-2 stage run at stride 1, so the net divides
  the side by 8 (28x28 -> 4x4 at the last stage). Same layers, same parameter count.
- Stochastic depth rises linearly from 0 (first block) to `drop_path_rate` (last block) as in
  Huang et al.; the reference stops one step short of the rate. Dropout before the classifier
  is the paper's 0.2 (B0) to 0.5 (B7); V2 uses the reference's fixed 0.2 / 0.3 / 0.4 (S / M / L)
  where the paper ramps it up during progressive learning (Table 6).
- BatchNorm eps is PyTorch's 1e-5 for B0-B7 and 1e-3 for V2, as the reference implementation's
  converted weights use (momentum stays PyTorch's 0.1; the paper trains with TensorFlow's 0.99).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import torch.nn as nn

from ..blocks.conv_norm_act import ConvNormAct
from ..blocks.heads import ClassifierHead
from ..blocks.mbconv import FusedMBConv, MBConv, make_divisible
from ..blocks.stochastic_depth import drop_path_rates
from ._base import FeatureInfo, ImageClassifier, build_classifier
from ._registry import ModelCard, Paper, register_variants

PAPERS = {
    "v1": Paper("EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks", 2019,
                "1905.11946", "Tan, Le"),
    "v2": Paper("EfficientNetV2: Smaller Models and Faster Training", 2021, "2104.00298", "Tan, Le"),
}

# per stage: (block, expand ratio, kernel, stride, out channels, blocks, SE ratio of the input width)
B0 = (("mb", 1, 3, 1, 16, 1, 0.25), ("mb", 6, 3, 2, 24, 2, 0.25), ("mb", 6, 5, 2, 40, 2, 0.25),
      ("mb", 6, 3, 2, 80, 3, 0.25), ("mb", 6, 5, 1, 112, 3, 0.25), ("mb", 6, 5, 2, 192, 4, 0.25),
      ("mb", 6, 3, 1, 320, 1, 0.25))
V2_S = (("fused", 1, 3, 1, 24, 2, 0), ("fused", 4, 3, 2, 48, 4, 0), ("fused", 4, 3, 2, 64, 4, 0),
        ("mb", 4, 3, 2, 128, 6, 0.25), ("mb", 6, 3, 1, 160, 9, 0.25), ("mb", 6, 3, 2, 256, 15, 0.25))
V2_M = (("fused", 1, 3, 1, 24, 3, 0), ("fused", 4, 3, 2, 48, 5, 0), ("fused", 4, 3, 2, 80, 5, 0),
        ("mb", 4, 3, 2, 160, 7, 0.25), ("mb", 6, 3, 1, 176, 14, 0.25), ("mb", 6, 3, 2, 304, 18, 0.25),
        ("mb", 6, 3, 1, 512, 5, 0.25))
V2_L = (("fused", 1, 3, 1, 32, 4, 0), ("fused", 4, 3, 2, 64, 7, 0), ("fused", 4, 3, 2, 96, 7, 0),
        ("mb", 4, 3, 2, 192, 10, 0.25), ("mb", 6, 3, 1, 224, 19, 0.25), ("mb", 6, 3, 2, 384, 25, 0.25),
        ("mb", 6, 3, 1, 640, 7, 0.25))


@dataclass(frozen=True)
class EfficientNetConfig:
    stages: tuple[tuple, ...]
    width: float = 1.0  # compound-scaling width coefficient
    depth: float = 1.0  # compound-scaling depth coefficient
    stem_chs: int = 32
    head_chs: int = 1280
    drop_rate: float = 0.2
    drop_path_rate: float = 0.2
    norm_eps: float = 1e-5
    stem: str = "imagenet"  # "imagenet" (stride 32), or "cifar": stem and first stride-2 stage at stride 1
    num_classes: int = 1000
    in_chans: int = 3


def build_efficientnet(cfg: EfficientNetConfig) -> ImageClassifier:
    blocks = {"mb": MBConv, "fused": FusedMBConv}
    for row in cfg.stages:
        if row[0] not in blocks:
            raise ValueError(f"unknown block {row[0]!r} in {row}; expected 'mb' or 'fused'")
    if cfg.stem not in ("imagenet", "cifar"):
        raise ValueError(f"unknown EfficientNet stem {cfg.stem!r}; expected 'imagenet' or 'cifar'")
    strides = [row[3] for row in cfg.stages]
    if cfg.stem == "cifar" and 2 in strides:
        strides[strides.index(2)] = 1

    def make() -> ImageClassifier:
        norm = partial(nn.BatchNorm2d, eps=cfg.norm_eps)
        chs = make_divisible(cfg.stem_chs * cfg.width)
        tail_stride = 1 if cfg.stem == "cifar" else 2
        tail = ConvNormAct(cfg.in_chans, chs, kernel_size=3, stride=tail_stride, norm_layer=norm,
                           act_layer=nn.SiLU)
        depths = [math.ceil(row[5] * cfg.depth) for row in cfg.stages]
        rates = iter(drop_path_rates(cfg.drop_path_rate, sum(depths)))
        stages, info, reduction = [], [], tail_stride
        for (kind, expand, k, _, out, _, se), n, stride in zip(cfg.stages, depths, strides):
            out = make_divisible(out * cfg.width)
            stage = []
            for i in range(n):
                stage.append(blocks[kind](
                    chs, out, mid_chs=chs * expand, kernel_size=k, stride=stride if i == 0 else 1,
                    se_chs=max(1, int(chs * se)) if se else 0, norm_layer=norm, act_layer=nn.SiLU,
                    se_act_layer=nn.SiLU, drop_path=next(rates)))
                chs = out
            reduction *= stride
            stages.append(nn.Sequential(*stage))
            info.append(FeatureInfo(f"body.{len(stages) - 1}", chs, reduction))
        head_chs = make_divisible(cfg.head_chs * cfg.width)
        stages.append(ConvNormAct(chs, head_chs, kernel_size=1, padding=0, norm_layer=norm,
                                  act_layer=nn.SiLU))
        info.append(FeatureInfo(f"body.{len(stages) - 1}", head_chs, reduction))
        model = ImageClassifier(
            tail=tail, body=nn.Sequential(*stages),
            head=ClassifierHead(head_chs, cfg.num_classes, drop_rate=cfg.drop_rate),
            feature_info=info, in_chans=cfg.in_chans, num_classes=cfg.num_classes,
            num_features=head_chs,
        )
        for m in model.modules():  # the reference implementation's initialization
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                bound = 1.0 / math.sqrt(m.out_features)
                nn.init.uniform_(m.weight, -bound, bound)
                nn.init.zeros_(m.bias)
        return model

    return build_classifier(make)


def _b(width: float, depth: float, drop_rate: float) -> EfficientNetConfig:
    return EfficientNetConfig(B0, width=width, depth=depth, drop_rate=drop_rate)


def _v2(stages: tuple[tuple, ...], drop_rate: float) -> EfficientNetConfig:
    return EfficientNetConfig(stages, stem_chs=stages[0][4], drop_rate=drop_rate, norm_eps=1e-3)


VARIANTS: dict[str, EfficientNetConfig] = {  # (width, depth, dropout) from the paper's scaling
    "efficientnet_b0": _b(1.0, 1.0, 0.2),
    "efficientnet_b1": _b(1.0, 1.1, 0.2),
    "efficientnet_b2": _b(1.1, 1.2, 0.3),
    "efficientnet_b3": _b(1.2, 1.4, 0.3),
    "efficientnet_b4": _b(1.4, 1.8, 0.4),
    "efficientnet_b5": _b(1.6, 2.2, 0.4),
    "efficientnet_b6": _b(1.8, 2.6, 0.5),
    "efficientnet_b7": _b(2.0, 3.1, 0.5),
    "efficientnet_v2_s": _v2(V2_S, 0.2),
    "efficientnet_v2_m": _v2(V2_M, 0.3),
    "efficientnet_v2_l": _v2(V2_L, 0.4),
}

_TV = "torchvision 0.29 reference implementation (params; MACs at 224x224 by torch.utils.flop_counter)"
# name: (params, MACs at 224, the paper's resolution, the paper's params / FLOPs at that resolution)
_FIGURES: dict[str, tuple[int, int, int, str]] = {
    "efficientnet_b0": (5_288_548, 385_814_752, 224, "5.3M / 0.39B"),
    "efficientnet_b1": (7_794_184, 569_651_680, 240, "7.8M / 0.70B"),
    "efficientnet_b2": (9_109_994, 658_963_440, 260, "9.2M / 1.0B"),
    "efficientnet_b3": (12_233_232, 962_708_240, 300, "12M / 1.8B"),
    "efficientnet_b4": (19_341_616, 1_503_710_432, 380, "19M / 4.2B"),
    "efficientnet_b5": (30_389_784, 2_356_493_184, 456, "30M / 9.9B"),
    "efficientnet_b6": (43_040_704, 3_360_166_848, 528, "43M / 19B"),
    "efficientnet_b7": (66_347_960, 5_169_865_152, 600, "66M / 37B"),
    "efficientnet_v2_s": (21_458_488, 2_849_895_872, 384, "22M / 8.8B"),
    "efficientnet_v2_m": (54_139_356, 5_362_207_200, 480, "54M / 24B"),
    "efficientnet_v2_l": (118_515_272, 12_231_188_544, 480, "120M / 53B"),
}
_TOP1 = {"efficientnet_b0": 77.692, "efficientnet_b1": 78.642, "efficientnet_b2": 80.608,
         "efficientnet_b3": 82.008, "efficientnet_b4": 83.384, "efficientnet_b5": 83.444,
         "efficientnet_b6": 84.008, "efficientnet_b7": 84.122, "efficientnet_v2_s": 84.228,
         "efficientnet_v2_m": 85.112, "efficientnet_v2_l": 85.808}  # torchvision IMAGENET1K_V1
# the test contract runs forward + backward at this side; the big variants get a small map
_SMALL = {"efficientnet_b0": 64, "efficientnet_b1": 64, "efficientnet_b2": 64, "efficientnet_b3": 64}


def _card(name: str, cfg: EfficientNetConfig) -> ModelCard:
    params, macs, side, paper = _FIGURES[name]
    v2 = name.startswith("efficientnet_v2")
    notes = [f"the paper evaluates at {side}x{side} ({paper} params / FLOPs there); the card's MACs "
             "are at 224x224", "stochastic depth rises linearly to the full rate at the last block",
             "28x28 (Fashion-MNIST): the ImageNet net shrinks it to 1x1; stem=cifar runs the stem and "
             "the first stride-2 stage at stride 1 (side / 8: 28x28 ends at 4x4)"]
    if v2 and name != "efficientnet_v2_s":
        notes.append("stage table from the official implementation (the paper gives only V2-S)")
    small = _SMALL.get(name, 32)
    return ModelCard(
        name=name, family="efficientnet", task="classification", paper=PAPERS["v2" if v2 else "v1"],
        input_size=(3, 224, 224), num_classes=cfg.num_classes, params=params, macs=macs,
        source=_TV, macs_convention="matmul-class ops only, no bias",
        small_input_size=(3, small, small), notes=tuple(notes),
        accuracy={"imagenet_top1": _TOP1[name]},
    )


register_variants("efficientnet", VARIANTS, build_efficientnet, _card)
