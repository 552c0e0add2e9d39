"""Inception-v4, Inception-ResNet-v1 and Inception-ResNet-v2: Szegedy, Ioffe, Vanhoucke, Alemi 2017,
"Inception-v4, Inception-ResNet and the Impact of Residual Connections on Learning" (arXiv:1602.07261).

`inception_v4` is Figure 9: the Figure 3 stem (299 -> 35x35x384), 4 x Inception-A, Reduction-A
(k, l, m, n = 192, 224, 256, 384), 7 x Inception-B, Reduction-B, 3 x Inception-C; average pool,
dropout (keep 0.8), linear. It is also the authors' released net (42,679,816 parameters).

`inception_resnet_v1` is Figure 15 with the Inception-ResNet-v1 modules: the Figure 14 stem
(35x35x256), 5 x Inception-ResNet-A (Figure 10), Reduction-A (192, 192, 256, 384), 10 x
Inception-ResNet-B (Figure 11), Reduction-B (Figure 12), 5 x Inception-ResNet-C (Figure 13);
average pool, dropout (keep 0.8), linear. The figures' widths agree with each other (256 -> 896 ->
1792 channels), so this is the paper's net as drawn.

`inception_resnet_v2` follows the authors' released network, whose 55,843,464 parameters the
reference figures cite, because the paper's Figure 15 / 16-19 version does not add up: its
Inception-ResNet-B projects to 1154 channels where Reduction-A gives 1152, and its
Inception-ResNet-C to 2048 where Reduction-B gives 2144. The release (as `inception_v3.py` of this
library does for v3) has: the Inception-v3 stem (convs 32, 32, 64, max-pool, 80, 192, max-pool) and
an Inception module "5b" (96 | 48 -> 5x5 64 | 64 -> 96 -> 96 | avg pool -> 64) giving 35x35x320;
10 x A (Figure 16 widths), Reduction-A (256, 256, 384, 384), 20 x B (Figure 17), Reduction-B
(Figure 18), 10 x C (Figure 19; the last unscaled and without its ReLU); a 1x1 conv to 1536
before the pool.
The paper's Figure 15 has 5 / 10 / 5 modules and its Figure 3 stem.

Residual scaling (section 3.3, "between 0.1 and 0.3"): A 0.17, B 0.10, C 0.20, the release's
constants, for both Inception-ResNets. BN eps 1e-3 and average pools that skip the padding, as
in the release. Departure: none in the layer structure; the auxiliary classifier the release
carries for training is left out (the paper describes none for these nets). `inception_v4` and
`inception_resnet_v2` give the reference implementation's logits exactly when loaded with its
weights in state-dict order (checked once in the oracle environment).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch.nn as nn

from ..blocks import ClassifierHead, ConvNormAct
from ..blocks.inception import Concat
from ..blocks.inception_v4 import (InceptionResNetA, InceptionResNetB, InceptionResNetC,
                                   InceptionResNetV1Stem, InceptionV4A, InceptionV4B,
                                   InceptionV4C, InceptionV4Stem, ReductionA, ReductionResNetB,
                                   ReductionV4B)
from ._base import FeatureInfo, ImageClassifier, build_classifier
from ._registry import ModelCard, Paper, register_variants

PAPER = Paper("Inception-v4, Inception-ResNet and the Impact of Residual Connections on Learning",
              2017, "1602.07261", "Szegedy, Ioffe, Vanhoucke, Alemi")


@dataclass(frozen=True)
class InceptionV4Config:
    arch: str = "v4"  # "v4", "resnet_v1" or "resnet_v2"
    scales: tuple[float, float, float] = (0.17, 0.10, 0.20)  # residual scaling of A, B, C
    drop_rate: float = 0.2  # the paper's "dropout (keep 0.8)"
    in_chans: int = 3
    num_classes: int = 1000


def _v2_stem(in_chans: int, conv) -> nn.Sequential:
    pool = partial(nn.AvgPool2d, 3, stride=1, padding=1, count_include_pad=False)
    return nn.Sequential(
        conv(in_chans, 32, kernel_size=3, stride=2, padding=0),  # (B, 32, 149, 149) at 299
        conv(32, 32, kernel_size=3, padding=0), conv(32, 64, kernel_size=3),
        nn.MaxPool2d(3, stride=2),  # (B, 64, 73, 73)
        conv(64, 80, kernel_size=1), conv(80, 192, kernel_size=3, padding=0),
        nn.MaxPool2d(3, stride=2),  # (B, 192, 35, 35)
        Concat(conv(192, 96, kernel_size=1),
               nn.Sequential(conv(192, 48, kernel_size=1), conv(48, 64, kernel_size=5)),
               nn.Sequential(conv(192, 64, kernel_size=1), conv(64, 96, kernel_size=3),
                             conv(96, 96, kernel_size=3)),
               nn.Sequential(pool(), conv(192, 64, kernel_size=1)),
               out_chs=320),  # (B, 320, 35, 35)
    )


def _layout(cfg: InceptionV4Config, norm) -> tuple[nn.Module, list[list[nn.Module]], list[int]]:
    """The tail and the modules of the 35x35, 17x17 and 8x8 stages, with each stage's width."""
    kw = dict(norm_layer=norm)
    conv = partial(ConvNormAct, norm_layer=norm)
    a, b, c = cfg.scales
    if cfg.arch == "v4":
        stages = [[InceptionV4A(384, **kw) for _ in range(4)],
                  [ReductionA(384, k=192, l=224, m=256, n=384, **kw),  # (B, 1024, 17, 17)
                   *(InceptionV4B(1024, **kw) for _ in range(7))],
                  [ReductionV4B(1024, **kw),  # (B, 1536, 8, 8)
                   *(InceptionV4C(1536, **kw) for _ in range(3))]]
        return InceptionV4Stem(cfg.in_chans, **kw), stages, [384, 1024, 1536]
    if cfg.arch == "resnet_v1":
        stages = [[InceptionResNetA(256, widths=(32, 32, 32, 32, 32, 32), scale=a, **kw)
                   for _ in range(5)],
                  [ReductionA(256, k=192, l=192, m=256, n=384, **kw),  # (B, 896, 17, 17)
                   *(InceptionResNetB(896, widths=(128, 128, 128, 128), scale=b, **kw)
                     for _ in range(10))],
                  [ReductionResNetB(896, widths=(256, 384, 256, 256, 256), **kw),  # (B, 1792, 8, 8)
                   *(InceptionResNetC(1792, widths=(192, 192, 192, 192), scale=c, **kw)
                     for _ in range(5))]]
        return InceptionResNetV1Stem(cfg.in_chans, **kw), stages, [256, 896, 1792]
    if cfg.arch == "resnet_v2":
        stages = [[InceptionResNetA(320, widths=(32, 32, 32, 32, 48, 64), scale=a, **kw)
                   for _ in range(10)],
                  [ReductionA(320, k=256, l=256, m=384, n=384, **kw),  # (B, 1088, 17, 17)
                   *(InceptionResNetB(1088, widths=(192, 128, 160, 192), scale=b, **kw)
                     for _ in range(20))],
                  [ReductionResNetB(1088, widths=(256, 384, 288, 288, 320), **kw),  # (B, 2080, 8, 8)
                   *(InceptionResNetC(2080, widths=(192, 192, 224, 256), scale=c if i < 9 else 1.0,
                                      act=i < 9, **kw) for i in range(10)),  # the last: 1.0, linear
                   conv(2080, 1536, kernel_size=1)]]  # (B, 1536, 8, 8)
        return _v2_stem(cfg.in_chans, conv), stages, [320, 1088, 1536]
    raise ValueError(f"unknown arch {cfg.arch!r}; expected 'v4', 'resnet_v1' or 'resnet_v2'")


