"""ConvNeXt: Liu et al. 2022, "A ConvNet for the 2020s" (arXiv:2201.03545).

A ResNet modernized step by step toward a Swin Transformer (section 2): a 4x4/4 "patchify" tail
with LayerNorm, stage ratio 3:3:9:3 (T) or 3:3:27:3 (S/B/L), separate down-sampling layers
(LayerNorm + 2x2/2 conv), and an inverted-bottleneck block: 7x7 depthwise conv -> LayerNorm ->
1x1 to 4C -> GELU -> 1x1 back to C, scaled by a learned per-channel "layer scale" (init 1e-6) and
added to the input through stochastic depth. The head pools, applies LayerNorm, then the classifier.

Departures and notes:
- The block's 1x1 convs are linear layers on a channels-last map (the same function).
- Stochastic depth rates are the paper's ImageNet-1K settings (0.1 / 0.4 / 0.5 / 0.5 for T / S /
  B / L), rising linearly from 0 over the blocks.
- The tail and three down-samplings divide the side by 32 without padding, so inputs must be at
  least 32x32; `patch_size=2` (a 2x2/2 tail) lets 28x28 Fashion-MNIST images through (28 -> 14 ->
  7 -> 3 -> 1), at the cost of 4x the MACs of the default at the same input size.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ..blocks.layernorm2d import LayerNorm2d
from ..blocks.stochastic_depth import DropPath, drop_path_rates
from ._base import FeatureInfo, ImageClassifier, build_classifier
from ._registry import ModelCard, Paper, register_variants

PAPER = Paper("A ConvNet for the 2020s", 2022, "2201.03545",
              "Liu, Mao, Wu, Feichtenhofer, Darrell, Xie")


class ConvNeXtBlock(nn.Module):
    def __init__(self, dim: int, *, drop_path: float = 0.0, layer_scale_init: float = 1e-6,
                 kernel_size: int = 7, mlp_ratio: int = 4) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.fc1 = nn.Linear(dim, mlp_ratio * dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(mlp_ratio * dim, dim)
        self.layer_scale = nn.Parameter(torch.full((dim,), layer_scale_init))
        self.drop_path = DropPath(p=drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)  # (B, H, W, C)
        y = self.layer_scale * self.fc2(self.act(self.fc1(self.norm(y))))
        return x + self.drop_path(y.permute(0, 3, 1, 2))  # (B, C, H, W)


class NormClassifierHead(nn.Module):
    """global average pool -> LayerNorm -> [dropout] -> linear."""

    def __init__(self, in_features: int, num_classes: int, *, drop_rate: float = 0.0) -> None:
        super().__init__()
        self.in_features = in_features
        self.norm = nn.LayerNorm(in_features, eps=1e-6)
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(in_features, num_classes) if num_classes > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.drop(self.norm(x.mean((2, 3))))  # (B, C)
        return x if pre_logits else self.fc(x)

    def reset(self, num_classes: int) -> None:
        self.fc = nn.Linear(self.in_features, num_classes) if num_classes > 0 else nn.Identity()


@dataclass(frozen=True)
class ConvNeXtConfig:
    depths: tuple[int, ...]
    dims: tuple[int, ...]
    patch_size: int = 4  # the tail's kernel and stride
    drop_path_rate: float = 0.1
    layer_scale_init: float = 1e-6
    drop_rate: float = 0.0
    num_classes: int = 1000
    in_chans: int = 3


def _assemble(cfg: ConvNeXtConfig) -> ImageClassifier:
    tail = nn.Sequential(
        nn.Conv2d(cfg.in_chans, cfg.dims[0], cfg.patch_size, stride=cfg.patch_size),
        LayerNorm2d(cfg.dims[0]),
    )
    rates = iter(drop_path_rates(cfg.drop_path_rate, sum(cfg.depths)))
    stages, info, reduction, chs = [], [], cfg.patch_size, cfg.dims[0]
    for i, (depth, dim) in enumerate(zip(cfg.depths, cfg.dims)):
        layers: list[nn.Module] = []
        if i > 0:  # down-sampling layer: LayerNorm, then a 2x2/2 conv
            layers += [LayerNorm2d(chs), nn.Conv2d(chs, dim, 2, stride=2)]
            reduction *= 2
        layers += [ConvNeXtBlock(dim, drop_path=next(rates), layer_scale_init=cfg.layer_scale_init)
                   for _ in range(depth)]
        stages.append(nn.Sequential(*layers))
        info.append(FeatureInfo(f"body.{i}", dim, reduction))
        chs = dim
    return ImageClassifier(
        tail=tail, body=nn.Sequential(*stages),
        head=NormClassifierHead(chs, cfg.num_classes, drop_rate=cfg.drop_rate),
        feature_info=info, in_chans=cfg.in_chans, num_classes=cfg.num_classes, num_features=chs,
    )


def build_convnext(cfg: ConvNeXtConfig) -> ImageClassifier:
    if len(cfg.depths) != len(cfg.dims):
        raise ValueError(f"depths {cfg.depths} and dims {cfg.dims} must have the same length")

    def make() -> ImageClassifier:
        device = torch.get_default_device()
        with torch.device("meta"):  # skip PyTorch's default init: every tensor is set below
            model = _assemble(cfg)
        model.to_empty(device=device)
        # the paper's code draws weights from a normal with std 0.02 truncated at +-2: 100 standard
        # deviations out, so a plain normal is the same distribution at a fraction of the cost
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                m.reset_parameters()
            elif isinstance(m, ConvNeXtBlock):
                nn.init.constant_(m.layer_scale, cfg.layer_scale_init)
        return model

    return build_classifier(make)


VARIANTS: dict[str, ConvNeXtConfig] = {
    "convnext_tiny": ConvNeXtConfig((3, 3, 9, 3), (96, 192, 384, 768), drop_path_rate=0.1),
    "convnext_small": ConvNeXtConfig((3, 3, 27, 3), (96, 192, 384, 768), drop_path_rate=0.4),
    "convnext_base": ConvNeXtConfig((3, 3, 27, 3), (128, 256, 512, 1024), drop_path_rate=0.5),
    "convnext_large": ConvNeXtConfig((3, 3, 27, 3), (192, 384, 768, 1536), drop_path_rate=0.5),
}

_TV = "torchvision 0.29 reference implementation (params; MACs by torch.utils.flop_counter)"
# name: (params, MACs, the paper's ImageNet-1K table: params and FLOPs at 224)
_FIGURES: dict[str, tuple[int, int, str]] = {
    "convnext_tiny": (28_589_128, 4_455_531_264, "28M, 4.5G"),
    "convnext_small": (50_223_688, 8_683_712_256, "50M, 8.7G"),
    "convnext_base": (88_591_464, 15_354_729_472, "89M, 15.4G"),
    "convnext_large": (197_767_336, 34_361_433_600, "198M, 34.4G"),
}
_TOP1 = {"convnext_tiny": 82.52, "convnext_small": 83.616, "convnext_base": 84.062,
         "convnext_large": 84.414}  # torchvision IMAGENET1K_V1


def _card(name: str, cfg: ConvNeXtConfig) -> ModelCard:
    params, macs, paper = _FIGURES[name]
    return ModelCard(
        name=name, family="convnext", task="classification", paper=PAPER,
        input_size=(3, 224, 224), num_classes=cfg.num_classes, params=params, macs=macs,
        source=f"{_TV}; the paper: {paper}", macs_convention="matmul-class ops only, no bias",
        min_input_size=32, small_input_size=(3, 32, 32),
        notes=("inputs of at least 32x32; patch_size=2 takes 28x28 (Fashion-MNIST): maps 14, 7, "
               "3, 1",),
        accuracy={"imagenet_top1": _TOP1[name]},
    )


register_variants("convnext", VARIANTS, build_convnext, _card)
