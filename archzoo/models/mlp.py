"""Fully connected networks of seed 001: f = W2 max(0, W1 x) and f = W3 max(0, W2 max(0, W1 x)).

The lecture's "2-layer" and "3-layer" neural nets (cs231n's notation, which seed 001 follows), with
biases. The input image is flattened (tail), each hidden layer is linear + activation (body), and
the last linear layer gives the class scores (head). `act` picks any activation of seed 001;
`act="maxout"` makes each hidden layer a two-piece maxout layer (Goodfellow et al. 2013).

Sizes: `mlp2` uses the lecture's hidden width of 100 (its 3072-100-10 picture); `mlp3` uses 256-128,
the Fashion-MNIST benchmark's MLP peer. The reference parameter counts are the lecture's formula
(H x D + H for W1 and b1, and so on) evaluated at the default 1x28x28 input and 10 classes.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

from ..blocks import Maxout, VectorizeHead, get_act_layer
from ._base import FeatureInfo, ImageClassifier
from ._registry import ModelCard, Paper, register_variants

PAPER = Paper("EE5907 lecture notes: neural networks, f = W2 max(0, W1 x) (seed 001)", 2023)


@dataclass(frozen=True)
class MLPConfig:
    hidden: tuple[int, ...]
    act: str = "relu"
    drop_rate: float = 0.0
    img_size: int = 28
    in_chans: int = 1
    num_classes: int = 10


def build_mlp(cfg: MLPConfig) -> ImageClassifier:
    layers, width = [], cfg.in_chans * cfg.img_size**2
    for i, h in enumerate(cfg.hidden):
        if cfg.act == "maxout":
            stage = nn.Sequential(Maxout(width, h))
        else:
            stage = nn.Sequential(nn.Linear(width, h), get_act_layer(cfg.act)())
        if cfg.drop_rate > 0:
            stage.append(nn.Dropout(cfg.drop_rate))
        layers.append(stage)
        width = h
    return ImageClassifier(
        tail=nn.Flatten(1), body=nn.Sequential(*layers),
        head=VectorizeHead(width, cfg.num_classes, drop_rate=0.0),
        feature_info=[FeatureInfo(f"body.{i}", h, 1) for i, h in enumerate(cfg.hidden)],
        in_chans=cfg.in_chans, num_classes=cfg.num_classes, num_features=width,
        fixed_input=(cfg.img_size, cfg.img_size),
    )


VARIANTS = {"mlp2": MLPConfig(hidden=(100,)), "mlp3": MLPConfig(hidden=(256, 128))}


def _params(cfg: MLPConfig) -> int:
    sizes = [cfg.in_chans * cfg.img_size**2, *cfg.hidden, cfg.num_classes]
    return sum(a * b + b for a, b in zip(sizes, sizes[1:]))


def _card(name: str, cfg: MLPConfig) -> ModelCard:
    return ModelCard(
        name=name, family="mlp", task="classification", paper=PAPER,
        input_size=(cfg.in_chans, cfg.img_size, cfg.img_size), num_classes=cfg.num_classes,
        params=_params(cfg), macs=_params(cfg) - sum(cfg.hidden) - cfg.num_classes,
        source="seed 001's formula: W1 (H x D) + b1 + W2 (C x H) + b2, at 1x28x28 and 10 classes",
        macs_convention="one MAC per weight of each linear layer, no bias",
        notes=("the input size is fixed by W1; build with img_size / in_chans for other data",),
    )


register_variants("mlp", VARIANTS, build_mlp, _card)