def build_inception_v4(cfg: InceptionV4Config) -> ImageClassifier:
    norm = partial(nn.BatchNorm2d, eps=1e-3)

    def make() -> ImageClassifier:
        tail, stages, widths = _layout(cfg, norm)
        chs = widths[-1]
        model = ImageClassifier(
            tail=tail, body=nn.Sequential(*(nn.Sequential(*s) for s in stages)),
            head=ClassifierHead(chs, cfg.num_classes, drop_rate=cfg.drop_rate),
            feature_info=[FeatureInfo(f"body.{i}", w, 8 * 2 ** i) for i, w in enumerate(widths)],
            in_chans=cfg.in_chans, num_classes=cfg.num_classes, num_features=chs,
        )
        for m in model.modules():  # He initialization; the paper does not give its own
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        return model

    model = build_classifier(make)
    # every variant's valid 3x3 convs and pools need 75x75 (3x3 at the 8x8 grid); stated rather
    # than probed, which costs seconds for nets this deep (the registry tests check side - 1 fails)
    model.min_input_size = 75
    return model


VARIANTS = {
    "inception_v4": InceptionV4Config("v4"),
    "inception_resnet_v1": InceptionV4Config("resnet_v1"),
    "inception_resnet_v2": InceptionV4Config("resnet_v2"),
}

_TIMM = "timm 1.0.31 reference implementation (params; MACs by torch.utils.flop_counter)"
_FIGURES = {
    "inception_v4": (42_679_816, 12_253_974_624, _TIMM),
    "inception_resnet_v2": (55_843_464, 13_155_794_016, _TIMM),
    "inception_resnet_v1": (
        22_756_328, 6_206_361_696,
        "counted by archzoo from Figures 10-15 (convs without bias + BN weight and bias, linear 1x1 "
        "projections with bias, FC 1792 -> 1000); MACs by torch.utils.flop_counter at 299; the "
        "paper gives no parameter count, and describes its cost as 'roughly that of Inception-v3'"),
}
_NOTES = {
    "inception_v4": ("dropout 0.2 (the paper's keep probability 0.8)",
                     "each 1xn / nx1 pair in the release's order (the figures do not say which "
                     "side of '1x7' is the height)"),
    "inception_resnet_v1": ("residual scales 0.17 / 0.10 / 0.20 (the v2 release's; the paper says "
                            "0.1 to 0.3)", "no BN after the residual 1x1 projections (section 3.2)"),
    "inception_resnet_v2": ("the authors' released layout: Inception-v3 stem + module 5b, 10 / "
                            "20 / 10 modules, last C unscaled and without ReLU, 1x1 conv to 1536; "
                            "the paper's Figure 15 has the Figure 3 stem and 5 / 10 / 5 modules, "
                            "and widths that do not add up (1154 vs 1152, 2048 vs 2144)",
                            "no auxiliary classifier"),
}
_TOP1 = {"inception_v4": 80.0, "inception_resnet_v2": 80.1, "inception_resnet_v1": 78.7}


def _card(name: str, cfg: InceptionV4Config) -> ModelCard:
    params, macs, source = _FIGURES[name]
    return ModelCard(
        name=name, family="inception_v4", task="classification", paper=PAPER,
        input_size=(3, 299, 299), num_classes=cfg.num_classes, params=params, macs=macs,
        source=source, small_input_size=(3, 75, 75), notes=_NOTES[name],
        accuracy={"imagenet_top1": _TOP1[name]},  # the paper's Table 2, single crop (top-1 %)
    )


register_variants("inception_v4", VARIANTS, build_inception_v4, _card)
