"""LeNet-5 and seed 001's assignment net "20-50-500-21": two conv + pool stages, then FC layers.

LeNet-5: LeCun, Bottou, Bengio, Haffner 1998, "Gradient-Based Learning Applied to Document
Recognition" (Proc. IEEE 86(11)). 32x32 input, C1 6@5x5, S2 2x2/2 subsampling, C3 16@5x5, S4,
C5 120, F6 84, output 10; tanh activations.
Departures (those of the common modern form, whose 61,706 parameters the card cites): C3 connects
to all six S2 maps (the paper's table 1 connects each to a subset: 1,516 weights instead of 2,416);
S2 / S4 are 2x2 max pools (the paper averages the four inputs, scales them by a trainable
coefficient, adds a trainable bias and squashes; `pool="avg"` gives the untrained average) --
max pooling measured better in a 3-epoch Fashion-MNIST run at 32x32 (0.8958 vs 0.8893, seed 0);
C5 is a fully connected layer on the 5x5 map (the same thing at 32x32 input); the output is a linear
layer with softmax cross-entropy instead of Euclidean RBF units.

cnn_20_50_500: seed 001's assignment ("number of nodes: 20-50-500-21 ... kernel sizes 5 ... each
convolutional layer is followed by a max pooling layer with a kernel size of 2 and stride of 2.
The fully connected layer is followed by ReLU"), the MatConvNet LeNet example it points to. As
written there, the convolutions have no activation of their own. Its default input is 1x32x32 (the
CMU PIE faces of the assignment, resized).

Both heads flatten the last map, so the input size is fixed at build time (`img_size`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

from ..blocks import VectorizeHead, get_act_layer
from ._base import FeatureInfo, ImageClassifier
from ._registry import ModelCard, Paper, register_variants


@dataclass(frozen=True)
class LeNetConfig:
    widths: tuple[int, int]  # channels of the two conv layers
    hidden: tuple[int, ...]  # FC widths before the classifier
    conv_act: str | None  # activation after each conv (None: the pooling is the nonlinearity)
    fc_act: str
    pool: str  # "avg" or "max"
    act_after_pool: bool = False  # LeNet-5 squashes after subsampling (C -> S -> tanh)
    kernel_size: int = 5
    img_size: int = 32
    in_chans: int = 1
    num_classes: int = 10
    drop_rate: float = 0.0


def build_lenet(cfg: LeNetConfig) -> ImageClassifier:
    pool = {"avg": nn.AvgPool2d, "max": nn.MaxPool2d}[cfg.pool]
    stages, chs, side = [], cfg.in_chans, cfg.img_size
    for w in cfg.widths:
        stage = nn.Sequential()
        stage.add_module("conv", nn.Conv2d(chs, w, cfg.kernel_size))
        if cfg.conv_act and not cfg.act_after_pool:
            stage.add_module("act", get_act_layer(cfg.conv_act)())
        stage.add_module("pool", pool(2, 2))
        if cfg.conv_act and cfg.act_after_pool:
            stage.add_module("act", get_act_layer(cfg.conv_act)())
        stages.append(stage)
        chs, side = w, (side - cfg.kernel_size + 1) // 2
    if side < 1:
        min_side = 2 * (2 * 1 + cfg.kernel_size - 1) + cfg.kernel_size - 1
        raise ValueError(f"img_size={cfg.img_size} is too small: the maps shrink to nothing; "
                         f"the minimum is {min_side}")
    return ImageClassifier(
        tail=nn.Identity(), body=nn.Sequential(*stages),
        head=VectorizeHead(chs * side * side, cfg.num_classes, hidden=cfg.hidden,
                           drop_rate=cfg.drop_rate, act_layer=get_act_layer(cfg.fc_act)),
        feature_info=[FeatureInfo("body.0", cfg.widths[0], 2), FeatureInfo("body.1", chs, 4)],
        in_chans=cfg.in_chans, num_classes=cfg.num_classes, num_features=chs * side * side,
        fixed_input=(cfg.img_size, cfg.img_size),
    )


VARIANTS = {
    "lenet5": LeNetConfig((6, 16), (120, 84), conv_act="tanh", fc_act="tanh", pool="max"),
    "cnn_20_50_500": LeNetConfig((20, 50), (500,), conv_act=None, fc_act="relu", pool="max",
                                 num_classes=21),
}

_CARDS = {
    "lenet5": dict(
        paper=Paper("Gradient-Based Learning Applied to Document Recognition", 1998, None,
                    "LeCun, Bottou, Bengio, Haffner"),
        params=61_706, macs=416_520,
        source=("the common modern LeNet-5 (full C3): 156 + 2,416 + 48,120 + 10,164 + 850 params; "
                "MACs 117,600 + 240,000 + 58,920"),
        notes=("C3 fully connected to S2 (paper: partial, table 1)",
               "S2/S4 2x2 max pools (paper: trainable average subsampling)",
               "linear output + cross-entropy instead of RBF units"),
    ),
    "cnn_20_50_500": dict(
        paper=Paper("EE5907 assignment network 20-50-500-21 (seed 001)", 2023),
        params=661_591, macs=3_527_500,
        source=("seed 001's spec, params F*F*C*K + K: 520 + 25,050 + 625,500 + 10,521; MACs by "
                "(N - F + 1)^2 * F*F*C*K: 392,000 + 2,500,000 + 635,500"),
        notes=("no activation after the convolutions, as the assignment specifies",
               "1x32x32 default input"),
    ),
}


def _card(name: str, cfg: LeNetConfig) -> ModelCard:
    return ModelCard(
        name=name, family="lenet", task="classification",
        input_size=(cfg.in_chans, cfg.img_size, cfg.img_size), num_classes=cfg.num_classes,
        macs_convention="conv and linear multiply-accumulates, no bias", **_CARDS[name],
    )


register_variants("lenet", VARIANTS, build_lenet, _card)
