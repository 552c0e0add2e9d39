"""Image captioning: a CNN or ViT encoder and a Transformer decoder that attends to image places.

Xu et al. 2015, "Show, Attend and Tell: Neural Image Caption Generation with Visual Attention"
(arXiv:1502.03044): a CNN's last feature map, read as a set of L annotation vectors (one per grid
place), is what the decoder attends to while it writes each word (seed 003's attention intuition).
Seed 001 ("Image Captioning using transformers") replaces the paper's LSTM with a Transformer
decoder (Vaswani et al. 2017, arXiv:1706.03762): causal self-attention over the words so far,
cross-attention to the image grid.

- `caption_resnet_transformer`: archzoo's `resnet20` (He et al. 2016, arXiv:1512.03385) body; its
  last map (B C h w) is projected to D and flattened into h*w memory tokens, plus a learned 2-D
  position embedding (a row and a column table, D/2 each, concatenated as DETR's learned variant
  does, Carion et al. 2020, arXiv:2005.12872), then LayerNorm.
- `caption_vit_transformer`: a small ViT (Dosovitskiy et al. 2021, arXiv:2010.11929) from
  models/vit.py; its final LayerNorm over the patch tokens (the class token is dropped), projected
  to D and normed, is the memory. The ViT's own position embedding places the patches.
The decoder is models/transformer.py's: embeddings scaled by sqrt(D) plus sinusoidal positions,
pre-LN `DecoderBlock`s (blocks/transformer.py) with a final LayerNorm, output tied to the embedding.
`forward(images (B C H W), tgt_in (B T)) -> logits (B T V)` (teacher forcing). Decoding follows the
archzoo.generate `StepDecoder` protocol, the image standing where a source sentence would: the
memory is computed once at `start`, each block keeps a KV cache of its self-attention and caches the
projected memory of its cross-attention, so greedy and beam search run one token per step.
`cross_attention(images, tgt_in)` returns the decoder's cross-attention weights for heat maps.

Departures from Xu et al.: a Transformer decoder instead of the LSTM; no doubly stochastic
attention regularization; trained from scratch on archzoo's composed canvases (data/captions.py), not
an ImageNet-pretrained VGG on COCO. The encoder is archzoo's: `resnet20` takes ResNet's ImageNet stem
(7x7/2 conv + 3x3/2 max-pool, reduction 16 with its three stages) instead of its CIFAR stem, so a
64x64 canvas gives a 4x4 grid (each 2x2 cell of the canvas is 2x2 tokens) at a CPU's cost, and has no
classifier head; the ViT has 8x8 patches, depth 4, width 64 (archzoo's small config).
Counts: ResNet encoder = resnet20's published 269,722 (He et al. section 4.2) minus its 3-channel
3x3 stem conv (432) and its 10-way head (650) plus a 1-channel 7x7 stem conv (784); the rest is the
closed form `caption_params`. Shape letters: B batch, C channels, H W image, h w grid, N = h*w memory
tokens, T caption length, D model dim, V vocabulary.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
from torch import Tensor

from ..blocks.attention import KVCache
from ..blocks.positional import SinusoidalPositionalEncoding
from ..blocks.transformer import DecoderBlock
from ..data.tokenize import BOS, EOS, PAD
from ._base import InputShapeError
from ._registry import ModelCard, Paper, create_model, register_variants

PAPER = Paper("Show, Attend and Tell: Neural Image Caption Generation with Visual Attention", 2015,
              "1502.03044", "Xu, Ba, Kiros, Cho, Courville, Salakhutdinov, Zemel, Bengio")
RESNET20_PUBLISHED = 269_722  # 3-channel input, 10 classes (He et al. 2016 section 4.2)


@dataclass(frozen=True)
class CaptionConfig:
    vocab_size: int = 20  # set by the data: specials + the caption grammar's words
    dim: int = 128
    num_heads: int = 4
    mlp_dim: int = 256
    decoder_layers: int = 2
    dropout: float = 0.1
    max_len: int = 64  # rows of the sinusoidal table: the longest caption it can write
    tgt_len: int = 20  # the card's example caption length
    img_size: int = 64
    in_chans: int = 1
    attn_impl: str = "sdpa"


@dataclass(frozen=True)
class ResNetCaptionConfig(CaptionConfig):
    encoder: str = "resnet20"  # any registered ResNet; its head is dropped
    stem: str = "imagenet"  # "cifar" keeps full resolution: a 16x16 grid at 64x64, 16x the cost


@dataclass(frozen=True)
class ViTCaptionConfig(CaptionConfig):
    encoder: str = "vit_mini_p4_28"
    patch_size: int = 8
    encoder_depth: int = 4


class GridPosition2d(nn.Module):
    """Learned 2-D positions for an (h w) grid: row table and column table, D/2 each, concatenated."""

    def __init__(self, grid: int, dim: int) -> None:
        super().__init__()
        if dim % 2:
            raise ValueError(f"a 2-D position embedding splits D in two halves; got odd dim {dim}")
        self.grid = grid
        self.rows = nn.Parameter(torch.empty(grid, dim // 2).normal_(std=0.02))
        self.cols = nn.Parameter(torch.empty(grid, dim // 2).normal_(std=0.02))

    def forward(self, h: int, w: int) -> Tensor:
        if h > self.grid or w > self.grid:
            raise InputShapeError(f"a {h}x{w} feature grid exceeds the {self.grid}x{self.grid} positions "
                                  f"the model was built for (build it with a larger img_size)")
        d = self.rows.shape[1]
        pos = torch.cat([self.rows[:h, None].expand(h, w, d), self.cols[None, :w].expand(h, w, d)], dim=-1)
        return pos.reshape(h * w, 2 * d)  # (N D)


class CaptionTransformer(nn.Module):
    def __init__(self, cfg: CaptionConfig, *, encoder: nn.Module, enc_dim: int, reduction: int,
                 kind: str) -> None:
        super().__init__()
        self.cfg, self.kind, self.reduction = cfg, kind, reduction
        self.num_classes = cfg.vocab_size
        d = cfg.dim
        self.encoder = encoder
        self.proj = nn.Linear(enc_dim, d)
        self.grid_pos = GridPosition2d(math.ceil(cfg.img_size / reduction), d) if kind == "cnn" else None
        self.memory_norm = nn.LayerNorm(d)
        self.tgt_embed = nn.Embedding(cfg.vocab_size, d, padding_idx=PAD)
        self.pos = SinusoidalPositionalEncoding(d, max_len=cfg.max_len, dropout=cfg.dropout, scale_input=True)
        self.decoder = nn.ModuleList(
            DecoderBlock(d, cfg.num_heads, mlp_dim=cfg.mlp_dim, norm_first=True, act_layer=nn.ReLU,
                         dropout=cfg.dropout, attn_impl=cfg.attn_impl) for _ in range(cfg.decoder_layers))
        self.dec_norm = nn.LayerNorm(d)
        self.out = nn.Linear(d, cfg.vocab_size, bias=False)
        self._init()
        self.out.weight = self.tgt_embed.weight  # tied (Vaswani et al. section 3.4)

    @torch.no_grad()
    def _init(self) -> None:
        """Xavier-uniform decoder projections and embeddings N(0, D^-1/2), as models/transformer.py;
        the encoder keeps its own family's initialization."""
        for m in [self.proj, *self.decoder.modules()]:
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        nn.init.normal_(self.tgt_embed.weight, std=self.cfg.dim ** -0.5)
        self.tgt_embed.weight[PAD].zero_()

    def example_inputs(self, batch_size: int = 2) -> tuple[Tensor, Tensor]:
        c = self.cfg
        return (torch.zeros(batch_size, c.in_chans, c.img_size, c.img_size),
                torch.ones(batch_size, c.tgt_len, dtype=torch.long))

    def _check_tokens(self, ids: Tensor) -> None:
        name = getattr(self, "model_name", "caption transformer")
        if ids.ndim != 2 or ids.dtype != torch.long:
            raise InputShapeError(f"{name} expects caption token ids (B, T) as int64; got {ids.dtype} "
                                  f"{tuple(ids.shape)}")
        if ids.device.type != "meta" and ids.numel() and (ids.min() < 0 or ids.max() >= self.cfg.vocab_size):
            raise ValueError(f"{name}: caption token ids must lie in [0, {self.cfg.vocab_size}); got ids "
                             f"from {int(ids.min())} to {int(ids.max())}")

    def grid_shape(self, image_hw: tuple[int, int]) -> tuple[int, int]:
        """(h w) of the memory grid for an (H W) image."""
        if self.kind == "vit":
            p = self.cfg.patch_size  # type: ignore[attr-defined]
            return image_hw[0] // p, image_hw[1] // p
        h, w = image_hw
        for _ in range(int(math.log2(self.reduction))):  # each stride-2 layer: ceil(x / 2) with padding
            h, w = (h + 1) // 2, (w + 1) // 2
        return h, w

    def encode(self, images: Tensor) -> Tensor:
        """Images (B C H W) -> memory (B N D), N = h*w grid places in reading order."""
        name = getattr(self, "model_name", "caption transformer")
        if images.ndim != 4 or images.shape[1] != self.cfg.in_chans or not images.is_floating_point():
            raise InputShapeError(f"{name} expects float images (B, {self.cfg.in_chans}, H, W); got "
                                  f"{images.dtype} {tuple(images.shape)}")
        feats = self.encoder.forward_features(images)
        if self.kind == "vit":
            x = self.proj(self.encoder.head.norm(feats[:, 1:]))  # (B N D): the patches, class token dropped
        else:
            b, c, h, w = feats.shape
            x = self.proj(feats.flatten(2).transpose(1, 2)) + self.grid_pos(h, w)  # (B N D)
        return self.memory_norm(x)

    def decode(self, tgt: Tensor, memory: Tensor, *, offset: int = 0,
               caches: list[tuple[KVCache, KVCache]] | None = None) -> Tensor:
        """Caption ids (B T) at positions offset.. -> logits (B T V)."""
        if offset + tgt.shape[1] > self.cfg.max_len:
            raise InputShapeError(f"caption positions up to {offset + tgt.shape[1]} exceed max_len "
                                  f"{self.cfg.max_len}; lower max_new_tokens or build with a larger max_len")
        x = self.pos(self.tgt_embed(tgt), offset=offset)  # (B T D)
        for i, block in enumerate(self.decoder):
            self_cache, cross_cache = (None, None) if caches is None else caches[i]
            x = block(x, memory, is_causal=True, self_cache=self_cache, cross_cache=cross_cache)
        return self.out(self.dec_norm(x))

    def forward(self, images: Tensor, tgt_in: Tensor) -> Tensor:
        self._check_tokens(tgt_in)
        return self.decode(tgt_in, self.encode(images))

    @torch.no_grad()
    def cross_attention(self, images: Tensor, tgt_in: Tensor) -> Tensor:
        """Cross-attention weights (L B nh T N) of each decoder block under teacher forcing."""
        layers = [block.cross_attn for block in self.decoder]
        was = self.training
        self.eval()
        try:
            for m in layers:
                m.keep_weights = True
            self(images, tgt_in)
            return torch.stack([m.attn_weights for m in layers])
        finally:
            for m in layers:
                m.keep_weights, m.attn_weights = False, None
            self.train(was)

    # the StepDecoder protocol (archzoo.generate): the "prompt" is a batch of images
    def start(self, prompt: Tensor, lengths: Tensor) -> tuple[Tensor, dict[str, Any]]:
        memory = self.encode(prompt)
        bos = torch.full((prompt.shape[0],), BOS, dtype=torch.long, device=prompt.device)
        state = {"memory": memory, "t": 0, "caches": [(KVCache(), KVCache()) for _ in self.decoder]}
        return self.step(bos, state)

    def step(self, tokens: Tensor, state: dict[str, Any]) -> tuple[Tensor, dict[str, Any]]:
        t = state["t"]
        logits = self.decode(tokens[:, None], state["memory"], offset=t, caches=state["caches"])
        return logits[:, -1], {**state, "t": t + 1}

    def reorder_state(self, state: dict[str, Any], index: Tensor) -> dict[str, Any]:
        for self_cache, cross_cache in state["caches"]:
            self_cache.reorder(index)
            cross_cache.reorder(index)
        return {**state, "memory": state["memory"][index]}

    def generate(self, images: Tensor, **options: Any) -> list[list[int]]:
        """Caption images (B C H W): token ids per image, without <eos> (greedy unless num_beams)."""
        from ..generate import generate

        options.setdefault("eos_id", EOS)
        options.setdefault("temperature", 0.0)
        options.setdefault("max_new_tokens", min(2 * self.cfg.tgt_len, self.cfg.max_len))
        return generate(self, images, **options)


