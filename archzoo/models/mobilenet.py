"""MobileNets V1, V2 and V3.

- V1: Howard et al. 2017, "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision
  Applications" (arXiv:1704.04861), Table 1: a 3x3/2 conv, 13 depthwise-separable convs, global
  average pool, FC; the width multiplier alpha thins every layer (Table 6: 1.0, 0.75, 0.5, 0.25).
- V2: Sandler et al. 2018, "MobileNetV2: Inverted Residuals and Linear Bottlenecks"
  (arXiv:1801.04381), Table 2: 17 inverted-residual blocks (ReLU6), a 1x1 conv to 1280, pool, FC.
- V3: Howard et al. 2019, "Searching for MobileNetV3" (arXiv:1905.02244), Tables 1 and 2: MBConv
  blocks with squeeze-and-excite (hard-sigmoid gate, bottleneck 1/4 of the expansion) and
  h-swish in the later layers; the head pools *before* a 1x1 conv to 1280 (large) / 1024 (small).

Departures and notes:
- V1's last depthwise conv has stride 1: Table 1 prints "s2" there, but the feature map is already
  7x7 and the paper's own 569M MACs count only holds with stride 1, as every implementation uses.
- V1 uses ReLU after every BN as the paper's Figure 3 does; the reference implementations (timm,
  TensorFlow's) use ReLU6, which changes neither parameters nor MACs.
- V3-small: Table 2 marks SE on the final 1x1 conv (576); the official implementation has none there
  and neither does the paper's 2.5M parameter count, so archzoo leaves it out too.
- V3's head 1x1 convs on the pooled 1x1 map are `nn.Linear` layers (the same function); BN uses
  eps 1e-3 and momentum 0.01 (TensorFlow's 0.99), as in the paper's training setup.
- Dropout before the classifier (0.2 for V2 and V3) follows the reference implementation.
- Every layer pads, so any input of at least 1x1 runs, but the stride-32 ImageNet net shrinks 28x28
  to 1x1 before its last stages. `stem="cifar"` is archzoo's small-input configuration (not in the
  papers; it is the change common CIFAR ports of MobileNetV2 make): the stem conv and the first
  down-sampling stage run at stride 1, so the net divides the side by 8 (28x28 -> 4x4 at the last
  stage, 32x32 -> 4x4). The layers and the parameter count stay the same; MACs grow 16x.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch.nn as nn

from ..blocks.conv_norm_act import ConvNormAct
from ..blocks.heads import ClassifierHead, VectorizeHead
from ..blocks.mbconv import MBConv, make_divisible
from ..blocks.separable import DepthwiseSeparableConv
from ._base import FeatureInfo, ImageClassifier, build_classifier
from ._registry import ModelCard, Paper, register_variants

PAPERS = {
    "v1": Paper("MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications",
                2017, "1704.04861", "Howard, Zhu, Chen, Kalenichenko, Wang, Weyand, Andreetto, Adam"),
    "v2": Paper("MobileNetV2: Inverted Residuals and Linear Bottlenecks", 2018, "1801.04381",
                "Sandler, Howard, Zhu, Zhmoginov, Chen"),
    "v3": Paper("Searching for MobileNetV3", 2019, "1905.02244",
                "Howard, Sandler, Chu, Chen, Chen, Tan, Wang, Zhu, Pang, Vasudevan, Le, Adam"),
}

# V1 (Table 1): per stage (out channels, depthwise-separable convs, stride of the first)
V1_STAGES = ((64, 1, 1), (128, 2, 2), (256, 2, 2), (512, 6, 2), (1024, 2, 2))
# V2 (Table 2): per stage (expansion t, out channels c, blocks n, stride s)
V2_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
             (6, 160, 3, 2), (6, 320, 1, 1))
# V3 (Tables 1, 2): per layer (kernel, expansion width, out, SE, h-swish, stride); a stage begins
# at each stride-2 layer
V3_LARGE = ((3, 16, 16, 0, 0, 1), (3, 64, 24, 0, 0, 2), (3, 72, 24, 0, 0, 1), (5, 72, 40, 1, 0, 2),
            (5, 120, 40, 1, 0, 1), (5, 120, 40, 1, 0, 1), (3, 240, 80, 0, 1, 2), (3, 200, 80, 0, 1, 1),
            (3, 184, 80, 0, 1, 1), (3, 184, 80, 0, 1, 1), (3, 480, 112, 1, 1, 1),
            (3, 672, 112, 1, 1, 1), (5, 672, 160, 1, 1, 2), (5, 960, 160, 1, 1, 1),
            (5, 960, 160, 1, 1, 1))
V3_SMALL = ((3, 16, 16, 1, 0, 2), (3, 72, 24, 0, 0, 2), (3, 88, 24, 0, 0, 1), (5, 96, 40, 1, 1, 2),
            (5, 240, 40, 1, 1, 1), (5, 240, 40, 1, 1, 1), (5, 120, 48, 1, 1, 1), (5, 144, 48, 1, 1, 1),
            (5, 288, 96, 1, 1, 2), (5, 576, 96, 1, 1, 1), (5, 576, 96, 1, 1, 1))
V3_HEAD = {"v3_large": 1280, "v3_small": 1024}


@dataclass(frozen=True)
class MobileNetConfig:
    version: str  # "v1", "v2", "v3_large" or "v3_small"
    width: float = 1.0  # the width multiplier alpha
    drop_rate: float = 0.2
    stem: str = "imagenet"  # "imagenet" (stride 32), or "cifar": stem and first down-sampling at stride 1
    num_classes: int = 1000
    in_chans: int = 3


def _small_input(strides: list[int], cfg: MobileNetConfig) -> list[int]:
    """The table's strides; with the cifar stem, the first stride-2 entry runs at stride 1."""
    if cfg.stem == "cifar" and 2 in strides:
        strides = list(strides)
        strides[strides.index(2)] = 1
    return strides


