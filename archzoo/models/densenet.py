"""DenseNet: Huang, Liu, van der Maaten, Weinberger 2017, "Densely Connected Convolutional Networks"
(arXiv:1608.06993).

ImageNet nets (Table 1), all DenseNet-BC (bottleneck 1x1 to 4k channels, compression 0.5): a 7x7/2
conv (2k channels) + BN-ReLU + 3x3/2 max-pool tail, four dense blocks joined by transitions
(BN-ReLU-1x1 conv, 2x2/2 average pool), a final BN-ReLU, global average pool and a linear layer.
densenet121/169/201/264 have growth rate k = 32 and (6, 12, 24|32|48|64, 16|32|32|48) layers;
densenet161 (k = 48, 96-channel tail, (6, 12, 36, 24)) is not in Table 1 but is one of the authors'
released ImageNet models and the reference implementation's.

CIFAR nets (section 4): a 3x3 conv tail with 2k channels, three dense blocks of (L - 4) / 6
bottleneck layers at 32x32, 16x16 and 8x8, global average pool, linear. densenet_bc_100_k12 is
Table 2's DenseNet-BC (L = 100, k = 12), 0.8M parameters; it keeps 28x28 Fashion-MNIST images at
28, 14 and 7, so it is the family's small-input configuration. The ImageNet nets need at least
29x29 with their stride-4 tail; `stem="cifar"` (a 3x3/1 conv, no max-pool) takes 28x28 to 3x3.

Departures: none in the layers. The stem conv of the CIFAR nets has no bias (a BN follows it in the
first dense layer); the paper's dropout after each conv (CIFAR without augmentation) is the
`drop_rate` option, off by default.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import torch.nn as nn

from ..blocks import ClassifierHead
from ..blocks.dense import DenseBlock, Transition
from ..blocks.stem import resnet_stem
from ._base import FeatureInfo, ImageClassifier, build_classifier
from ._registry import ModelCard, Paper, register_variants

PAPER = Paper("Densely Connected Convolutional Networks", 2017, "1608.06993",
              "Huang, Liu, van der Maaten, Weinberger")


@dataclass(frozen=True)
class DenseNetConfig:
    block_config: tuple[int, ...]  # dense layers per block
    growth_rate: int = 32  # k: channels each dense layer adds
    stem_width: int = 64  # the paper uses 2k
    stem: str = "imagenet"  # "imagenet" (7x7/2 conv + 3x3/2 max-pool) or "cifar" (3x3/1 conv)
    bn_size: int | None = 4  # bottleneck (the B of BC): 1x1 conv to bn_size * k; None: none
    compression: float = 0.5  # theta (the C of BC): a transition keeps floor(theta * C) channels
    drop_rate: float = 0.0  # dropout after each conv in the dense layers
    head_drop_rate: float = 0.0
    in_chans: int = 3
    num_classes: int = 1000


def _tail(cfg: DenseNetConfig) -> tuple[nn.Module, int]:
    return resnet_stem(cfg.stem, in_chs=cfg.in_chans, out_chs=cfg.stem_width,
                       norm_act=cfg.stem == "imagenet")  # the cifar stem is pre-activation


def build_densenet(cfg: DenseNetConfig) -> ImageClassifier:
    if not 0 < cfg.compression <= 1:
        raise ValueError(f"compression must be in (0, 1]; got {cfg.compression}")

    def make() -> ImageClassifier:
        tail, reduction = _tail(cfg)
        stages, info, chs = [], [], cfg.stem_width
        for i, num_layers in enumerate(cfg.block_config):
            stage: OrderedDict[str, nn.Module] = OrderedDict()
            if i > 0:  # each later stage opens with the transition that halves the map
                out = math.floor(cfg.compression * chs)
                stage["transition"] = Transition(chs, out)
                chs, reduction = out, reduction * 2
            block = DenseBlock(chs, num_layers=num_layers, growth_rate=cfg.growth_rate,
                               bn_size=cfg.bn_size, drop_rate=cfg.drop_rate)
            stage["block"] = block
            chs = block.out_chs
            if i == len(cfg.block_config) - 1:  # pre-activation nets end with one more BN-ReLU
                stage["norm"] = nn.BatchNorm2d(chs)
                stage["act"] = nn.ReLU()
            stages.append(nn.Sequential(stage))
            info.append(FeatureInfo(f"body.{i}", chs, reduction))
        model = ImageClassifier(
            tail=tail, body=nn.Sequential(*stages),
            head=ClassifierHead(chs, cfg.num_classes, drop_rate=cfg.head_drop_rate),
            feature_info=info, in_chans=cfg.in_chans, num_classes=cfg.num_classes,
            num_features=chs,
        )
        for m in model.modules():  # He initialization, as the authors' code uses
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)
        return model

    return build_classifier(make)


def _cifar_bc(depth: int, k: int) -> DenseNetConfig:
    n = (depth - 4) // 6  # bottleneck layers per block: 2 convs each, plus tail, 2 transitions, fc
    return DenseNetConfig((n, n, n), growth_rate=k, stem_width=2 * k, stem="cifar", num_classes=10)


VARIANTS: dict[str, DenseNetConfig] = {
    "densenet121": DenseNetConfig((6, 12, 24, 16)),
    "densenet169": DenseNetConfig((6, 12, 32, 32)),
    "densenet201": DenseNetConfig((6, 12, 48, 32)),
    "densenet264": DenseNetConfig((6, 12, 64, 48)),
    "densenet161": DenseNetConfig((6, 12, 36, 24), growth_rate=48, stem_width=96),
    "densenet_bc_100_k12": _cifar_bc(100, 12),
}

_TV = "torchvision 0.29 reference implementation (params; MACs by torch.utils.flop_counter)"
# name: (params, MACs at the card's input, source)
_FIGURES: dict[str, tuple[int, int | None, str]] = {
    "densenet121": (7_978_856, 2_834_161_664, _TV),
    "densenet169": (14_149_480, 3_359_843_328, _TV),
    "densenet201": (20_013_928, 4_291_365_888, _TV),
    "densenet161": (28_681_000, 7_727_907_072, _TV),
    "densenet264": (33_337_704, 5_751_653_376,
                    "counted by archzoo from Table 1's layout (the paper gives no exact count); "
                    "MACs by torch.utils.flop_counter"),
    "densenet_bc_100_k12": (769_162, 287_929_692,
                            "counted by archzoo from section 4's layout (Table 2 gives 0.8M); "
                            "MACs by torch.utils.flop_counter"),
}
# published top-1: the reference implementation's ImageNet weights; Table 2's C10+ error 4.51%
_TOP1 = {"densenet121": {"imagenet_top1": 74.434}, "densenet169": {"imagenet_top1": 75.600},
         "densenet201": {"imagenet_top1": 76.896}, "densenet161": {"imagenet_top1": 77.138},
         "densenet_bc_100_k12": {"cifar10_top1": 95.49}}


def _card(name: str, cfg: DenseNetConfig) -> ModelCard:
    params, macs, source = _FIGURES[name]
    cifar = cfg.stem == "cifar"
    notes = []
    if name == "densenet161":
        notes.append("not in the paper's Table 1: the authors' released k=48 ImageNet model")
    if cifar:
        notes.append("CIFAR net of section 4 (10 classes); the family's small-input "
                     "configuration (28x28 Fashion-MNIST maps stay 28, 14, 7)")
    else:
        notes.append("28x28 (Fashion-MNIST): the ImageNet tail needs at least 29x29; stem=cifar "
                     "(3x3/1 conv, no max-pool) takes it, maps 28, 14, 7, 3")
    return ModelCard(
        name=name, family="densenet", task="classification", paper=PAPER,
        input_size=(3, 32, 32) if cifar else (3, 224, 224), num_classes=cfg.num_classes,
        params=params, macs=macs, source=source,
        small_input_size=(3, 32, 32) if cifar else (3, 64, 64), notes=tuple(notes),
        accuracy=_TOP1.get(name, {}),
    )


register_variants("densenet", VARIANTS, build_densenet, _card)