def _vit_config(cfg: ViTCaptionConfig) -> dict[str, Any]:
    return dict(in_chans=cfg.in_chans, num_classes=0, img_size=cfg.img_size, patch_size=cfg.patch_size,
                depth=cfg.encoder_depth)


def build_resnet_captioner(cfg: ResNetCaptionConfig) -> CaptionTransformer:
    encoder = create_model(cfg.encoder, in_chans=cfg.in_chans, num_classes=0, stem=cfg.stem)
    last = encoder.feature_info[-1]
    return CaptionTransformer(cfg, encoder=encoder, enc_dim=last.channels, reduction=last.reduction, kind="cnn")


def build_vit_captioner(cfg: ViTCaptionConfig) -> CaptionTransformer:
    encoder = create_model(cfg.encoder, **_vit_config(cfg))
    return CaptionTransformer(cfg, encoder=encoder, enc_dim=encoder.num_features, reduction=cfg.patch_size,
                              kind="vit")


def decoder_params(cfg: CaptionConfig, enc_dim: int) -> int:
    """Closed form of everything but the encoder: projection C->D and memory LayerNorm, the tied
    embedding, pre-LN decoder blocks (2 attentions, FFN, 3 LN) and the final LayerNorm."""
    d, f = cfg.dim, cfg.mlp_dim
    attn, ffn, ln = 4 * d * d + 4 * d, 2 * d * f + f + d, 2 * d
    return enc_dim * d + d + ln + cfg.vocab_size * d + cfg.decoder_layers * (2 * attn + ffn + 3 * ln) + ln


