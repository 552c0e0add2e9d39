"""SENet: Hu, Shen, Albanie, Sun, Wu 2018, "Squeeze-and-Excitation Networks" (arXiv:1709.01507).

SE-ResNet-50 and SE-ResNeXt-50 (32x4d) of Table 1: the ResNet / ResNeXt bottlenecks with a
squeeze-and-excitation gate (reduction r = 16, the paper's choice) on the residual branch, applied
before the branch is added to the shortcut (Figure 3, the "standard SE" integration).

Departures and options:
- `seresnet50` down-samples in the first 1x1 conv, as the paper's (Caffe) ResNet-50 and its released
  model do; `seresnext50_32x4d` in the grouped 3x3, as ResNeXt does. Their reference figures are
  timm's `legacy_seresnet50` (the released SE-ResNet-50) and `seresnext50_32x4d`.
- The two FC layers are 1x1 convolutions with bias on the pooled map (the same parameters).
- `stem="cifar"` keeps 28x28 / 32x32 inputs at full resolution, as in `resnet.py`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ..blocks import Bottleneck
from ..blocks.squeeze_excite import SqueezeExcite
from ._base import ImageClassifier
from ._registry import ModelCard, Paper, register_variants
from .resnet import ResNetConfig, build_resnet

PAPER = Paper("Squeeze-and-Excitation Networks", 2018, "1709.01507",
              "Hu, Shen, Albanie, Sun, Wu")


class SEBottleneck(Bottleneck):
    """A ResNet / ResNeXt bottleneck whose residual branch is gated per channel before the sum."""

    def __init__(self, in_chs: int, out_chs: int, *, mid_chs: int, se_reduction: int = 16,
                 **kwargs) -> None:
        super().__init__(in_chs, out_chs, mid_chs=mid_chs, **kwargs)
        self.se = SqueezeExcite(out_chs, rd_chs=out_chs // se_reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch = self.se(self.conv3(self.conv2(self.conv1(x))))  # (B, C, H, W)
        return self.act(branch + self.shortcut(x))


@dataclass(frozen=True)
class SENetConfig(ResNetConfig):
    se_reduction: int = 16


def _se_block(cfg: SENetConfig, in_chs: int, out_chs: int, mid_chs: int, stride: int) -> nn.Module:
    return SEBottleneck(in_chs, out_chs, mid_chs=mid_chs, se_reduction=cfg.se_reduction,
                        stride=stride, groups=cfg.groups, stride_in_3x3=cfg.stride_in_3x3,
                        shortcut=cfg.shortcut)


def build_senet(cfg: SENetConfig) -> ImageClassifier:
    return build_resnet(cfg, _se_block)


VARIANTS: dict[str, SENetConfig] = {
    "seresnet50": SENetConfig("bottleneck", (3, 4, 6, 3)),
    "seresnext50_32x4d": SENetConfig("bottleneck", (3, 4, 6, 3), groups=32, width_per_group=4,
                                     stride_in_3x3=True),
}

_TIMM = "timm 1.0.31 reference implementation (params; MACs by torch.utils.flop_counter)"
_FIGURES = {  # name: (params, MACs at 224, source); the paper (Table 2): 3.87 and 4.25 GFLOPs
    "seresnet50": (28_088_024, 3_860_488_192, _TIMM + ", legacy_seresnet50 (the released model)"),
    "seresnext50_32x4d": (27_559_896, 4_232_994_816, _TIMM),
}


def _card(name: str, cfg: SENetConfig) -> ModelCard:
    params, macs, source = _FIGURES[name]
    notes = ["SE gate with r = 16 after the last 1x1 conv of every bottleneck"]
    if name == "seresnet50":
        notes.append("stride 2 in the first 1x1 conv, as the paper's released model (timm's "
                     "`seresnet50` puts it in the 3x3: same params, 6% more MACs)")
    return ModelCard(
        name=name, family="senet", task="classification", paper=PAPER, input_size=(3, 224, 224),
        num_classes=cfg.num_classes, params=params, macs=macs, source=source,
        macs_convention="matmul-class ops only, no bias", small_input_size=(3, 32, 32),
        notes=tuple(notes),
    )


register_variants("senet", VARIANTS, build_senet, _card)
