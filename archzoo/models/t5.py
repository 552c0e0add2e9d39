"""T5: Raffel et al. 2020, "Exploring the Limits of Transfer Learning with a Unified Text-to-Text
Transformer" (arXiv:1910.10683).

The encoder-decoder Transformer of models/transformer.py (whose `forward`, KV-cached `StepDecoder`
methods and `generate` T5 inherits) with T5's changes (section 2.1): no position embeddings but a
learned relative position bias per head and log-spaced bucket, computed once per stack (bidirectional
in the encoder, causal in the decoder) and added to every self-attention layer's scores; pre-norm
RMS LayerNorm without bias or mean subtraction (eps 1e-6), a final norm after each stack; no biases
in any projection; ReLU feed-forward; one vocabulary shared by both embeddings and the output layer,
whose input is scaled by D^-0.5 (the released T5 1.0 checkpoints do this when tied).
`span_corruption` makes the pre-training pairs (section 3.1.4): 15% of the tokens, in spans of mean
length 3, each replaced by one sentinel; the target lists each sentinel and its span.

Counts: the cards' figures are Hugging Face's T5ForConditionalGeneration (t5-small 60,506,624,
t5-base 222,903,552); the paper rounds them to 60M and 220M.
Departures: blocks.attention scales the scores by 1/sqrt(hs), T5 does not (it folds the factor
into its initialization): loading T5 weights must multiply W_q by sqrt(hs). The decoder starts from
archzoo's BOS token, not T5's pad. `t5_tiny` is archzoo's config for the generated tasks.
Shape letters: B batch, S source length, T target length, D model dim, nh heads.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Sequence

import torch
import torch.nn as nn
from torch import Tensor

from ..blocks.attention import KVCache
from ..blocks.positional import RelativePositionBias
from ..blocks.transformer import DecoderBlock, EncoderBlock
from ._registry import ModelCard, Paper, register_variants
from .transformer import Transformer

PAPER = Paper("Exploring the Limits of Transfer Learning with a Unified Text-to-Text Transformer", 2020,
              "1910.10683", "Raffel, Shazeer, Roberts, Lee, Narang, Matena, Zhou, Li, Liu")


@dataclass(frozen=True)
class T5Config:
    src_vocab: int = 32128
    tgt_vocab: int = 32128
    dim: int = 512
    num_heads: int = 8
    mlp_dim: int = 2048
    encoder_layers: int = 6
    decoder_layers: int = 6
    dropout: float = 0.1
    num_buckets: int = 32
    max_distance: int = 128
    share_embeddings: bool = True
    max_src_len: int = 512  # longest source / target it accepts (relative positions need no table)
    src_len: int = 512  # the card's example lengths (the paper's pre-training inputs / targets)
    tgt_len: int = 114
    attn_impl: str = "sdpa"


class T5(Transformer):
    def __init__(self, cfg: T5Config) -> None:  # noqa: D107  (Transformer's layers are not built)
        nn.Module.__init__(self)
        if cfg.share_embeddings and cfg.src_vocab != cfg.tgt_vocab:
            raise ValueError(f"share_embeddings needs one vocabulary; got src_vocab {cfg.src_vocab} and "
                             f"tgt_vocab {cfg.tgt_vocab} (set share_embeddings=False)")
        self.cfg, self.num_classes = cfg, cfg.tgt_vocab
        d, norm = cfg.dim, partial(nn.RMSNorm, eps=1e-6)
        self.tgt_embed = nn.Embedding(cfg.tgt_vocab, d)
        self.src_embed = self.tgt_embed if cfg.share_embeddings else nn.Embedding(cfg.src_vocab, d)
        self.drop = nn.Dropout(cfg.dropout)
        bias = partial(RelativePositionBias, cfg.num_heads, num_buckets=cfg.num_buckets,
                       max_distance=cfg.max_distance)
        self.enc_bias, self.dec_bias = bias(bidirectional=True), bias(bidirectional=False)
        common = dict(mlp_dim=cfg.mlp_dim, norm_first=True, act_layer=nn.ReLU, norm_layer=norm,
                      dropout=cfg.dropout, bias=False, attn_impl=cfg.attn_impl)
        self.encoder = nn.ModuleList(EncoderBlock(d, cfg.num_heads, **common) for _ in range(cfg.encoder_layers))
        self.decoder = nn.ModuleList(DecoderBlock(d, cfg.num_heads, **common) for _ in range(cfg.decoder_layers))
        self.enc_norm, self.dec_norm = norm(d), norm(d)
        self.out = nn.Linear(d, cfg.tgt_vocab, bias=False)
        self.out.weight = self.tgt_embed.weight
        self._init()

    @torch.no_grad()
    def _init(self) -> None:
        """T5's scheme: embeddings N(0, 1), projections N(0, fan_in^-1/2)."""
        for m in self.modules():
            if isinstance(m, nn.Linear) and m is not self.out:
                nn.init.normal_(m.weight, std=m.in_features ** -0.5)
        for emb in {self.src_embed, self.tgt_embed}:
            nn.init.normal_(emb.weight, std=1.0)

    def encode(self, src: Tensor, src_len: Tensor) -> tuple[Tensor, Tensor]:
        self._check(src, self.cfg.src_vocab, "source")
        s = src.shape[1]
        src_pad = torch.arange(s, device=src.device) >= src_len.to(src.device)[:, None]  # (B S)
        bias = self.enc_bias(s, s)  # (1 nh S S), shared by every layer
        x = self.drop(self.src_embed(src))  # (B S D)
        for block in self.encoder:
            x = block(x, key_padding_mask=src_pad, attn_bias=bias)
        return self.drop(self.enc_norm(x)), src_pad

    def decode(self, tgt: Tensor, memory: Tensor, src_pad: Tensor, *, offset: int = 0,
               caches: list[tuple[KVCache, KVCache]] | None = None) -> Tensor:
        t = tgt.shape[1]
        bias = self.dec_bias(t, offset + t, offset=offset)  # (1 nh T Tk), the causal mask is added below
        x = self.drop(self.tgt_embed(tgt))  # (B T D)
        for i, block in enumerate(self.decoder):
            self_cache, cross_cache = (None, None) if caches is None else caches[i]
            x = block(x, memory, is_causal=True, attn_mask=bias, memory_key_padding_mask=src_pad,
                      self_cache=self_cache, cross_cache=cross_cache)
        return self.out(self.drop(self.dec_norm(x)) * self.cfg.dim ** -0.5)