def caption_params(cfg: CaptionConfig) -> int:
    if isinstance(cfg, ViTCaptionConfig):
        from .vit import VARIANTS as VIT, vit_params

        vit = dataclasses.replace(VIT[cfg.encoder], **_vit_config(cfg))
        return vit_params(vit) + decoder_params(cfg, vit.dim)
    assert isinstance(cfg, ResNetCaptionConfig)
    encoder = RESNET20_PUBLISHED - 3 * 3 * 3 * 16 - (64 * 10 + 10) + 7 * 7 * cfg.in_chans * 16
    grid = math.ceil(cfg.img_size / 16)
    return encoder + decoder_params(cfg, 64) + grid * cfg.dim  # + the row and column tables


RESNET_VARIANTS = {"caption_resnet_transformer": ResNetCaptionConfig()}
VIT_VARIANTS = {"caption_vit_transformer": ViTCaptionConfig()}


def _card(name: str, cfg: CaptionConfig) -> ModelCard:
    vit = isinstance(cfg, ViTCaptionConfig)
    encoder = (f"a ViT encoder ({cfg.encoder} at {cfg.img_size}x{cfg.img_size}, 8x8 patches, depth 4)" if vit
               else f"the resnet20 body with ResNet's ImageNet stem (a 4x4 grid at {cfg.img_size}x{cfg.img_size})")
    return ModelCard(
        name=name, family="captioning", task="captioning", paper=PAPER,
        input_size=(cfg.in_chans, cfg.img_size, cfg.img_size), num_classes=cfg.vocab_size,
        params=caption_params(cfg), macs=None,
        source=("closed form caption_params: vit_params for the encoder" if vit else
                "resnet20's published 269,722 adjusted for a 1-channel 7x7 stem and no head")
        + " + the decoder's closed form (checked against the model in the tests)",
        macs_convention="", small_input_size=(cfg.in_chans, 32, 32),
        notes=(f"archzoo's captioner for the composed fashion-captions / digits-captions sets: {encoder}, "
               "a 2-block pre-LN Transformer decoder (D 128) instead of the paper's LSTM; no MACs figure: "
               "no reference implementation to take one from",))


register_variants("captioning", RESNET_VARIANTS, build_resnet_captioner, _card)
register_variants("captioning", VIT_VARIANTS, build_vit_captioner, _card)
