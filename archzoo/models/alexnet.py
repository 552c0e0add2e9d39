"""AlexNet: Krizhevsky, Sutskever, Hinton 2012, "ImageNet Classification with Deep Convolutional
Neural Networks" (NeurIPS 2012), and its one-GPU form from Krizhevsky 2014, "One weird trick for
parallelizing convolutional neural networks" (arXiv:1404.5997).

`alexnet` is the 2012 net: conv 96@11x11/4, 256@5x5, 384@3x3, 384@3x3, 256@3x3; ReLU; local response
normalization (k=2, n=5, alpha=1e-4, beta=0.75) after conv1 and conv2; overlapping 3x3/2 max pools
after conv1, conv2 and conv5; FC 4096, 4096 with dropout 0.5; FC 1000. By default every conv sees
all input channels (seed 003's per-layer table counts it so). `groups=2` splits conv2, conv4 and
conv5 into the paper's two GPU halves (60,965,224 parameters instead of 62,378,344).

`alexnet_owt` is the one-GPU variant of the widely used reference implementation: 64-192-384-256-256
channels, no LRN (61,100,840 parameters).

Departures: conv1 pads by 2 so that a 224x224 input gives the paper's 55x55 map (the paper's
arithmetic needs 227); an adaptive average pool to 6x6 before the FC layers lets other input sizes
through (it is the identity at 224).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

from ..blocks import LocalResponseNorm, VectorizeHead
from ._base import FeatureInfo, ImageClassifier, build_classifier
from ._registry import ModelCard, Paper, register_variants


@dataclass(frozen=True)
class AlexNetConfig:
    widths: tuple[int, int, int, int, int] = (96, 256, 384, 384, 256)
    lrn: bool = True
    groups: int = 1  # 2: the paper's two-GPU split of conv2, conv4, conv5
    stem_kernel: int = 11
    stem_stride: int = 4
    stem_padding: int = 2
    hidden: tuple[int, ...] = (4096, 4096)
    drop_rate: float = 0.5
    in_chans: int = 3
    num_classes: int = 1000


def _conv(in_chs: int, out_chs: int, k: int, *, stride: int = 1, padding: int = 0, groups: int = 1):
    return [("conv", nn.Conv2d(in_chs, out_chs, k, stride=stride, padding=padding, groups=groups)),
            ("act", nn.ReLU(inplace=True))]


def build_alexnet(cfg: AlexNetConfig) -> ImageClassifier:
    c1, c2, c3, c4, c5 = cfg.widths
    g = cfg.groups

    def stage(*layers) -> nn.Sequential:
        s = nn.Sequential()
        for name, layer in layers:
            s.add_module(name, layer)
        return s

    def lrn() -> list:
        return [("lrn", LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0))] if cfg.lrn else []

    def pool() -> list:
        return [("pool", nn.MaxPool2d(3, stride=2))]

    def make() -> ImageClassifier:
        tail = stage(*_conv(cfg.in_chans, c1, cfg.stem_kernel, stride=cfg.stem_stride,
                            padding=cfg.stem_padding), *lrn(), *pool())
        body = nn.Sequential(
            stage(*_conv(c1, c2, 5, padding=2, groups=g), *lrn(), *pool()),
            stage(*_conv(c2, c3, 3, padding=1)),
            stage(*_conv(c3, c4, 3, padding=1, groups=g)),
            stage(*_conv(c4, c5, 3, padding=1, groups=g), *pool()),
        )
        return ImageClassifier(
            tail=tail, body=body,
            head=VectorizeHead(c5 * 36, cfg.num_classes, hidden=cfg.hidden, pool_size=6,
                               drop_rate=cfg.drop_rate),
            feature_info=[FeatureInfo("body.0", c2, 16), FeatureInfo("body.1", c3, 16),
                          FeatureInfo("body.2", c4, 16), FeatureInfo("body.3", c5, 32)],
            in_chans=cfg.in_chans, num_classes=cfg.num_classes, num_features=c5 * 36,
        )

    return build_classifier(make)


VARIANTS = {
    "alexnet": AlexNetConfig(),
    "alexnet_owt": AlexNetConfig(widths=(64, 192, 384, 256, 256), lrn=False),
}

_PAPER = Paper("ImageNet Classification with Deep Convolutional Neural Networks", 2012, None,
               "Krizhevsky, Sutskever, Hinton")
_OWT = Paper("One weird trick for parallelizing convolutional neural networks", 2014,
             "1404.5997", "Krizhevsky")


def _card(name: str, cfg: AlexNetConfig) -> ModelCard:
    if name == "alexnet":
        return ModelCard(
            name=name, family="alexnet", task="classification", paper=_PAPER,
            input_size=(3, 224, 224), num_classes=1000, params=62_378_344,
            macs=1_135_256_096,
            source=("seed 003's AlexNet layer table (no groups): params F*F*C*K + K per layer; "
                    "MACs are its per-layer figures (sum 1,135,915,368) less one bias term per output; the paper says '60 million' "
                    "(60,965,224 with groups=2)"),
            notes=("conv1 padding 2 (224 input gives 55x55)", "adaptive 6x6 pool before FC",
                   "groups=1 by default; groups=2 is the paper's two-GPU split"),
        )
    return ModelCard(
        name=name, family="alexnet", task="classification", paper=_OWT,
        input_size=(3, 224, 224), num_classes=1000, params=61_100_840, macs=714_188_480,
        source="torchvision 0.29 reference implementation (params; MACs by torch.utils.flop_counter)",
        notes=("one-GPU 64-192-384-256-256 variant, no LRN",),
        accuracy={"imagenet_top1": 56.522},
    )


register_variants("alexnet", VARIANTS, build_alexnet, _card)
