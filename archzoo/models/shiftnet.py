"""ShiftNet: Wu et al. 2018, "Shift: A Zero FLOP, Zero Parameter Alternative to Spatial
Convolutions" (arXiv:1711.08141), with the active shift of Jeon and Kim 2018, "Constructing Fast
Network through Deconstruction of Convolution" (arXiv:1806.07370) as an option.

`shiftnet_a` is the paper's ImageNet ShiftNet-A table (as seed 003 reproduces it): a 7x7/2 conv
with 32 channels; four groups of conv-shift-conv (CSC) modules, each group opening with a stride-2
module: group 1 (64 channels, 5x5 shift, expansion 4, 1 + 4 modules), group 2 (128, 5x5, 4 then 3,
1 + 5), group 3 (256, 3x3, 3 then 2, 1 + 6), group 4 (512, 3x3, 2 then 1, 1 + 2); 7x7 average
pool, FC 1000. The paper reports 4.1M parameters and 1.4G FLOPs for it.

What the table leaves open, archzoo fills as follows (so its counts run 3-12% above the paper's
rounded figures): the expansion multiplies the module's *input* channels; every conv is followed
by BN (ReLU after the first 1x1, and after the residual sum); a module adds its input back where
the shapes agree and has no shortcut where they do not (no projection convolutions); stride 2 is
applied in the shift (the second 1x1 runs at the output grid).

`shiftnet_b` and `shiftnet_c` are archzoo's reconstruction of the paper's smaller nets, whose
layer tables the paper does not print (it reports 1.1M / 371M FLOPs and 0.78M parameters):
ShiftNet-A at half the channels (B), and half the channels with expansion 1 everywhere (C). Both
land about as far above the paper's figures as ShiftNet-A does, which is the evidence for them.

Checked against the paper's ImageNet figures as later papers cite them: ShiftNet-A 70.1 / 89.7
top-1 / top-5 with 4.1M parameters and 1.4G FLOPs, ShiftNet-B 61.2 / 83.6 with 1.1M and 371M (a
survey's comparison table), ShiftNet-C 0.78M parameters (ShiftFaceNet's description); C's 58.8
top-1 on the card is the paper's and was not re-checked. archzoo counts (at 224, 1000 classes)
4.39M / 1.47G (A), 1.23M / 381M (B) and 0.84M / 158M (C): 3-5% above on MACs, 7-12% on
parameters. The other readings of the table land further off, which is why archzoo keeps this
one: expansion x *output* channels gives 4.99M / 1.72G (A); 1x1 projection shortcuts where shapes
change, 4.57M / 1.49G; "repeat" counting the stride-2 module too, 3.47M / 1.21G; dropping BN
changes only ~12K parameters.

`stem="cifar"` is archzoo's small-input configuration (not in the paper; its CIFAR nets are
ShiftResNets): a 3x3/1 conv tail and group 1 at stride 1, so the net divides the side by 8 and a
28x28 Fashion-MNIST image ends at 4x4 instead of 1x1. The tail's 3x3 kernel holds 32 x 9 weights
per input channel instead of 32 x 49.

`shiftnet_a_active` replaces every grouped shift with an active shift layer (learnable real
offsets per channel, bilinear interpolation): 2 parameters per shifted channel more, and the same
multiply-adds (interpolation is element-wise, outside the matmul-class MACs the cards count).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

from ..blocks import ClassifierHead, ConvNormAct
from ..blocks.shift import CSC
from ._base import FeatureInfo, ImageClassifier, build_classifier
from ._registry import ModelCard, Paper, register_variants

PAPER = Paper("Shift: A Zero FLOP, Zero Parameter Alternative to Spatial Convolutions", 2018,
              "1711.08141", "Wu, Wan, Yue, Jin, Zhao, Golmant, Gholaminejad, Gonzalez, Keutzer")
PAPER_ASL = Paper("Constructing Fast Network through Deconstruction of Convolution", 2018,
                  "1806.07370", "Jeon, Kim")

# ShiftNet-A, per group: (channels, shift kernel, expansion of the stride-2 module, expansion of
# the others, number of the others)
_A = ((64, 5, 4, 4, 4), (128, 5, 4, 3, 5), (256, 3, 3, 2, 6), (512, 3, 2, 1, 2))


@dataclass(frozen=True)
class ShiftNetConfig:
    groups: tuple[tuple[int, int, float, float, int], ...] = _A
    stem_width: int = 32
    active: bool = False  # active shift layers (Jeon and Kim 2018) instead of grouped shifts
    stem: str = "imagenet"  # "imagenet" (7x7/2 conv) or "cifar" (3x3/1 conv, group 1 at stride 1)
    drop_rate: float = 0.0
    in_chans: int = 3
    num_classes: int = 1000


def build_shiftnet(cfg: ShiftNetConfig) -> ImageClassifier:
    if cfg.stem not in ("imagenet", "cifar"):
        raise ValueError(f"unknown ShiftNet stem {cfg.stem!r}; expected 'imagenet' or 'cifar'")
    cifar = cfg.stem == "cifar"

    def make() -> ImageClassifier:
        tail = ConvNormAct(cfg.in_chans, cfg.stem_width, kernel_size=3 if cifar else 7,
                           stride=1 if cifar else 2)  # (B, stem_width, H/2, W/2); cifar: H, W
        stages, info, chs, reduction = [], [], cfg.stem_width, 1 if cifar else 2
        for i, (width, k, first, rest, repeat) in enumerate(cfg.groups):
            stride = 1 if cifar and i == 0 else 2
            modules = [CSC(chs, width, expansion=first, kernel_size=k, stride=stride,
                           active=cfg.active)]
            modules += [CSC(width, width, expansion=rest, kernel_size=k, active=cfg.active)
                        for _ in range(repeat)]
            stages.append(nn.Sequential(*modules))
            chs, reduction = width, reduction * stride
            info.append(FeatureInfo(f"body.{i}", chs, reduction))
        model = ImageClassifier(
            tail=tail, body=nn.Sequential(*stages),
            head=ClassifierHead(chs, cfg.num_classes, drop_rate=cfg.drop_rate),
            feature_info=info, in_chans=cfg.in_chans, num_classes=cfg.num_classes,
            num_features=chs,
        )
        for m in model.modules():  # He initialization; the paper does not give its own
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        return model

    return build_classifier(make)


def _scaled(groups, *, width: float = 1.0, expansion: float | None = None):
    return tuple((int(c * width), k, expansion or e1, expansion or e2, n)
                 for c, k, e1, e2, n in groups)


VARIANTS = {
    "shiftnet_a": ShiftNetConfig(),
    "shiftnet_b": ShiftNetConfig(_scaled(_A, width=0.5), stem_width=16),
    "shiftnet_c": ShiftNetConfig(_scaled(_A, width=0.5, expansion=1), stem_width=16),
    "shiftnet_a_active": ShiftNetConfig(active=True),
}

# name: (params, MACs by flop_counter at 224, the paper's params, FLOPs, top-1 %)
_FIGURES = {
    "shiftnet_a": (4_389_384, 1_466_052_608, "4.1M", "1.4G", 70.1),
    "shiftnet_b": (1_233_656, 381_392_896, "1.1M", "371M", 61.2),
    "shiftnet_c": (840_920, 158_210_048, "0.78M", None, 58.8),
    "shiftnet_a_active": (4_406_024, 1_466_052_608, None, None, None),
}


def _card(name: str, cfg: ShiftNetConfig) -> ModelCard:
    params, macs, paper_params, paper_flops, top1 = _FIGURES[name]
    paper = f"the paper reports {paper_params} parameters" + (
        f" and {paper_flops} FLOPs (multiply-adds)" if paper_flops else "") if paper_params else \
        "the ASL paper gives no figure for this net"
    notes = ["expansion x input channels; BN after every conv; identity shortcuts only where "
             "shapes agree; stride in the shift (the paper's table leaves these open)",
             "28x28 (Fashion-MNIST): the ImageNet net shrinks it to 1x1; stem=cifar (3x3/1 conv, "
             "group 1 at stride 1) keeps side / 8: 28x28 ends at 4x4"]
    if name in ("shiftnet_b", "shiftnet_c"):
        notes.append("layer table reconstructed by archzoo (the paper prints only ShiftNet-A's): "
                     + ("half width" if name == "shiftnet_b" else "half width, expansion 1"))
    if cfg.active:
        notes.append("active shift layers (Jeon and Kim 2018): offsets clamped to +-4 px, "
                     "initialized uniformly in [-1, 1]")
    return ModelCard(
        name=name, family="shiftnet", task="classification",
        paper=PAPER_ASL if cfg.active else PAPER, input_size=(3, 224, 224),
        num_classes=cfg.num_classes, params=params, macs=macs,
        source=f"counted by archzoo (params; MACs by torch.utils.flop_counter at 224); {paper}",
        small_input_size=(3, 64, 64), notes=tuple(notes),
        accuracy={"imagenet_top1": top1} if top1 else {},
    )


register_variants("shiftnet", VARIANTS, build_shiftnet, _card)
