"""Pre-activation ResNet: He, Zhang, Ren, Sun 2016, "Identity Mappings in Deep Residual Networks"
(arXiv:1603.05027).

ResNet-50/101's layout (a 7x7/2 conv + 3x3/2 max-pool tail, four stages of bottlenecks at 64, 128,
256, 512 times 4 channels) with full pre-activation blocks (Figure 4e, `blocks/preact.py`): every
block starts with BN-ReLU, nothing follows the addition, so the tail's conv has no BN of its own
and a final BN-ReLU closes the body before the pool (section 4.1 / Figure 5).

Departures and options:
- Down-sampling is in the 3x3 conv: the paper does not say, its ImageNet code (built on
  fb.resnet.torch) and the reference implementation (timm's `resnetv2_50`) do so.
- `stem="cifar"` (3x3/1 conv, no max-pool) keeps 28x28 / 32x32 inputs at full resolution.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

from ..blocks import ClassifierHead
from ..blocks.preact import NormAct, PreActBottleneck
from ..blocks.stem import resnet_stem
from ._base import FeatureInfo, ImageClassifier, build_classifier
from ._registry import ModelCard, Paper, register_variants

PAPER = Paper("Identity Mappings in Deep Residual Networks", 2016, "1603.05027",
              "He, Zhang, Ren, Sun")


@dataclass(frozen=True)
class ResNetV2Config:
    layers: tuple[int, ...]  # blocks per stage
    widths: tuple[int, ...] = (64, 128, 256, 512)  # 3x3 width of each stage
    expansion: int = 4
    stem: str = "imagenet"  # "imagenet" (7x7/2 + max-pool) or "cifar" (3x3/1)
    stem_width: int = 64
    num_classes: int = 1000
    in_chans: int = 3
    drop_rate: float = 0.0


def _tail(cfg: ResNetV2Config) -> tuple[nn.Module, int]:
    # no BN-ReLU in the stem: the first block pre-activates
    return resnet_stem(cfg.stem, in_chs=cfg.in_chans, out_chs=cfg.stem_width, norm_act=False)


def build_resnetv2(cfg: ResNetV2Config) -> ImageClassifier:
    def make() -> ImageClassifier:
        tail, reduction = _tail(cfg)
        stages, info, chs = [], [], cfg.stem_width
        for i, (width, depth) in enumerate(zip(cfg.widths, cfg.layers)):
            stride = 1 if i == 0 else 2
            out = width * cfg.expansion
            stage = nn.Sequential(*(
                PreActBottleneck(chs if j == 0 else out, out, mid_chs=width,
                                 stride=stride if j == 0 else 1)
                for j in range(depth)
            ))
            chs, reduction = out, reduction * stride
            if i == len(cfg.layers) - 1:  # the sums are never activated: normalize once at the end
                stage.add_module("norm", NormAct(chs))
            stages.append(stage)
            info.append(FeatureInfo(f"body.{i}", chs, reduction))
        model = ImageClassifier(
            tail=tail, body=nn.Sequential(*stages),
            head=ClassifierHead(chs, cfg.num_classes, drop_rate=cfg.drop_rate),
            feature_info=info, in_chans=cfg.in_chans, num_classes=cfg.num_classes,
            num_features=chs,
        )
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        return model

    return build_classifier(make)


VARIANTS: dict[str, ResNetV2Config] = {
    "resnetv2_50": ResNetV2Config((3, 4, 6, 3)),
    "resnetv2_101": ResNetV2Config((3, 4, 23, 3)),
}

_TIMM = "timm 1.0.31 reference implementation (params; MACs by torch.utils.flop_counter)"
_FIGURES = {
    "resnetv2_50": (25_549_352, 4_089_184_256, _TIMM + "; reference/model_figures.csv"),
    "resnetv2_101": (44_541_480, 7_801_405_440,
                     _TIMM + " (resnetv2_101, counted in an oracle venv)"),
}


def _card(name: str, cfg: ResNetV2Config) -> ModelCard:
    params, macs, source = _FIGURES[name]
    return ModelCard(
        name=name, family="resnetv2", task="classification", paper=PAPER,
        input_size=(3, 224, 224), num_classes=cfg.num_classes, params=params, macs=macs,
        source=source, macs_convention="matmul-class ops only, no bias",
        small_input_size=(3, 32, 32),
        notes=("stride 2 in the 3x3 conv (the authors' ImageNet code; the paper does not say)",),
    )


register_variants("resnetv2", VARIANTS, build_resnetv2, _card)