def _v1_body(cfg: MobileNetConfig, chs: int) -> tuple[list[nn.Sequential], list[int]]:
    stages, strides = [], []
    table = _small_input([s for _, _, s in V1_STAGES], cfg)
    for (out, n, _), stride in zip(V1_STAGES, table):
        out = make_divisible(out * cfg.width)
        blocks = []
        for i in range(n):
            blocks.append(DepthwiseSeparableConv(chs, out, stride=stride if i == 0 else 1))
            chs = out
        stages.append(nn.Sequential(*blocks))
        strides.append(stride)
    return stages, strides


def _v2_body(cfg: MobileNetConfig, chs: int) -> tuple[list[nn.Sequential], list[int]]:
    stages, strides = [], []
    table = _small_input([s for *_, s in V2_STAGES], cfg)
    for (t, c, n, _), s in zip(V2_STAGES, table):
        out = make_divisible(c * cfg.width)
        blocks = []
        for i in range(n):
            blocks.append(MBConv(chs, out, mid_chs=chs * t, stride=s if i == 0 else 1,
                                 act_layer=nn.ReLU6))
            chs = out
        stages.append(nn.Sequential(*blocks))
        strides.append(s)
    return stages, strides


def _v3_body(cfg: MobileNetConfig, chs: int, norm) -> tuple[list[nn.Sequential], list[int]]:
    table = V3_LARGE if cfg.version == "v3_large" else V3_SMALL
    stages: list[list[nn.Module]] = []
    strides: list[int] = []
    run = _small_input([row[-1] for row in table], cfg)  # stages still begin where the table's s=2
    for (k, exp, out, se, hs, table_s), s in zip(table, run):
        exp, out = make_divisible(exp * cfg.width), make_divisible(out * cfg.width)
        if table_s == 2 or not stages:
            stages.append([])
            strides.append(s)
        stages[-1].append(MBConv(
            chs, out, mid_chs=exp, kernel_size=k, stride=s,
            se_chs=make_divisible(exp // 4) if se else 0, norm_layer=norm,
            act_layer=nn.Hardswish if hs else nn.ReLU, se_gate_layer=nn.Hardsigmoid))
        chs = out
    return [nn.Sequential(*blocks) for blocks in stages], strides


def build_mobilenet(cfg: MobileNetConfig) -> ImageClassifier:
    if cfg.version not in ("v1", "v2", "v3_large", "v3_small"):
        raise ValueError(f"unknown MobileNet version {cfg.version!r}; expected v1, v2, v3_large or v3_small")
    if cfg.stem not in ("imagenet", "cifar"):
        raise ValueError(f"unknown MobileNet stem {cfg.stem!r}; expected 'imagenet' or 'cifar'")

    def make() -> ImageClassifier:
        v3 = cfg.version.startswith("v3")
        norm = partial(nn.BatchNorm2d, eps=1e-3, momentum=0.01) if v3 else nn.BatchNorm2d
        act = {"v1": nn.ReLU, "v2": nn.ReLU6}.get(cfg.version, nn.Hardswish)
        stem = make_divisible((16 if v3 else 32) * cfg.width)
        tail_stride = 1 if cfg.stem == "cifar" else 2
        tail = ConvNormAct(cfg.in_chans, stem, kernel_size=3, stride=tail_stride, norm_layer=norm,
                           act_layer=act)
        if cfg.version == "v1":
            stages, strides = _v1_body(cfg, stem)
        elif cfg.version == "v2":
            stages, strides = _v2_body(cfg, stem)
        else:
            stages, strides = _v3_body(cfg, stem, norm)
        info, reduction = [], tail_stride
        for i, (stage, s) in enumerate(zip(stages, strides)):
            reduction *= s
            info.append(FeatureInfo(f"body.{i}", stage[-1].out_chs if cfg.version == "v1"
                                    else stage[-1].project.out_chs, reduction))
        chs = info[-1].channels
        if cfg.version == "v1":
            head: nn.Module = ClassifierHead(chs, cfg.num_classes, drop_rate=cfg.drop_rate)
        else:  # V2 and V3 end the body with a 1x1 conv: to 1280 (V2), to 6x the width (V3)
            last = make_divisible(1280 * max(1.0, cfg.width)) if cfg.version == "v2" else 6 * chs
            stages.append(ConvNormAct(chs, last, kernel_size=1, padding=0, norm_layer=norm, act_layer=act))
            info.append(FeatureInfo(f"body.{len(stages) - 1}", last, reduction))
            chs = last
            if v3:  # pool -> 1x1 conv (a linear layer on the pooled map) -> h-swish -> dropout -> FC
                hidden = make_divisible(V3_HEAD[cfg.version] * cfg.width)
                head = VectorizeHead(chs, cfg.num_classes, hidden=(hidden,), pool_size=1,
                                     drop_rate=cfg.drop_rate, act_layer=nn.Hardswish)
            else:
                head = ClassifierHead(chs, cfg.num_classes, drop_rate=cfg.drop_rate)
        model = ImageClassifier(tail=tail, body=nn.Sequential(*stages), head=head, feature_info=info,
                                in_chans=cfg.in_chans, num_classes=cfg.num_classes,
                                num_features=chs)
        for m in model.modules():  # the reference implementation's initialization
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)
        return model

    return build_classifier(make)


