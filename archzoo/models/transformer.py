"""The Transformer: Vaswani et al. 2017, "Attention Is All You Need" (arXiv:1706.03762).

An encoder of N blocks (self-attention + feed-forward) reads the source; a decoder of N blocks
(causal self-attention, cross-attention to the encoder output, feed-forward) predicts the target
one token at a time. Embeddings are scaled by sqrt(D) and summed with sinusoidal positions (section
3.5), dropout on the sum; post-LN residual blocks (section 3.1); with a shared source-target
vocabulary one matrix serves both embeddings and the pre-softmax layer (section 3.4).
`forward(src (B, S), src_len (B,), tgt_in (B, T)) -> logits (B, T, V)` (teacher forcing, like
archzoo's seq2seq models, so the same trainer runs both).

Decoding: a `StepDecoder` for archzoo.generate (greedy, sampling, beam search). Each decoder block
keeps a KV cache of its self-attention and caches the cross-attention keys and values of the
encoder output, projected once at the first step.

Counts: the paper's Table 3 gives 65M (base) and 213M (big) without stating how it counted. This
layout (shared 37,000 x D embedding, biases on every projection, no output bias, no final
LayerNorm) has 63,082,496 and 214,245,376; the card's count is this exact closed form.

Departures and options:
- `norm_first=True` builds the pre-LN variant (Xiong et al. 2020, arXiv:2002.04745) with a final
  LayerNorm after each stack; `transformer_tiny` uses it, since it trains without warmup on a CPU.
- `transformer_tiny` (archzoo's) fits the generated date / number-word tasks: separate source and
  target vocabularies (set by the task), the target embedding tied to the output layer.
Shape letters: B batch, S source length, T target length, D model dim, V vocabulary.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
from torch import Tensor

from ..blocks.attention import KVCache
from ..blocks.positional import SinusoidalPositionalEncoding
from ..blocks.transformer import DecoderBlock, EncoderBlock
from ..data.tokenize import BOS, EOS, PAD
from ._base import InputShapeError
from ._registry import ModelCard, Paper, register_variants

PAPER = Paper("Attention Is All You Need", 2017, "1706.03762",
              "Vaswani, Shazeer, Parmar, Uszkoreit, Jones, Gomez, Kaiser, Polosukhin")


@dataclass(frozen=True)
class TransformerConfig:
    src_vocab: int = 37000
    tgt_vocab: int = 37000
    dim: int = 512
    num_heads: int = 8
    mlp_dim: int = 2048
    encoder_layers: int = 6
    decoder_layers: int = 6
    dropout: float = 0.1
    norm_first: bool = False  # False: the paper's post-LN
    share_embeddings: bool = True  # source, target and output share one matrix (needs one vocabulary)
    tie_output: bool = True  # the output layer reuses the target embedding
    max_src_len: int = 1024  # rows of the sinusoidal table (source and target)
    src_len: int = 64  # the card's example lengths
    tgt_len: int = 64
    attn_impl: str = "sdpa"


class Transformer(nn.Module):
    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        if cfg.share_embeddings and cfg.src_vocab != cfg.tgt_vocab:
            raise ValueError(f"share_embeddings needs one vocabulary; got src_vocab {cfg.src_vocab} and "
                             f"tgt_vocab {cfg.tgt_vocab} (set share_embeddings=False)")
        self.cfg, self.num_classes = cfg, cfg.tgt_vocab
        d = cfg.dim
        self.tgt_embed = nn.Embedding(cfg.tgt_vocab, d, padding_idx=PAD)
        self.src_embed = self.tgt_embed if cfg.share_embeddings else nn.Embedding(cfg.src_vocab, d, padding_idx=PAD)
        self.pos = SinusoidalPositionalEncoding(d, max_len=cfg.max_src_len, dropout=cfg.dropout,
                                                scale_input=True)
        common = dict(mlp_dim=cfg.mlp_dim, norm_first=cfg.norm_first, act_layer=nn.ReLU,
                      dropout=cfg.dropout, attn_impl=cfg.attn_impl)
        self.encoder = nn.ModuleList(EncoderBlock(d, cfg.num_heads, **common) for _ in range(cfg.encoder_layers))
        self.decoder = nn.ModuleList(DecoderBlock(d, cfg.num_heads, **common) for _ in range(cfg.decoder_layers))
        # pre-LN leaves the residual stream un-normalized: one LayerNorm closes each stack
        self.enc_norm = nn.LayerNorm(d) if cfg.norm_first else nn.Identity()
        self.dec_norm = nn.LayerNorm(d) if cfg.norm_first else nn.Identity()
        self.out = nn.Linear(d, cfg.tgt_vocab, bias=False)
        self._init()
        if cfg.tie_output:
            self.out.weight = self.tgt_embed.weight

    @torch.no_grad()
    def _init(self) -> None:
        """Xavier-uniform projections (tensor2tensor's), embeddings N(0, D^-1/2): scaled by sqrt(D)
        they enter with unit variance, and as the output layer they start with small logits."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        for emb in {self.src_embed, self.tgt_embed}:
            nn.init.normal_(emb.weight, std=self.cfg.dim ** -0.5)
            emb.weight[PAD].zero_()

    def example_inputs(self, batch_size: int = 2) -> tuple[Tensor, Tensor, Tensor]:
        c = self.cfg
        return (torch.ones(batch_size, c.src_len, dtype=torch.long),
                torch.full((batch_size,), c.src_len, dtype=torch.long),
                torch.ones(batch_size, c.tgt_len, dtype=torch.long))

    def _check(self, ids: Tensor, vocab: int, what: str) -> None:
        name = getattr(self, "model_name", "transformer")
        if ids.ndim != 2 or ids.dtype != torch.long:
            raise InputShapeError(f"{name} expects {what} token ids (B, T) as int64; got {ids.dtype} "
                                  f"{tuple(ids.shape)}")
        if ids.shape[1] > self.cfg.max_src_len:
            raise InputShapeError(f"{name}: {what} of {ids.shape[1]} tokens exceeds max_src_len "
                                  f"{self.cfg.max_src_len} (the positions it encodes)")
        if ids.device.type != "meta" and ids.numel() and (ids.min() < 0 or ids.max() >= vocab):
            raise ValueError(f"{name}: {what} token ids must lie in [0, {vocab}); got ids from "
                             f"{int(ids.min())} to {int(ids.max())}")

    def encode(self, src: Tensor, src_len: Tensor) -> tuple[Tensor, Tensor]:
        """-> memory (B S D) and the source padding mask (B S), True at padding."""
        self._check(src, self.cfg.src_vocab, "source")
        src_pad = torch.arange(src.shape[1], device=src.device) >= src_len.to(src.device)[:, None]
        x = self.pos(self.src_embed(src))  # (B S D)
        for block in self.encoder:
            x = block(x, key_padding_mask=src_pad)
        return self.enc_norm(x), src_pad

    def decode(self, tgt: Tensor, memory: Tensor, src_pad: Tensor, *, offset: int = 0,
               caches: list[tuple[KVCache, KVCache]] | None = None) -> Tensor:
        """Target ids (B T) at positions offset.. -> logits (B T V); padding at the target's end
        needs no mask: under the causal mask real tokens never see it."""
        x = self.pos(self.tgt_embed(tgt), offset=offset)  # (B T D)
        for i, block in enumerate(self.decoder):
            self_cache, cross_cache = (None, None) if caches is None else caches[i]
            x = block(x, memory, is_causal=True, memory_key_padding_mask=src_pad,
                      self_cache=self_cache, cross_cache=cross_cache)
        return self.out(self.dec_norm(x))

    def forward(self, src: Tensor, src_len: Tensor, tgt_in: Tensor) -> Tensor:
        self._check(tgt_in, self.cfg.tgt_vocab, "target")
        memory, src_pad = self.encode(src, src_len)
        return self.decode(tgt_in, memory, src_pad)

    # the StepDecoder protocol (archzoo.generate): the prompt is the source sentence
    def start(self, prompt: Tensor, lengths: Tensor) -> tuple[Tensor, dict[str, Any]]:
        memory, src_pad = self.encode(prompt, lengths)
        bos = torch.full((prompt.shape[0],), BOS, dtype=torch.long, device=prompt.device)
        state = {"memory": memory, "src_pad": src_pad, "t": 0,
                 "caches": [(KVCache(), KVCache()) for _ in self.decoder]}
        return self.step(bos, state)

    def step(self, tokens: Tensor, state: dict[str, Any]) -> tuple[Tensor, dict[str, Any]]:
        t = state["t"]
        if t >= self.cfg.max_src_len:
            raise InputShapeError(f"decoding past max_src_len {self.cfg.max_src_len} target positions; "
                                  f"lower max_new_tokens or build with a larger max_src_len")
        logits = self.decode(tokens[:, None], state["memory"], state["src_pad"], offset=t,
                             caches=state["caches"])
        return logits[:, -1], {**state, "t": t + 1}

    def reorder_state(self, state: dict[str, Any], index: Tensor) -> dict[str, Any]:
        for self_cache, cross_cache in state["caches"]:
            self_cache.reorder(index)
            cross_cache.reorder(index)
        return {**state, "memory": state["memory"][index], "src_pad": state["src_pad"][index]}

    def generate(self, prompts: Any, **options: Any) -> list[list[int]]:
        from ..generate import generate
        options.setdefault("eos_id", EOS)
        options.setdefault("temperature", 0.0)
        options.setdefault("max_new_tokens", 2 * self.cfg.tgt_len)
        return generate(self, prompts, **options)


def transformer_params(cfg: TransformerConfig) -> int:
    """Closed form: embeddings, encoder blocks (attention 4D^2+4D, FFN, 2 LN), decoder blocks
    (2 attentions, FFN, 3 LN), final LNs (pre-LN only), output layer unless tied."""
    d, f = cfg.dim, cfg.mlp_dim
    attn, ffn, ln = 4 * d * d + 4 * d, 2 * d * f + f + d, 2 * d
    emb = cfg.tgt_vocab * d + (0 if cfg.share_embeddings else cfg.src_vocab * d)
    enc = cfg.encoder_layers * (attn + ffn + 2 * ln)
    dec = cfg.decoder_layers * (2 * attn + ffn + 3 * ln)
    return emb + enc + dec + (2 * ln if cfg.norm_first else 0) + (0 if cfg.tie_output else cfg.tgt_vocab * d)


def transformer_macs(cfg: TransformerConfig) -> int:
    """MACs for one pair at (src_len S, tgt_len T): projections, FFNs, attention matmuls
    (self S^2 and T^2, cross T S, at full size) and the output layer; no bias."""
    d, f, s, t = cfg.dim, cfg.mlp_dim, cfg.src_len, cfg.tgt_len
    enc = cfg.encoder_layers * (s * (4 * d * d + 2 * d * f) + 2 * s * s * d)
    dec = cfg.decoder_layers * (t * (4 * d * d + 2 * d * d + 2 * d * f) + s * 2 * d * d
                                + 2 * t * t * d + 2 * t * s * d)
    return enc + dec + t * d * cfg.tgt_vocab


VARIANTS: dict[str, TransformerConfig] = {
    "transformer_base": TransformerConfig(),
    "transformer_big": TransformerConfig(dim=1024, num_heads=16, mlp_dim=4096, dropout=0.3),
    "transformer_tiny": TransformerConfig(src_vocab=71, tgt_vocab=15, dim=128, num_heads=4, mlp_dim=256,
                                          encoder_layers=2, decoder_layers=2, norm_first=True,
                                          share_embeddings=False, max_src_len=64, src_len=24, tgt_len=11),
}
_PAPER_COUNT = {"transformer_base": "65M", "transformer_big": "213M"}


def _card(name: str, cfg: TransformerConfig) -> ModelCard:
    notes = []
    if name in _PAPER_COUNT:
        notes.append(f"the paper's Table 3 gives {_PAPER_COUNT[name]} without its accounting; this "
                     "layout (one shared 37,000 x D matrix for both embeddings and the pre-softmax "
                     "layer, biases on every projection, no output bias, no final LayerNorm) has "
                     f"{transformer_params(cfg):,}")
    else:
        notes += ["archzoo's small config for the generated date / number-word tasks: pre-LN, "
                  "separate source and target vocabularies (set by the task), target embedding tied to "
                  "the output layer"]
    return ModelCard(
        name=name, family="transformer", task="seq2seq", paper=PAPER, input_size=(cfg.src_len,),
        num_classes=cfg.tgt_vocab, params=transformer_params(cfg), macs=transformer_macs(cfg),
        source="closed form transformer_params (checked against the model in the tests)",
        macs_convention=f"formula transformer_macs at S={cfg.src_len}, T={cfg.tgt_len}: one MAC per "
                        "multiply-add of the matmuls, no bias, attention at full size",
        small_input_size=(6,), notes=tuple(notes))


register_variants("transformer", VARIANTS, Transformer, _card)
