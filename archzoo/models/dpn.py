"""DPN: Chen, Li, Xiao, Jin, Yan, Feng 2017, "Dual Path Networks" (arXiv:1707.01629).

A dual path block keeps two states: a residual path of fixed width R that blocks add to (ResNet's
feature re-use) and a densely connected path that each block appends `inc` new channels to
(DenseNet's feature exploration). Both are read together (concatenated) by a shared ResNeXt-style
bottleneck 1x1 -> grouped 3x3 -> 1x1 whose R + inc outputs are split between them (Figure 2e).
The first block of a stage projects the concatenated input (1x1, strided when the stage
down-samples, to R + 2 inc channels) to start both paths afresh. Table 1's configurations:
DPN-92: 64-channel tail, 3x3 widths 96-192-384-768 in 32 groups, R = 256-512-1024-2048,
inc = 16-32-24-128, blocks 3-4-20-3; DPN-98: 96-channel tail, widths 160-320-640-1280 in 40 groups,
inc = 16-32-32-128, blocks 3-6-20-3.

Departures and options:
- Units are BN-ReLU-conv (pre-activation) with a BN-ReLU closing the body, as in the authors'
  released code; the paper does not draw the norms. Down-sampling is in the 3x3 (and the strided
  projection), as there.
- Between stages the two paths travel concatenated (one tensor per stage, for `feature_info`);
  every stage's first block splits them again by its projection, so nothing changes.
- The paper gives no exact parameter count; the card has the reference implementation's count of
  the same layers (and its MACs: 6.50e9 and 11.67e9, the paper's 6.5 and 11.7 GFLOPs).
- `stem="cifar"` (3x3/1 conv, no max-pool) keeps 28x28 / 32x32 inputs at full resolution.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ..blocks import ClassifierHead
from ..blocks.preact import NormAct, NormActConv
from ..blocks.stem import resnet_stem
from ._base import FeatureInfo, ImageClassifier, build_classifier
from ._registry import ModelCard, Paper, register_variants

PAPER = Paper("Dual Path Networks", 2017, "1707.01629", "Chen, Li, Xiao, Jin, Yan, Feng")

Paths = tuple[torch.Tensor, torch.Tensor]  # (residual (B, R, H, W), dense (B, Cd, H, W))


class DualPathBlock(nn.Module):
    def __init__(self, in_chs: int, *, mid_chs: int, res_chs: int, inc: int, groups: int,
                 stride: int = 1, project: bool = False) -> None:
        super().__init__()
        self.res_chs = res_chs
        self.project = (NormActConv(in_chs, res_chs + 2 * inc, kernel_size=1, stride=stride)
                        if project else None)
        self.conv1 = NormActConv(in_chs, mid_chs, kernel_size=1)
        self.conv2 = NormActConv(mid_chs, mid_chs, kernel_size=3, stride=stride, groups=groups)
        self.conv3 = NormActConv(mid_chs, res_chs + inc, kernel_size=1)

    def forward(self, x: Paths | torch.Tensor) -> Paths:
        x_in = torch.cat(x, dim=1) if isinstance(x, tuple) else x  # (B, R + Cd, H, W)
        if self.project is not None:
            s = self.project(x_in)  # (B, R + 2 inc, H, W)
            res, dense = s[:, : self.res_chs], s[:, self.res_chs:]
        else:
            res, dense = x
        out = self.conv3(self.conv2(self.conv1(x_in)))  # (B, R + inc, H, W)
        return res + out[:, : self.res_chs], torch.cat([dense, out[:, self.res_chs:]], dim=1)


class DualPathStage(nn.Module):
    """A stage of dual path blocks; its output is the two paths concatenated (B, R + Cd, H, W)."""

    def __init__(self, blocks: list[DualPathBlock], norm: nn.Module | None = None) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*blocks)
        self.norm = norm if norm is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(torch.cat(self.blocks(x), dim=1))


@dataclass(frozen=True)
class DPNConfig:
    stem_width: int
    k_r: int  # 3x3 width of the first stage; doubles with R
    groups: int
    layers: tuple[int, ...]
    incs: tuple[int, ...]  # channels each block adds to the dense path, per stage
    res_chs: tuple[int, ...] = (256, 512, 1024, 2048)  # residual path width R per stage
    stem: str = "imagenet"  # "imagenet" (7x7/2 + max-pool) or "cifar" (3x3/1)
    num_classes: int = 1000
    in_chans: int = 3
    drop_rate: float = 0.0


def _tail(cfg: DPNConfig) -> tuple[nn.Module, int]:
    return resnet_stem(cfg.stem, in_chs=cfg.in_chans, out_chs=cfg.stem_width)


def build_dpn(cfg: DPNConfig) -> ImageClassifier:
    def make() -> ImageClassifier:
        tail, reduction = _tail(cfg)
        stages, info, chs = [], [], cfg.stem_width
        for i, (res, inc, depth) in enumerate(zip(cfg.res_chs, cfg.incs, cfg.layers)):
            stride = 1 if i == 0 else 2
            mid = cfg.k_r * res // cfg.res_chs[0]
            blocks = [DualPathBlock(chs, mid_chs=mid, res_chs=res, inc=inc, groups=cfg.groups,
                                    stride=stride, project=True)]
            chs = res + 3 * inc  # R + the projection's 2 inc + the first block's inc
            for _ in range(depth - 1):
                blocks.append(DualPathBlock(chs, mid_chs=mid, res_chs=res, inc=inc,
                                            groups=cfg.groups))
                chs += inc
            last = i == len(cfg.layers) - 1  # pre-activation units leave the output un-normalized
            stages.append(DualPathStage(blocks, NormAct(chs) if last else None))
            reduction *= stride
            info.append(FeatureInfo(f"body.{i}", chs, reduction))
        model = ImageClassifier(
            tail=tail, body=nn.Sequential(*stages),
            head=ClassifierHead(chs, cfg.num_classes, drop_rate=cfg.drop_rate),
            feature_info=info, in_chans=cfg.in_chans, num_classes=cfg.num_classes, num_features=chs,
        )
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        return model

    return build_classifier(make)


VARIANTS: dict[str, DPNConfig] = {
    "dpn92": DPNConfig(64, 96, 32, (3, 4, 20, 3), (16, 32, 24, 128)),
    "dpn98": DPNConfig(96, 160, 40, (3, 6, 20, 3), (16, 32, 32, 128)),
}

_TIMM = "timm 1.0.31 reference implementation (params; MACs by torch.utils.flop_counter)"
_FIGURES = {  # name: (params, MACs at 224)
    "dpn92": (37_668_392, 6_501_684_224),
    "dpn98": (61_570_728, 11_671_217_152),
}


def _card(name: str, cfg: DPNConfig) -> ModelCard:
    params, macs = _FIGURES[name]
    return ModelCard(
        name=name, family="dpn", task="classification", paper=PAPER, input_size=(3, 224, 224),
        num_classes=cfg.num_classes, params=params, macs=macs, source=_TIMM,
        macs_convention="matmul-class ops only, no bias", small_input_size=(3, 32, 32),
        notes=("pre-activation (BN-ReLU-conv) units as in the authors' code",),
    )


register_variants("dpn", VARIANTS, build_dpn, _card)
