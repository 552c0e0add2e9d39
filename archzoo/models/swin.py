"""Swin Transformer: Liu et al. 2021, "Swin Transformer: Hierarchical Vision Transformer using
Shifted Windows" (arXiv:2103.14030).

tail: 4x4 patch embedding + LayerNorm; body: four stages of Swin blocks, each attending within
M x M windows (section 3.2), every second block with the windows shifted by M/2 so that
information crosses window borders (computed by a cyclic shift and a mask), a learned relative
position bias per head added to the scores (eq. 4), and 2x2 patch merging between stages
(section 3.1); head: LayerNorm, global average pool, linear. Layouts follow the reference
implementation (torchvision), so parameter counts equal its published figures. Feature maps are
channels last (B H W C) throughout, as the windows want.

Departures and options:
- A map smaller than the window uses a window as large as the map and no shift (the paper's own
  code does this); a map that is not a multiple of the window is zero-padded and the padding is
  masked out of the attention (the reference lets real tokens attend to the zero padding). At
  224x224 neither happens, and the model equals the reference.
- `swin_mini_*` are archzoo's small configs (patch 2) for 28x28 and 32x32 inputs.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..blocks.attention import MultiHeadAttention
from ..blocks.patch_embed import PatchEmbed
from ..blocks.stochastic_depth import DropPath, drop_path_rates
from ..blocks.transformer import Mlp
from ._base import FeatureInfo
from ._registry import ModelCard, Paper, register_variants
from .vit import VisionTransformer

PAPER = Paper("Swin Transformer: Hierarchical Vision Transformer using Shifted Windows", 2021,
              "2103.14030", "Liu, Lin, Cao, Hu, Wei, Zhang, Lin, Guo")


@dataclass(frozen=True)
class SwinConfig:
    embed_dim: int
    depths: tuple[int, ...]
    num_heads: tuple[int, ...]
    window_size: int = 7
    patch_size: int = 4
    mlp_ratio: float = 4.0
    in_chans: int = 3
    num_classes: int = 1000
    dropout: float = 0.0
    attn_dropout: float = 0.0
    drop_path: float = 0.2  # stochastic depth, rising linearly over all blocks


def _windows(x: torch.Tensor, wh: int, ww: int) -> torch.Tensor:
    """(B H W C) -> (B*nW wh*ww C): non-overlapping windows, row-major."""
    b, h, w, c = x.shape
    x = x.view(b, h // wh, wh, w // ww, ww, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, wh * ww, c)


def _unwindows(x: torch.Tensor, b: int, h: int, w: int, wh: int, ww: int) -> torch.Tensor:
    """(B*nW wh*ww C) -> (B H W C)."""
    x = x.view(b, h // wh, w // ww, wh, ww, -1).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, w, -1)


class SwinBlock(nn.Module):
    """(Shifted-)window multi-head self-attention + MLP, pre-LN, on (B H W C)."""

    def __init__(self, dim: int, num_heads: int, *, window_size: int, shift: bool,
                 mlp_ratio: float = 4.0, dropout: float = 0.0, attn_dropout: float = 0.0,
                 drop_path: float = 0.0) -> None:
        super().__init__()
        self.window_size, self.shift = window_size, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = MultiHeadAttention(dim, num_heads, attn_drop=attn_dropout, proj_drop=dropout)
        # one learned bias per head and relative offset (dy, dx) in [-(M-1), M-1]^2 (eq. 4)
        self.relative_bias_table = nn.Parameter(torch.zeros((2 * window_size - 1) ** 2, num_heads))
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=dropout)
        self.drop_path = DropPath(p=drop_path)

    def relative_bias(self, wh: int, ww: int) -> torch.Tensor:
        """(1 nh T T) for a wh x ww window, T = wh*ww."""
        m = self.window_size
        dev = self.relative_bias_table.device
        ys, xs = torch.meshgrid(torch.arange(wh, device=dev), torch.arange(ww, device=dev),
                                indexing="ij")
        ys, xs = ys.flatten(), xs.flatten()  # (T,)
        index = (ys[:, None] - ys[None, :] + m - 1) * (2 * m - 1) + (xs[:, None] - xs[None, :] + m - 1)
        return self.relative_bias_table[index].permute(2, 0, 1)[None]  # (1 nh T T)

    def _region_mask(self, h: int, w: int, ph: int, pw: int, wh: int, ww: int, sh: int, sw: int,
                     device: torch.device) -> torch.Tensor | None:
        """(nW T T) boolean, True where two tokens of a window may attend: same region of the
        shifted map (section 3.2, Figure 4) and neither is padding."""
        if not (sh or sw or ph > h or pw > w):
            return None
        region = torch.zeros(ph, pw, dtype=torch.long, device=device)
        for i, rows in enumerate(_bands(ph, wh, sh)):
            for j, cols in enumerate(_bands(pw, ww, sw)):
                region[rows, cols] = 3 * i + j
        pad = torch.ones(ph, pw, dtype=torch.bool, device=device)
        pad[:h, :w] = False
        region[pad.roll((-sh, -sw), dims=(0, 1))] = -1  # padding, seen in the shifted frame
        ids = _windows(region[None, :, :, None], wh, ww)[..., 0]  # (nW T)
        return ids[:, :, None] == ids[:, None, :]

    def window_attention(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, _ = x.shape
        m = self.window_size
        wh, ww = min(m, h), min(m, w)  # a map smaller than the window: one window, no shift
        sh = m // 2 if self.shift and h > m else 0
        sw = m // 2 if self.shift and w > m else 0
        ph, pw = -(-h // wh) * wh, -(-w // ww) * ww
        x = F.pad(x, (0, 0, 0, pw - w, 0, ph - h))
        if sh or sw:
            x = x.roll((-sh, -sw), dims=(1, 2))  # cyclic shift (section 3.2)
        windows = _windows(x, wh, ww)  # (B*nW T C)
        mask = self._region_mask(h, w, ph, pw, wh, ww, sh, sw, x.device)
        if mask is not None:
            mask = mask.repeat(b, 1, 1)[:, None]  # (B*nW 1 T T)
        out = self.attn(windows, attn_mask=mask, attn_bias=self.relative_bias(wh, ww))
        x = _unwindows(out, b, ph, pw, wh, ww)
        if sh or sw:
            x = x.roll((sh, sw), dims=(1, 2))
        return x[:, :h, :w].contiguous()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.window_attention(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


def _bands(size: int, window: int, shift: int) -> list[slice]:
    """The row (or column) bands of the shifted map whose tokens came from one region."""
    if not shift:
        return [slice(0, size)]
    return [slice(0, size - window), slice(size - window, size - shift), slice(size - shift, size)]


class PatchMerging(nn.Module):
    """(B H W C) -> (B H/2 W/2 2C): concatenate each 2x2 neighbourhood, LayerNorm, linear."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[1:3]
        x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))  # odd sides: pad one zero row / column
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x))  # (B H/2 W/2 2C)


