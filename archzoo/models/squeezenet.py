"""SqueezeNet: Iandola, Han, Moskewicz, Ashraf, Dally, Keutzer 2016, "SqueezeNet: AlexNet-level
accuracy with 50x fewer parameters and <0.5MB model size" (arXiv:1602.07360).

`squeezenet1_0` is Table 1 / Figure 2 (left): conv1 96@7x7/2, max-pool, fire2-4, max-pool, fire5-8,
max-pool, fire9, dropout 0.5, conv10 (1x1, one channel per class) + ReLU, global average pool;
1,248,424 parameters, as Table 1 states. `squeezenet1_1` is the v1.1 of the authors' repository
(forresti/SqueezeNet, not in the paper): conv1 64@3x3/2 and the max-pools moved earlier (after
conv1, fire3, fire5), about 2.4x fewer MACs at the same accuracy. Max-pools are 3x3/2 with Caffe's
ceil rounding.

The head has no fully connected layer: conv10 classifies every position and the votes are averaged
(seed 003's per-position classifier). archzoo writes conv10 as a linear layer applied at each
position (the same weights and MACs as a 1x1 conv), so `head.fc` is a linear layer like every other
classifier's, and `forward_head(x, pre_logits=True)` returns the average-pooled features it sees.

Departure: conv1 has no padding, so a 224x224 input gives 109x109 after conv1 where Table 1 lists
111x111 (the paper's Caffe model takes 227x227 crops); this is the reference implementation's
arithmetic, whose MACs the cards cite. The paper's bypass variants are not registered.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

from ..blocks import ConvNormAct
from ..blocks.fire import Fire
from ..blocks.heads import PositionwiseHead
from ._base import FeatureInfo, ImageClassifier, build_classifier
from ._registry import ModelCard, Paper, register_variants

PAPER = Paper("SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size",
              2016, "1602.07360", "Iandola, Han, Moskewicz, Ashraf, Dally, Keutzer")


@dataclass(frozen=True)
class SqueezeNetConfig:
    stem_width: int
    stem_kernel: int
    # per stage, (s1x1, e1x1 = e3x3) of each fire module; a 3x3/2 max-pool opens each later stage
    stages: tuple[tuple[tuple[int, int], ...], ...]
    drop_rate: float = 0.5
    in_chans: int = 3
    num_classes: int = 1000


def build_squeezenet(cfg: SqueezeNetConfig) -> ImageClassifier:
    def make() -> ImageClassifier:
        tail = nn.Sequential(
            ConvNormAct(cfg.in_chans, cfg.stem_width, kernel_size=cfg.stem_kernel, stride=2,
                        padding=0, norm_layer=None),
            nn.MaxPool2d(3, stride=2, ceil_mode=True),  # (B, stem_width, H/4, W/4)
        )
        stages, info, chs, reduction, index = [], [], cfg.stem_width, 4, 2
        for i, fires in enumerate(cfg.stages):
            stage = nn.Sequential()
            if i > 0:
                stage.add_module("pool", nn.MaxPool2d(3, stride=2, ceil_mode=True))
                reduction *= 2
            for squeeze, expand in fires:
                fire = Fire(chs, squeeze_chs=squeeze, expand1x1_chs=expand, expand3x3_chs=expand)
                stage.add_module(f"fire{index}", fire)  # the paper's numbering: fire2 ... fire9
                chs, index = fire.out_chs, index + 1
            stages.append(stage)
            info.append(FeatureInfo(f"body.{i}", chs, reduction))
        model = ImageClassifier(
            tail=tail, body=nn.Sequential(*stages),
            head=PositionwiseHead(chs, cfg.num_classes, drop_rate=cfg.drop_rate),
            feature_info=info, in_chans=cfg.in_chans, num_classes=cfg.num_classes,
            num_features=chs,
        )
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        # a small classifier keeps the ReLU'd votes from starting saturated (reference init)
        nn.init.normal_(model.head.fc.weight, std=0.01)
        nn.init.zeros_(model.head.fc.bias)
        return model

    return build_classifier(make)


VARIANTS: dict[str, SqueezeNetConfig] = {
    "squeezenet1_0": SqueezeNetConfig(96, 7, (
        ((16, 64), (16, 64), (32, 128)),
        ((32, 128), (48, 192), (48, 192), (64, 256)),
        ((64, 256),),
    )),
    "squeezenet1_1": SqueezeNetConfig(64, 3, (
        ((16, 64), (16, 64)),
        ((32, 128), (32, 128)),
        ((48, 192), (48, 192), (64, 256), (64, 256)),
    )),
}

_TV = "torchvision 0.29 reference implementation (params; MACs by torch.utils.flop_counter)"
_FIGURES = {
    "squeezenet1_0": (1_248_424, 818_924_576, "params: the paper's Table 1 (= " + _TV + ")"),
    "squeezenet1_1": (1_235_496, 349_151_936, _TV),
}
_TOP1 = {"squeezenet1_0": 58.092, "squeezenet1_1": 58.178}  # the reference weights, ImageNet


def _card(name: str, cfg: SqueezeNetConfig) -> ModelCard:
    params, macs, source = _FIGURES[name]
    notes = ["conv1 unpadded: 109x109 after conv1 at 224 (Table 1: 111x111 from 227 crops)",
             "conv10 written as a per-position linear layer (same weights and MACs)"]
    if name == "squeezenet1_1":
        notes.insert(0, "v1.1 of the authors' repository, not in the paper")
    return ModelCard(
        name=name, family="squeezenet", task="classification", paper=PAPER,
        input_size=(3, 224, 224), num_classes=1000, params=params, macs=macs, source=source,
        small_input_size=(3, 64, 64), notes=tuple(notes),
        accuracy={"imagenet_top1": _TOP1[name]},
    )


register_variants("squeezenet", VARIANTS, build_squeezenet, _card)
