"""GoogLeNet (Inception v1) and Inception-v3.

GoogLeNet: Szegedy et al. 2014, "Going Deeper with Convolutions" (arXiv:1409.4842), Table 1 and
Figure 3. `googlenet` is the paper's net: a 7x7/2 conv, 3x3/2 max-pool, LRN, 1x1 and 3x3 convs,
LRN, max-pool tail; nine Inception modules (3a-3b, 4a-4e, 5a-5b) with 3x3/2 max-pools between the
grids; 7x7 average pool, dropout 0.4, linear. Convolutions have biases and ReLU, no normalization.
`googlenet_bn` is the widely used reference implementation's variant, the one whose 6,624,904
parameters the reference figures cite: batch normalization after every conv (eps 1e-3, no biases),
no LRN, a 3x3 conv where the paper's module has its 5x5, a 2x2/2 max-pool before 5a and dropout
0.2. The bare name follows the paper, as `resnet50` and `alexnet` do in this library.

Inception-v3: Szegedy et al. 2016, "Rethinking the Inception Architecture for Computer Vision"
(arXiv:1512.00567). The paper's Table 1 gives the outline only, so `inception_v3` follows the
authors' released network (23,834,568 parameters, 299x299 input): a stem of 3x3 convs (32, 32, 64),
max-pool, 1x1 (80) and 3x3 (192) convs, max-pool; 3 modules A (Figure 5) at 35x35, grid reduction
B, 4 modules C (Figure 6, 1x7 / 7x1) at 17x17, grid reduction D, 2 modules E (Figure 7) at 8x8;
average pool, dropout 0.5, linear. Table 1 differs from the release: it lists 5 modules at 17x17
and a 3x3 conv (80) in the stem, and module A's release keeps a 5x5 branch. BN eps is 1e-3.

Auxiliary classifiers (`aux_logits=True`; GoogLeNet section 5, Inception-v3 section 4): GoogLeNet
taps 4a and 4d (5x5/3 average pool, 1x1 conv 128, FC 1024 + ReLU, dropout 0.7, linear);
Inception-v3 taps the last 17x17 module (5x5/3 average pool, 1x1 conv 128, 5x5 conv 768, linear).
`forward` always returns the main logits only; `forward_with_aux(x)` returns `(logits, aux)` with
`aux` a tuple of the auxiliary logits, to train with loss = CE(logits) + w * sum(CE(a) for a in
aux), w = `model.aux_weight` (0.3 in GoogLeNet section 5; 0.4 for Inception-v3, the weight of
the authors' released training script, as the paper gives none).

Departures: on maps too small for the 5x5/3 pool the aux heads pool adaptively to the grid they
need (4x4, resp. at least 5x5), so they run at any input size; at 224 and 299 they are the papers'
heads; `googlenet_bn`'s pool adaptively to 4x4 at every size, as the reference implementation's
do (same parameters, different windows). `googlenet`'s LRN constants are Caffe's (the paper gives
none), and its max-pools round up as Caffe's do.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..blocks import ClassifierHead, ConvNormAct, LocalResponseNorm
from ..blocks.inception import (InceptionV1, InceptionV3A, InceptionV3B, InceptionV3C,
                                InceptionV3D, InceptionV3E)
from ._base import FeatureInfo, ImageClassifier, build_classifier
from ._registry import ModelCard, Paper, register_variants

PAPER_V1 = Paper("Going Deeper with Convolutions", 2014, "1409.4842",
                 "Szegedy, Liu, Jia, Sermanet, Reed, Anguelov, Erhan, Vanhoucke, Rabinovich")
PAPER_V3 = Paper("Rethinking the Inception Architecture for Computer Vision", 2016, "1512.00567",
                 "Szegedy, Vanhoucke, Ioffe, Shlens, Wojna")


def _aux_pool(x: torch.Tensor, *, grid: int, exact: bool) -> torch.Tensor:
    if min(x.shape[-2:]) >= 5:
        x = F.avg_pool2d(x, 5, stride=3)  # the papers' 5x5/3 average pool
    h, w = x.shape[-2:]
    if exact and (h, w) != (grid, grid):
        x = F.adaptive_avg_pool2d(x, grid)  # (B, C, grid, grid) for a fixed-size FC
    elif min(h, w) < grid:
        x = F.adaptive_avg_pool2d(x, (max(h, grid), max(w, grid)))
    return x


class GoogLeNetAux(nn.Module):
    def __init__(self, in_chs: int, num_classes: int, *, norm_layer: type[nn.Module] | None,
                 adaptive_pool: bool = False, drop_rate: float = 0.7) -> None:
        super().__init__()
        self.adaptive_pool = adaptive_pool  # the reference variant pools adaptively to 4x4
        self.conv = ConvNormAct(in_chs, 128, kernel_size=1, norm_layer=norm_layer)
        self.fc1 = nn.Sequential(nn.Linear(128 * 4 * 4, 1024), nn.ReLU(), nn.Dropout(drop_rate))
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(x, 4) if self.adaptive_pool else _aux_pool(x, grid=4, exact=True)
        x = self.conv(x)  # (B, 128, 4, 4)
        return self.fc(self.fc1(x.flatten(1)))  # (B, num_classes)

    def reset(self, num_classes: int) -> None:
        self.fc = nn.Linear(1024, num_classes)


class InceptionV3Aux(nn.Module):
    def __init__(self, in_chs: int, num_classes: int, *, norm_layer: type[nn.Module]) -> None:
        super().__init__()
        self.conv1 = ConvNormAct(in_chs, 128, kernel_size=1, norm_layer=norm_layer)
        self.conv2 = ConvNormAct(128, 768, kernel_size=5, padding=0, norm_layer=norm_layer)
        self.fc = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv2(self.conv1(_aux_pool(x, grid=5, exact=False)))  # (B, 768, >=1, >=1)
        return self.fc(x.mean((2, 3)))  # (B, num_classes)

    def reset(self, num_classes: int) -> None:
        self.fc = nn.Linear(768, num_classes)


class InceptionClassifier(ImageClassifier):
    """An ImageClassifier whose body modules named in `aux_heads` also feed auxiliary heads."""

    def __init__(self, *, aux_heads: dict[str, nn.Module], aux_weight: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.aux_heads = nn.ModuleDict(aux_heads)  # keyed by the tapped module's name in its stage
        self.aux_weight = aux_weight

    def forward_with_aux(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """(main logits, auxiliary logits in tap order); the tuple is empty without aux heads."""
        self.check_input(x)
        x, aux = self.tail(x), []
        for stage in self.body:
            for name, module in stage.named_children():
                x = module(x)
                if name in self.aux_heads:
                    aux.append(self.aux_heads[name](x))
        return self.forward_head(x), tuple(aux)

    def reset_head(self, num_classes: int) -> None:
        super().reset_head(num_classes)
        for head in self.aux_heads.values():
            head.reset(num_classes)


def _init(model: nn.Module, mode: str) -> None:
    for m in model.modules():  # He initialization; the papers do not give theirs
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode=mode, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


@dataclass(frozen=True)
class GoogLeNetConfig:
    batch_norm: bool = False  # BN after every conv (the reference variant)
    lrn: bool = True  # the paper's two local response normalizations in the tail
    kernel_5x5: int = 5  # the "5x5" branch's kernel (3 in the reference variant)
    last_pool_kernel: int = 3  # the max-pool before 5a (2x2/2 in the reference variant)
    aux_logits: bool = False
    aux_adaptive_pool: bool = False  # aux heads pool adaptively to 4x4 (the reference variant)
    drop_rate: float = 0.4
    in_chans: int = 3
    num_classes: int = 1000


# Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj of each module, by grid
_V1_STAGES: tuple[dict[str, tuple[int, ...]], ...] = (
    {"3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64)},
    {"4a": (192, 96, 208, 16, 48, 64), "4b": (160, 112, 224, 24, 64, 64),
     "4c": (128, 128, 256, 24, 64, 64), "4d": (112, 144, 288, 32, 64, 64),
     "4e": (256, 160, 320, 32, 128, 128)},
    {"5a": (256, 160, 320, 32, 128, 128), "5b": (384, 192, 384, 48, 128, 128)},
)


def build_googlenet(cfg: GoogLeNetConfig) -> InceptionClassifier:
    norm = partial(nn.BatchNorm2d, eps=1e-3) if cfg.batch_norm else None
    conv = partial(ConvNormAct, norm_layer=norm)

    def lrn() -> nn.Module:  # Caffe's n=5, alpha=1e-4 per window (1e-4/5 per term), beta=0.75, k=1
        return LocalResponseNorm(size=5, alpha=2e-5, beta=0.75, k=1.0) if cfg.lrn else nn.Identity()

    def make() -> InceptionClassifier:
        tail = nn.Sequential(
            conv(cfg.in_chans, 64, kernel_size=7, stride=2, padding=3),  # (B, 64, H/2, W/2)
            nn.MaxPool2d(3, stride=2, ceil_mode=True), lrn(),
            conv(64, 64, kernel_size=1), conv(64, 192, kernel_size=3), lrn(),
            nn.MaxPool2d(3, stride=2, ceil_mode=True),  # (B, 192, H/8, W/8)
        )
        stages, info, chs, reduction, aux = [], [], 192, 8, {}
        for i, table in enumerate(_V1_STAGES):
            stage = nn.Sequential()
            if i > 0:
                k = cfg.last_pool_kernel if i == 2 else 3
                stage.add_module("pool", nn.MaxPool2d(k, stride=2, ceil_mode=True))
                reduction *= 2
            for name, widths in table.items():
                module = InceptionV1(chs, **dict(zip(
                    ("c1x1", "c3x3_reduce", "c3x3", "c5x5_reduce", "c5x5", "pool_proj"), widths)),
                    kernel_5x5=cfg.kernel_5x5, norm_layer=norm)
                stage.add_module(name, module)
                chs = module.out_chs
                if cfg.aux_logits and name in ("4a", "4d"):
                    aux[name] = GoogLeNetAux(chs, cfg.num_classes, norm_layer=norm,
                                             adaptive_pool=cfg.aux_adaptive_pool)
            stages.append(stage)
            info.append(FeatureInfo(f"body.{i}", chs, reduction))
        model = InceptionClassifier(
            tail=tail, body=nn.Sequential(*stages),
            head=ClassifierHead(chs, cfg.num_classes, drop_rate=cfg.drop_rate),
            feature_info=info, in_chans=cfg.in_chans, num_classes=cfg.num_classes,
            num_features=chs, aux_heads=aux, aux_weight=0.3,
        )
        # fan_in keeps the activations' scale through 22 layers without normalization (fan_out
        # starts the paper's net with logits of about 30)
        _init(model, "fan_in")
        return model

    return build_classifier(make)


@dataclass(frozen=True)
class InceptionV3Config:
    aux_logits: bool = False
    drop_rate: float = 0.5
    in_chans: int = 3
    num_classes: int = 1000


def build_inception_v3(cfg: InceptionV3Config) -> InceptionClassifier:
    norm = partial(nn.BatchNorm2d, eps=1e-3)
    conv = partial(ConvNormAct, norm_layer=norm)

    def make() -> InceptionClassifier:
        tail = nn.Sequential(
            conv(cfg.in_chans, 32, kernel_size=3, stride=2, padding=0),  # (B, 32, 149, 149) at 299
            conv(32, 32, kernel_size=3, padding=0), conv(32, 64, kernel_size=3),
            nn.MaxPool2d(3, stride=2),  # (B, 64, 73, 73)
            conv(64, 80, kernel_size=1), conv(80, 192, kernel_size=3, padding=0),
            nn.MaxPool2d(3, stride=2),  # (B, 192, 35, 35)
        )
        body = nn.Sequential(
            nn.Sequential(OrderedDict({"5b": InceptionV3A(192, pool_proj=32, norm_layer=norm),
                           "5c": InceptionV3A(256, pool_proj=64, norm_layer=norm),
                           "5d": InceptionV3A(288, pool_proj=64, norm_layer=norm)})),
            nn.Sequential(OrderedDict({"6a": InceptionV3B(288, norm_layer=norm),  # (B, 768, 17, 17)
                           **{n: InceptionV3C(768, mid_chs=c, norm_layer=norm)
                              for n, c in zip(("6b", "6c", "6d", "6e"), (128, 160, 160, 192))}})),
            nn.Sequential(OrderedDict({"7a": InceptionV3D(768, norm_layer=norm),  # (B, 1280, 8, 8)
                           "7b": InceptionV3E(1280, norm_layer=norm),
                           "7c": InceptionV3E(2048, norm_layer=norm)})),
        )
        aux = {"6e": InceptionV3Aux(768, cfg.num_classes, norm_layer=norm)} \
            if cfg.aux_logits else {}
        model = InceptionClassifier(
            tail=tail, body=body,
            head=ClassifierHead(2048, cfg.num_classes, drop_rate=cfg.drop_rate),
            feature_info=[FeatureInfo("body.0", 288, 8), FeatureInfo("body.1", 768, 16),
                          FeatureInfo("body.2", 2048, 32)],
            in_chans=cfg.in_chans, num_classes=cfg.num_classes, num_features=2048,
            aux_heads=aux, aux_weight=0.4,
        )
        _init(model, "fan_out")
        return model

    return build_classifier(make)


_TV = "torchvision 0.29 reference implementation (params; MACs by torch.utils.flop_counter)"
_TOP1 = {"googlenet_bn": 69.778, "inception_v3": 77.294}  # the reference weights, ImageNet


def _card(name: str, cfg: GoogLeNetConfig | InceptionV3Config) -> ModelCard:
    v3 = isinstance(cfg, InceptionV3Config)
    if v3:
        params, macs, source = 23_834_568, 5_713_216_096, _TV
        notes = ["the authors' released layout (3 A, 4 C, 2 E modules); Table 1 outlines 3 / 5 / 2",
                 "no BN in the aux head's FC (the paper's 'BN-auxiliary' is not in the release)"]
    elif cfg.batch_norm:
        params, macs, source = 6_624_904, 1_498_376_192, _TV
        notes = ["the reference implementation's variant: BN after every conv, no LRN, 3x3 conv "
                 "in the 5x5 branch, 2x2/2 pool before 5a, dropout 0.2, aux heads pool "
                 "adaptively to 4x4"]
    else:
        params, macs = 6_998_552, 1_586_000_000
        source = ("params: counted by archzoo from Table 1's widths, weights and biases (the "
                  "table's per-module figures are rounded and give no exact total); MACs: Table "
                  "1's "
                  "ops column (1,502M, the text's '1.5 billion multiply-adds') with conv1's 34M "
                  "replaced by the 118M that a 7x7 conv from 3 to 64 channels makes at 112x112")
        notes = ["LRN constants are Caffe's (n=5, alpha=1e-4 over the window, beta=0.75, k=1); the "
                 "paper gives none", "Table 1 lists conv1 at 2.7K params and 34M ops; its 7x7x3x64 "
                 "weights are 9,408 and 118M MACs"]
    return ModelCard(
        name=name, family="inception", task="classification", paper=PAPER_V3 if v3 else PAPER_V1,
        input_size=(3, 299, 299) if v3 else (3, 224, 224), num_classes=cfg.num_classes,
        params=params, macs=macs, source=source,
        macs_convention="the paper's multiply-adds (Table 1 ops column, conv1 corrected)"
        if name == "googlenet" else ModelCard.macs_convention,
        small_input_size=(3, 75, 75) if v3 else (3, 64, 64), notes=tuple(notes),
        accuracy={"imagenet_top1": _TOP1[name]} if name in _TOP1 else {},
    )


register_variants("googlenet", {
    "googlenet": GoogLeNetConfig(),
    "googlenet_bn": GoogLeNetConfig(batch_norm=True, lrn=False, kernel_5x5=3, last_pool_kernel=2,
                                    aux_adaptive_pool=True, drop_rate=0.2),
}, build_googlenet, _card)
register_variants("inception_v3", {"inception_v3": InceptionV3Config()}, build_inception_v3, _card)