class SwinHead(nn.Module):
    """LayerNorm -> average over positions -> linear."""

    def __init__(self, dim: int, num_classes: int) -> None:
        super().__init__()
        self.in_features = dim
        self.norm = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, num_classes) if num_classes > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.norm(x).mean(dim=(1, 2))  # (B C)
        return x if pre_logits else self.fc(x)

    def reset(self, num_classes: int) -> None:
        self.fc = nn.Linear(self.in_features, num_classes) if num_classes > 0 else nn.Identity()


def build_swin(cfg: SwinConfig) -> VisionTransformer:
    rates = iter(drop_path_rates(cfg.drop_path, sum(cfg.depths)))
    tail = PatchEmbed(in_chans=cfg.in_chans, dim=cfg.embed_dim, patch_size=cfg.patch_size,
                      norm_layer=nn.LayerNorm, flatten=False)
    stages, info, dim, reduction = [], [], cfg.embed_dim, cfg.patch_size
    for i, (depth, heads) in enumerate(zip(cfg.depths, cfg.num_heads)):
        layers: list[nn.Module] = []
        if i > 0:
            layers.append(PatchMerging(dim))
            dim, reduction = 2 * dim, 2 * reduction
        layers += [SwinBlock(dim, heads, window_size=cfg.window_size, shift=j % 2 == 1,
                             mlp_ratio=cfg.mlp_ratio, dropout=cfg.dropout,
                             attn_dropout=cfg.attn_dropout, drop_path=next(rates))
                   for j in range(depth)]
        stages.append(nn.Sequential(*layers))
        info.append(FeatureInfo(f"body.{i}", dim, reduction))
    model = VisionTransformer(tail=tail, body=nn.Sequential(*stages),
                              head=SwinHead(dim, cfg.num_classes), feature_info=info,
                              in_chans=cfg.in_chans, num_classes=cfg.num_classes, num_features=dim)
    model.patch_size = cfg.patch_size
    model.min_input_size = cfg.patch_size  # patch merging pads odd maps, so one patch is enough
    with torch.no_grad():  # the reference initialization
        for name, p in model.named_parameters():
            if name.endswith("relative_bias_table") or (p.ndim == 2 and "norm" not in name):
                nn.init.trunc_normal_(p, std=0.02)
            elif name.endswith("bias") and "norm" not in name and "tail" not in name:
                nn.init.zeros_(p)
    return model