VARIANTS: dict[str, MobileNetConfig] = {
    "mobilenet_v1_025": MobileNetConfig("v1", width=0.25, drop_rate=0.0),
    "mobilenet_v1_050": MobileNetConfig("v1", width=0.5, drop_rate=0.0),
    "mobilenet_v1_075": MobileNetConfig("v1", width=0.75, drop_rate=0.0),
    "mobilenet_v1_100": MobileNetConfig("v1", width=1.0, drop_rate=0.0),
    "mobilenet_v2": MobileNetConfig("v2"),
    "mobilenet_v3_large": MobileNetConfig("v3_large"),
    "mobilenet_v3_small": MobileNetConfig("v3_small"),
}

_TV = "torchvision 0.29 reference implementation (params; MACs by torch.utils.flop_counter)"
SMALL_INPUT_NOTE = ("28x28 (Fashion-MNIST): the ImageNet net shrinks it to 1x1; stem=cifar runs the "
                    "stem and the first down-sampling stage at stride 1 (side / 8: 28x28 ends at 4x4)")
_TIMM = "timm 1.0.31 reference implementation mobilenetv1_100 (params; MACs by torch.utils.flop_counter)"
_T6 = ("params: archzoo's exact count (the paper's Table 6 rounds it to {p}); "
       "MACs: the paper's Table 6 ({m} million multiply-adds)")
# name: (params, MACs, source)
_FIGURES: dict[str, tuple[int, int, str]] = {
    "mobilenet_v1_025": (470_072, 41_000_000, _T6.format(p="0.5M", m=41)),
    "mobilenet_v1_050": (1_331_592, 149_000_000, _T6.format(p="1.3M", m=149)),
    "mobilenet_v1_075": (2_585_560, 325_000_000, _T6.format(p="2.6M", m=325)),
    "mobilenet_v1_100": (4_231_976, 568_740_352, _TIMM + "; the paper's Table 6: 4.2M, 569M"),
    "mobilenet_v2": (3_504_872, 300_774_272, _TV + "; the paper's Table 4: 3.4M, 300M"),
    "mobilenet_v3_large": (5_483_032, 216_589_760, _TV + "; the paper's Table 3: 5.4M, 219M"),
    "mobilenet_v3_small": (2_542_856, 56_510_400, _TV + "; the paper's Table 3: 2.5M, 56M"),
}
# published ImageNet top-1: the papers' tables for V1, torchvision's IMAGENET1K_V1 weights otherwise
_TOP1 = {"mobilenet_v1_025": 50.6, "mobilenet_v1_050": 63.7, "mobilenet_v1_075": 68.4,
         "mobilenet_v1_100": 70.6, "mobilenet_v2": 71.878, "mobilenet_v3_large": 74.042,
         "mobilenet_v3_small": 67.668}


def _card(name: str, cfg: MobileNetConfig) -> ModelCard:
    params, macs, source = _FIGURES[name]
    notes = []
    if cfg.version == "v1":
        notes.append("last depthwise conv at stride 1 (Table 1's 's2' there is a misprint)")
        notes.append("ReLU as in the paper; the timm / TensorFlow references use ReLU6")
    if cfg.version == "v3_small":
        notes.append("no SE on the final 1x1 conv (Table 2 marks one; the official model and the "
                     "paper's 2.5M count have none)")
    if cfg.version != "v1":
        notes.append("dropout 0.2 before the classifier, as the reference implementation")
    notes.append(SMALL_INPUT_NOTE)
    return ModelCard(
        name=name, family="mobilenet", task="classification", paper=PAPERS[cfg.version[:2]],
        input_size=(3, 224, 224), num_classes=cfg.num_classes, params=params, macs=macs,
        source=source,
        macs_convention="matmul-class ops only, no bias" if "flop_counter" in source else
        "the paper's rounded figure (multiply-adds of conv and FC layers)",
        small_input_size=(3, 64, 64), notes=tuple(notes),
        accuracy={"imagenet_top1": _TOP1[name]},
    )


register_variants("mobilenet", VARIANTS, build_mobilenet, _card)
