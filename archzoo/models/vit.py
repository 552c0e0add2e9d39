"""Vision Transformer: Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words: Transformers for
Image Recognition at Scale" (arXiv:2010.11929); DeiT: Touvron et al. 2021, "Training
data-efficient image transformers & distillation through attention" (arXiv:2012.12877).

tail: patch embedding + class token + learned position embedding (eq. 1); body: L pre-LN encoder
blocks (eqs. 2-3); head: LayerNorm, the class token's output, linear (eq. 4). `forward_features`
returns all tokens (B T D), T = 1 + (H/p)(W/p). Layouts and initialization follow the reference
implementation (torchvision), so parameter counts equal its published figures.

Departures and options:
- Inputs of another size than `img_size` (any multiple of the patch size) get the position
  embeddings interpolated bicubically to their grid, as the paper does when fine-tuning at higher
  resolution (section 3.2). This lets the tests run the big models on 32x32 images.
- The head is one linear layer (the paper's fine-tuning head), not the pre-training MLP.
- `vit_h_14` is built at 224 (the paper's pre-training size), like the reference builder.
- The small `vit_*_28` / `vit_*_32` configs are archzoo's, for Fashion-MNIST and CIFAR on a laptop.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..blocks.patch_embed import PatchEmbed, PatchSizeError, check_patchable, valid_sides
from ..blocks.stochastic_depth import drop_path_rates
from ..blocks.transformer import EncoderBlock
from ._base import FeatureInfo, ImageClassifier, InputShapeError
from ._registry import ModelCard, Paper, register_variants

PAPER = Paper("An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale", 2021,
              "2010.11929", "Dosovitskiy, Beyer, Kolesnikov, Weissenborn, Zhai, Unterthiner, et al.")
DEIT = Paper("Training data-efficient image transformers & distillation through attention", 2021,
             "2012.12877", "Touvron, Cord, Douze, Massa, Sablayrolles, Jegou")


@dataclass(frozen=True)
class ViTConfig:
    patch_size: int
    dim: int
    depth: int
    num_heads: int
    mlp_dim: int
    img_size: int = 224
    in_chans: int = 3
    num_classes: int = 1000
    dropout: float = 0.0
    attn_dropout: float = 0.0
    drop_path: float = 0.0  # stochastic depth, rising linearly to this rate in the last block
    attn_impl: str = "sdpa"  # "math" writes attention out (seed 003) and keeps its weights


class ViTTail(nn.Module):
    """(B C H W) -> (B 1+N D): patches, class token prepended, position embedding added."""

    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        self.patch_embed = PatchEmbed(in_chans=cfg.in_chans, dim=cfg.dim,
                                      patch_size=cfg.patch_size, img_size=cfg.img_size)
        self.grid = cfg.img_size // cfg.patch_size
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.pos_embed = nn.Parameter(torch.empty(1, 1 + self.grid ** 2, cfg.dim).normal_(std=0.02))
        self.drop = nn.Dropout(cfg.dropout)

    def position_embedding(self, gh: int, gw: int) -> torch.Tensor:
        if (gh, gw) == (self.grid, self.grid):
            return self.pos_embed
        cls_pos, grid_pos = self.pos_embed[:, :1], self.pos_embed[:, 1:]
        d = grid_pos.shape[-1]
        grid_pos = grid_pos.reshape(1, self.grid, self.grid, d).permute(0, 3, 1, 2)  # (1 D g g)
        grid_pos = F.interpolate(grid_pos, size=(gh, gw), mode="bicubic", align_corners=False)
        return torch.cat([cls_pos, grid_pos.permute(0, 2, 3, 1).reshape(1, gh * gw, d)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.patch_embed.patch_size
        gh, gw = x.shape[-2] // p, x.shape[-1] // p
        x = self.patch_embed(x)  # (B N D)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)  # (B 1+N D)
        return self.drop(x + self.position_embedding(gh, gw))


class ViTHead(nn.Module):
    """LayerNorm -> class token -> linear (eq. 4). `pre_logits=True` returns the normed token."""

    def __init__(self, dim: int, num_classes: int, *, eps: float = 1e-6) -> None:
        super().__init__()
        self.in_features = dim
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.fc = nn.Linear(dim, num_classes) if num_classes > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.norm(x[:, 0])  # (B D): the class token; LayerNorm is per token
        return x if pre_logits else self.fc(x)

    def reset(self, num_classes: int) -> None:
        self.fc = nn.Linear(self.in_features, num_classes) if num_classes > 0 else nn.Identity()


class VisionTransformer(ImageClassifier):
    """An ImageClassifier whose input sides must be multiples of the patch size."""

    def check_input(self, x: torch.Tensor) -> None:
        super().check_input(x)
        try:
            check_patchable(x.shape[-2], x.shape[-1], self.patch_size)
        except PatchSizeError as e:
            name = getattr(self, "model_name", type(self).__name__)
            raise InputShapeError(f"{name}: {e}") from None


def build_vit(cfg: ViTConfig) -> VisionTransformer:
    if cfg.img_size % cfg.patch_size:
        raise PatchSizeError(f"img_size {cfg.img_size} is not divisible by the patch size "
                             f"{cfg.patch_size}; {valid_sides(cfg.img_size, cfg.patch_size)}")
    rates = drop_path_rates(cfg.drop_path, cfg.depth)
    blocks = [EncoderBlock(cfg.dim, cfg.num_heads, mlp_dim=cfg.mlp_dim, norm_first=True,
                           norm_layer=partial(nn.LayerNorm, eps=1e-6), dropout=cfg.dropout,
                           attn_dropout=cfg.attn_dropout, drop_path=r, attn_impl=cfg.attn_impl)
              for r in rates]
    model = VisionTransformer(
        tail=ViTTail(cfg), body=nn.Sequential(*blocks), head=ViTHead(cfg.dim, cfg.num_classes),
        feature_info=[FeatureInfo("body", cfg.dim, cfg.patch_size)], in_chans=cfg.in_chans,
        num_classes=cfg.num_classes, num_features=cfg.dim)
    model.patch_size = cfg.patch_size
    model.min_input_size = cfg.patch_size  # the probe assumes every larger side fits; not so here
    _init(model, cfg)
    return model


@torch.no_grad()
def _init(model: VisionTransformer, cfg: ViTConfig) -> None:
    """The reference initialization: LeCun-normal patch projection, Xavier-uniform linear layers
    with near-zero MLP biases, zero attention biases; a small random head (the reference zeroes
    it for fine-tuning, which would leave the tests nothing to check)."""
    proj = model.tail.patch_embed.proj
    nn.init.trunc_normal_(proj.weight, std=(1.0 / proj.weight[0].numel()) ** 0.5)
    nn.init.zeros_(proj.bias)
    for block in model.body:
        nn.init.xavier_uniform_(block.attn.qkv.weight)
        nn.init.zeros_(block.attn.qkv.bias)
        nn.init.zeros_(block.attn.proj.bias)
        for fc in (block.mlp.fc1, block.mlp.fc2):
            nn.init.xavier_uniform_(fc.weight)
            nn.init.normal_(fc.bias, std=1e-6)
    if isinstance(model.head.fc, nn.Linear):
        nn.init.normal_(model.head.fc.weight, std=0.02)
        nn.init.zeros_(model.head.fc.bias)


def vit_params(cfg: ViTConfig) -> int:
    """Closed form: patch conv, class token, positions, L x (2 LN + qkv + out + MLP), LN, head."""
    d, n = cfg.dim, (cfg.img_size // cfg.patch_size) ** 2
    block = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (2 * d * cfg.mlp_dim + cfg.mlp_dim + d)
    head = d * cfg.num_classes + cfg.num_classes if cfg.num_classes else 0
    return (cfg.patch_size ** 2 * cfg.in_chans * d + d) + d + (n + 1) * d + cfg.depth * block \
        + 2 * d + head


def vit_attention_macs(cfg: ViTConfig) -> int:
    """Q K^T and A V at `img_size`: 2 T^2 D per block (batch 1)."""
    t = (cfg.img_size // cfg.patch_size) ** 2 + 1
    return cfg.depth * 2 * t * t * cfg.dim


VARIANTS: dict[str, ViTConfig] = {
    "vit_b_16": ViTConfig(16, 768, 12, 12, 3072),
    "vit_b_32": ViTConfig(32, 768, 12, 12, 3072),
    "vit_l_16": ViTConfig(16, 1024, 24, 16, 4096),
    "vit_l_32": ViTConfig(32, 1024, 24, 16, 4096),
    "vit_h_14": ViTConfig(14, 1280, 32, 16, 5120),
    "deit_tiny_patch16_224": ViTConfig(16, 192, 12, 3, 768),
    "deit_small_patch16_224": ViTConfig(16, 384, 12, 6, 1536),
    "vit_tiny_p4_28": ViTConfig(4, 192, 12, 3, 768, img_size=28, in_chans=1, num_classes=10),
    "vit_mini_p4_28": ViTConfig(4, 64, 6, 4, 128, img_size=28, in_chans=1, num_classes=10),
    "vit_mini_p4_32": ViTConfig(4, 64, 6, 4, 128, img_size=32, in_chans=3, num_classes=10),
}

_TV = "torchvision 0.29 reference implementation (params; MACs by torch.utils.flop_counter)"
_TIMM = "timm 1.0.31 reference implementation (params; MACs by torch.utils.flop_counter)"
# name: (reference params, reference MACs, source)
_FIGURES: dict[str, tuple[int, int | None, str]] = {
    "vit_b_16": (86_567_656, 16_848_500_736, _TV),
    "vit_b_32": (88_224_232, 4_363_106_304, _TV),
    "vit_l_16": (304_326_632, 59_647_172_608, _TV),
    "vit_h_14": (632_045_800, None, "torchvision's vit_h_14 layout at 224 (632,045,800, checked by "
                 "the closed form vit_params); the paper's Table 1 says 632M"),
    "deit_tiny_patch16_224": (5_717_416, 1_074_851_328, _TIMM),
}
_PAPER_COUNT = {"vit_b_16": "86M", "vit_b_32": "88M", "vit_l_16": "307M", "vit_l_32": "307M",
                "vit_h_14": "632M"}
_TOP1 = {"vit_b_16": 81.072, "vit_b_32": 75.912, "vit_l_16": 79.662, "vit_l_32": 76.972,
         "deit_tiny_patch16_224": 72.2, "deit_small_patch16_224": 79.8}
_NO_ATTN = ("matmul-class ops, no bias, WITHOUT the attention matmuls Q K^T and A V: "
            "torch.utils.flop_counter on CPU does not see the fused attention kernel")


def _card(name: str, cfg: ViTConfig) -> ModelCard:
    params, macs, source = _FIGURES.get(name, (vit_params(cfg), None, ""))
    small = cfg.img_size <= 32
    notes = [f"attention matmuls add {vit_attention_macs(cfg):,} MACs at {cfg.img_size}x"
             f"{cfg.img_size}" + (" (not in the reference figure)" if macs else "")]
    if name in _PAPER_COUNT:
        notes.append(f"the paper's Table 1 gives {_PAPER_COUNT[name]} parameters")
    if not source:
        source = ("archzoo config; params by the closed form vit_params (no published figure)"
                  if small else "params: the closed form vit_params in torchvision's / timm's layout")
    if small:
        notes.append("archzoo's small config for 28x28 / 32x32 inputs (not in the paper)")
    return ModelCard(
        name=name, family="vit", task="classification",
        paper=DEIT if name.startswith("deit") else PAPER,
        input_size=(cfg.in_chans, cfg.img_size, cfg.img_size), num_classes=cfg.num_classes,
        params=params, macs=macs, source=source,
        macs_convention=_NO_ATTN if macs else "",
        min_input_size=cfg.patch_size,
        # big models: 2x2 patches (tiny inputs keep the registry test fast; positions interpolated)
        small_input_size=(cfg.in_chans, cfg.img_size, cfg.img_size) if small
        else (cfg.in_chans, 2 * cfg.patch_size, 2 * cfg.patch_size),
        notes=tuple(notes), accuracy={"imagenet_top1": _TOP1[name]} if name in _TOP1 else {},
    )


register_variants("vit", VARIANTS, build_vit, _card)
