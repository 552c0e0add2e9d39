"""VGG: Simonyan and Zisserman 2015, "Very Deep Convolutional Networks for Large-Scale Image
Recognition" (arXiv:1409.1556).

Table 1's columns: stacks of 3x3/1 convs (padding 1) + ReLU, a 2x2/2 max pool after each of five
stages, FC 4096, 4096 (dropout 0.5), FC 1000. A = vgg11, A-LRN = vgg11_lrn (LRN after the first
conv), B = vgg13, D = vgg16, E = vgg19; `_bn` adds batch normalization after every conv (not in
the paper; the reference implementation's variants, whose counts the cards cite).

Seed 003 treats VGG as a plain serial network with no separate tail: all five conv stages are the
body. Departure: an adaptive average pool to 7x7 before the FC layers lets inputs other than 224
through (the identity at 224). Column C (1x1 convs in stages 3-5) is not registered.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

from ..blocks import LocalResponseNorm, VectorizeHead
from ._base import FeatureInfo, ImageClassifier, build_classifier
from ._registry import ModelCard, Paper, register_variants

PAPER = Paper("Very Deep Convolutional Networks for Large-Scale Image Recognition", 2015,
              "1409.1556", "Simonyan, Zisserman")


@dataclass(frozen=True)
class VGGConfig:
    depths: tuple[int, int, int, int, int]  # 3x3 convs per stage
    widths: tuple[int, int, int, int, int] = (64, 128, 256, 512, 512)
    batch_norm: bool = False
    lrn: bool = False  # the A-LRN column: LRN after the first conv
    hidden: tuple[int, ...] = (4096, 4096)
    drop_rate: float = 0.5
    in_chans: int = 3
    num_classes: int = 1000


def build_vgg(cfg: VGGConfig) -> ImageClassifier:
    def make() -> ImageClassifier:
        stages, info, chs = [], [], cfg.in_chans
        for i, (depth, width) in enumerate(zip(cfg.depths, cfg.widths)):
            stage = nn.Sequential()
            for j in range(depth):
                stage.add_module(f"conv{j + 1}", nn.Conv2d(chs, width, 3, padding=1))
                if cfg.batch_norm:
                    stage.add_module(f"norm{j + 1}", nn.BatchNorm2d(width))
                stage.add_module(f"act{j + 1}", nn.ReLU(inplace=True))
                if cfg.lrn and i == 0 and j == 0:
                    # the paper's LRN is AlexNet's (section 2.2 cites it); k=2, n=5
                    stage.add_module("lrn", LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0))
                chs = width
            stage.add_module("pool", nn.MaxPool2d(2, 2))
            stages.append(stage)
            info.append(FeatureInfo(f"body.{i}", width, 2 ** (i + 1)))
        return ImageClassifier(
            tail=nn.Identity(), body=nn.Sequential(*stages),
            head=VectorizeHead(chs * 49, cfg.num_classes, hidden=cfg.hidden, pool_size=7,
                               drop_rate=cfg.drop_rate),
            feature_info=info, in_chans=cfg.in_chans, num_classes=cfg.num_classes,
            num_features=chs * 49,
        )

    return build_classifier(make)


_DEPTHS = {"vgg11": (1, 1, 2, 2, 2), "vgg13": (2, 2, 2, 2, 2), "vgg16": (2, 2, 3, 3, 3),
           "vgg19": (2, 2, 4, 4, 4)}
VARIANTS: dict[str, VGGConfig] = {}
for _name, _d in _DEPTHS.items():
    VARIANTS[_name] = VGGConfig(_d)
    VARIANTS[f"{_name}_bn"] = VGGConfig(_d, batch_norm=True)
VARIANTS["vgg11_lrn"] = VGGConfig(_DEPTHS["vgg11"], lrn=True)

_TV = "torchvision 0.29 reference implementation (params; MACs by torch.utils.flop_counter)"
_MACS = {"vgg11": 7_609_090_048, "vgg13": 11_308_466_176, "vgg16": 15_470_264_320,
         "vgg19": 19_632_062_464}
_PARAMS = {"vgg11": 132_863_336, "vgg13": 133_047_848, "vgg16": 138_357_544, "vgg19": 143_667_240,
           "vgg11_bn": 132_868_840, "vgg13_bn": 133_053_736, "vgg16_bn": 138_365_992,
           "vgg19_bn": 143_678_248, "vgg11_lrn": 132_863_336}
_TOP1 = {"vgg11": 69.020, "vgg13": 69.928, "vgg16": 71.592, "vgg19": 72.376, "vgg11_bn": 70.370,
         "vgg13_bn": 71.586, "vgg16_bn": 73.360, "vgg19_bn": 74.218}  # reference weights, ImageNet


def _card(name: str, cfg: VGGConfig) -> ModelCard:
    base = name.split("_")[0]
    in_csv = name in ("vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg16_bn")
    notes = ["adaptive 7x7 pool before FC"]
    if cfg.batch_norm:
        notes.append("batch normalization after each conv (not in the paper)")
    return ModelCard(
        name=name, family="vgg", task="classification", paper=PAPER, input_size=(3, 224, 224),
        num_classes=1000, params=_PARAMS[name], macs=_MACS[base],
        source=_TV if in_csv else (
            "params: the reference count of the plain net plus 2 per BN channel (A-LRN: LRN has "
            "no parameters); MACs: the plain net's " + _TV),
        small_input_size=(3, 32, 32), notes=tuple(notes),
        accuracy={"imagenet_top1": _TOP1[name]} if name in _TOP1 else {},
    )


register_variants("vgg", VARIANTS, build_vgg, _card)