def swin_params(cfg: SwinConfig) -> int:
    """Closed form: patch conv + LN; per block 2 LN, qkv, proj, bias table, MLP; merging; LN; head."""
    c = cfg.embed_dim
    total = cfg.patch_size ** 2 * cfg.in_chans * c + c + 2 * c
    for i, (depth, heads) in enumerate(zip(cfg.depths, cfg.num_heads)):
        if i > 0:
            total += 2 * 4 * c + 4 * c * 2 * c
            c *= 2
        hidden = int(c * cfg.mlp_ratio)
        total += depth * (4 * c + 4 * c * c + 4 * c + (2 * cfg.window_size - 1) ** 2 * heads
                          + 2 * c * hidden + hidden + c)
    return total + 2 * c + (c * cfg.num_classes + cfg.num_classes if cfg.num_classes else 0)


VARIANTS: dict[str, SwinConfig] = {
    "swin_t": SwinConfig(96, (2, 2, 6, 2), (3, 6, 12, 24), drop_path=0.2),
    "swin_s": SwinConfig(96, (2, 2, 18, 2), (3, 6, 12, 24), drop_path=0.3),
    "swin_b": SwinConfig(128, (2, 2, 18, 2), (4, 8, 16, 32), drop_path=0.5),
    "swin_mini_p2_28": SwinConfig(48, (2, 2, 2), (3, 6, 12), window_size=7, patch_size=2,
                                  in_chans=1, num_classes=10, drop_path=0.1),
    "swin_mini_p2_32": SwinConfig(48, (2, 2, 2), (3, 6, 12), window_size=4, patch_size=2,
                                  num_classes=10, drop_path=0.1),
}
_INPUT = {"swin_mini_p2_28": (1, 28, 28), "swin_mini_p2_32": (3, 32, 32)}
_TV = "torchvision 0.29 reference implementation (params; MACs by torch.utils.flop_counter)"
_FIGURES = {"swin_t": (28_288_354, 4_490_566_656), "swin_s": (49_606_258, 8_740_875_264),
            "swin_b": (87_768_224, 15_430_946_816)}
_TOP1 = {"swin_t": 81.474, "swin_s": 83.196, "swin_b": 83.582}  # torchvision IMAGENET1K_V1
_PAPER_COUNT = {"swin_t": "28M / 4.5G FLOPs", "swin_s": "50M / 8.7G", "swin_b": "88M / 15.4G"}


def _card(name: str, cfg: SwinConfig) -> ModelCard:
    params, macs = _FIGURES.get(name, (swin_params(cfg), None))
    small = name in _INPUT
    notes = ["archzoo's small config for 28x28 / 32x32 inputs (not in the paper)"] if small else \
        [f"the paper's Table 1 gives {_PAPER_COUNT[name]}"]
    return ModelCard(
        name=name, family="swin", task="classification", paper=PAPER,
        input_size=_INPUT.get(name, (3, 224, 224)), num_classes=cfg.num_classes, params=params,
        macs=macs, source=_TV if not small else "archzoo config; params by the closed form swin_params",
        macs_convention="matmul-class ops only (torch.utils.flop_counter), no bias; includes "
        "the attention matmuls" if macs else "",
        min_input_size=cfg.patch_size,
        small_input_size=_INPUT.get(name, (3, 32, 32)), notes=tuple(notes),
        accuracy={"imagenet_top1": _TOP1[name]} if name in _TOP1 else {},
    )


register_variants("swin", VARIANTS, build_swin, _card)
