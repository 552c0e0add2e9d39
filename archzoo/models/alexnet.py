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

`zfnet` is Zeiler and Fergus 2013, "Visualizing and Understanding Convolutional Networks"
(arXiv:1311.2901), Figure 3: AlexNet's layers with a 7x7/2 first conv (their smaller, denser first
filters), a stride-2 conv2, and dense connections in every layer (62,357,608 parameters).

`caffenet` is the BVLC reference CaffeNet of Caffe (Jia et al. 2014, arXiv:1408.5093): AlexNet with
groups=2 and each max-pool before its LRN, at a 227x227 input (60,965,224 parameters).

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
    conv2_stride: int = 1  # 2 in ZFNet
    conv2_padding: int = 2
    pool_before_lrn: bool = False  # CaffeNet's order: conv -> ReLU -> pool -> LRN
    pool_ceil: bool = False  # round pooled sizes up, as Caffe does (ZFNet's 55 / 13 / 6 maps)
    lrn_alpha: float = 1e-4  # the paper's alpha (per squared term; Caffe's 1e-4 / 5 = 2e-5)
    lrn_k: float = 2.0
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
        return [("lrn", LocalResponseNorm(size=5, alpha=cfg.lrn_alpha, beta=0.75, k=cfg.lrn_k))] \
            if cfg.lrn else []

    def pool() -> list:
        return [("pool", nn.MaxPool2d(3, stride=2, ceil_mode=cfg.pool_ceil))]

    def pool_lrn() -> list:
        return [*pool(), *lrn()] if cfg.pool_before_lrn else [*lrn(), *pool()]

    def make() -> ImageClassifier:
        tail = stage(*_conv(cfg.in_chans, c1, cfg.stem_kernel, stride=cfg.stem_stride,
                            padding=cfg.stem_padding), *pool_lrn())
        r, s2 = cfg.stem_stride * 2, cfg.conv2_stride * 2  # reductions of the tail and stage 0
        body = nn.Sequential(
            stage(*_conv(c1, c2, 5, stride=cfg.conv2_stride, padding=cfg.conv2_padding, groups=g),
                  *pool_lrn()),
            stage(*_conv(c2, c3, 3, padding=1)),
            stage(*_conv(c3, c4, 3, padding=1, groups=g)),
            stage(*_conv(c4, c5, 3, padding=1, groups=g), *pool()),
        )
        return ImageClassifier(
            tail=tail, body=body,
            head=VectorizeHead(c5 * 36, cfg.num_classes, hidden=cfg.hidden, pool_size=6,
                               drop_rate=cfg.drop_rate),
            feature_info=[FeatureInfo("body.0", c2, r * s2), FeatureInfo("body.1", c3, r * s2),
                          FeatureInfo("body.2", c4, r * s2), FeatureInfo("body.3", c5, r * s2 * 2)],
            in_chans=cfg.in_chans, num_classes=cfg.num_classes, num_features=c5 * 36,
        )

    return build_classifier(make)


VARIANTS = {
    "alexnet": AlexNetConfig(),
    "alexnet_owt": AlexNetConfig(widths=(64, 192, 384, 256, 256), lrn=False),
    "zfnet": AlexNetConfig(stem_kernel=7, stem_stride=2, stem_padding=1, conv2_stride=2,
                           conv2_padding=0, pool_ceil=True),
    "caffenet": AlexNetConfig(groups=2, stem_padding=0, pool_before_lrn=True, lrn_alpha=2e-5,
                              lrn_k=1.0),
}

_PAPER = Paper("ImageNet Classification with Deep Convolutional Neural Networks", 2012, None,
               "Krizhevsky, Sutskever, Hinton")
_OWT = Paper("One weird trick for parallelizing convolutional neural networks", 2014,
             "1404.5997", "Krizhevsky")


_ZF = Paper("Visualizing and Understanding Convolutional Networks", 2013, "1311.2901",
            "Zeiler, Fergus")
_CAFFE = Paper("Caffe: Convolutional Architecture for Fast Feature Embedding", 2014, "1408.5093",
               "Jia, Shelhamer, Donahue, Karayev, Long, Girshick, Guadarrama, Darrell")
_FLOP = "MACs by torch.utils.flop_counter"


def _card(name: str, cfg: AlexNetConfig) -> ModelCard:
    card = dict(name=name, family="alexnet", task="classification", input_size=(3, 224, 224),
                num_classes=1000)
    if name == "alexnet":
        return ModelCard(
            **card, paper=_PAPER, params=62_378_344, macs=1_135_256_096,
            source=("seed 003's AlexNet layer table (no groups): params F*F*C*K + K per layer; "
                    "MACs are its per-layer figures (sum 1,135,915,368) less one bias term per output; the paper says '60 million' "
                    "(60,965,224 with groups=2)"),
            notes=("conv1 padding 2 (224 input gives 55x55)", "adaptive 6x6 pool before FC",
                   "groups=1 by default; groups=2 is the paper's two-GPU split"),
        )
    if name == "zfnet":
        return ModelCard(
            **card, paper=_ZF, params=62_357_608, macs=1_168_032_896, small_input_size=(3, 96, 96),
            source=("counted by archzoo from the paper's Figure 3 (96@7x7/2, 256@5x5/2, 384, 384, "
                    "256 @3x3, FC 4096, 4096, 1000, dense connections, weights and biases; the "
                    "paper gives no total); " + _FLOP + " at 224 with Figure 3's 110, 55, 26, 13, "
                    "6 maps"),
            notes=("conv1 padding 1 and max-pools rounding up (Caffe's rule) give Figure 3's "
                   "110 / 55 / 26 / 13 / 6 maps at 224",
                   "the figure's 'contrast normalization across feature maps' is AlexNet's LRN "
                   "(n=5, alpha=1e-4, beta=0.75, k=2); the paper gives no constants",
                   "the paper's renormalization of conv filters whose RMS exceeds 0.1 is a "
                   "training step, not part of the model"),
        )
    if name == "caffenet":
        return ModelCard(
            **{**card, "input_size": (3, 227, 227)}, paper=_CAFFE, params=60_965_224,
            macs=724_406_816, small_input_size=(3, 96, 96),
            source=("BVLC reference CaffeNet (Caffe's models/bvlc_reference_caffenet/"
                    "deploy.prototxt), counted by archzoo: AlexNet's 2012 layers with conv2, "
                    "conv4, conv5 in 2 groups (the same 60,965,224 as alexnet with groups=2); "
                    + _FLOP + " at Caffe's 227x227 crop"),
            notes=("max-pool before LRN in conv1 and conv2 (AlexNet normalizes, then pools)",
                   "Caffe's LRN: alpha 1e-4 over the 5-channel window (2e-5 per term), k=1",
                   "conv1 unpadded at Caffe's 227 input; adaptive 6x6 pool before FC (identity "
                   "at 227)"),
        )
    return ModelCard(
        **card, paper=_OWT, params=61_100_840, macs=714_188_480,
        source="torchvision 0.29 reference implementation (params; MACs by torch.utils.flop_counter)",
        notes=("one-GPU 64-192-384-256-256 variant, no LRN",),
        accuracy={"imagenet_top1": 56.522},
    )


register_variants("alexnet", VARIANTS, build_alexnet, _card)