def span_corruption(ids: Sequence[int], *, sentinel_start: int = 32099, noise_density: float = 0.15,
                    mean_span: float = 3.0, generator: torch.Generator | None = None
                    ) -> tuple[list[int], list[int]]:
    """-> (inputs, targets). Sentinel i is `sentinel_start - i` (T5's <extra_id_i> count down from
    32099). As in the paper's Figure 2, the target ends with one more sentinel."""
    n = len(ids)
    if n < 2:
        raise ValueError(f"span corruption needs at least 2 tokens; got {n}")
    num_noise = min(max(round(n * noise_density), 1), n - 1)
    num_spans = max(1, min(round(num_noise / mean_span), num_noise, n - num_noise))

    def split(total: int) -> list[int]:  # `total` into num_spans random positive parts
        cuts = (torch.randperm(total - 1, generator=generator)[: num_spans - 1] + 1).sort().values.tolist()
        edges = [0, *cuts, total]
        return [b - a for a, b in zip(edges, edges[1:])]

    keep_lens, noise_lens = split(n - num_noise), split(num_noise)
    inputs, targets, i = [], [], 0
    for span, (k, z) in enumerate(zip(keep_lens, noise_lens)):  # kept span, then a noise span
        inputs += list(ids[i: i + k]) + [sentinel_start - span]
        targets += [sentinel_start - span] + list(ids[i + k: i + k + z])
        i += k + z
    return inputs, targets + [sentinel_start - num_spans]


def t5_params(cfg: T5Config) -> int:
    """Closed form: shared embedding, encoder L x (4 D^2 + 2 D F + 2 D), decoder L x (8 D^2 + 2 D F
    + 3 D), two relative-bias tables (buckets x nh), two final norms; output tied."""
    d, f = cfg.dim, cfg.mlp_dim
    emb = cfg.tgt_vocab * d + (0 if cfg.share_embeddings else cfg.src_vocab * d)
    return (emb + cfg.encoder_layers * (4 * d * d + 2 * d * f + 2 * d)
            + cfg.decoder_layers * (8 * d * d + 2 * d * f + 3 * d) + 2 * cfg.num_buckets * cfg.num_heads + 2 * d)


VARIANTS: dict[str, T5Config] = {
    "t5_small": T5Config(),
    "t5_base": T5Config(dim=768, num_heads=12, mlp_dim=3072, encoder_layers=12, decoder_layers=12),
    "t5_tiny": T5Config(src_vocab=71, tgt_vocab=15, dim=128, num_heads=4, mlp_dim=256, encoder_layers=2,
                        decoder_layers=2, share_embeddings=False, max_src_len=64, src_len=24, tgt_len=11),
}
_HF = "Hugging Face transformers T5ForConditionalGeneration's num_parameters() (tied output counted once)"
_FIGURES = {"t5_small": (60_506_624, _HF, "60M"), "t5_base": (222_903_552, _HF, "220M")}


def _card(name: str, cfg: T5Config) -> ModelCard:
    params, source, paper = _FIGURES.get(name, (t5_params(cfg), "closed form t5_params", None))
    notes = ["attention scores are scaled by 1/sqrt(hs) (T5 folds it into W_q's initialization)"]
    notes.append(f"the paper rounds the count to {paper}" if paper else
                 "archzoo's small config for the generated tasks: separate source and target vocabularies")
    return ModelCard(name=name, family="t5", task="seq2seq", paper=PAPER, input_size=(cfg.src_len,),
                     num_classes=cfg.tgt_vocab, params=params, source=source, small_input_size=(6,),
                     notes=tuple(notes))


register_variants("t5", VARIANTS, T5, _card)
