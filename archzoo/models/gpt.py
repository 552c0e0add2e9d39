"""GPT: a decoder-only Transformer language model.

Radford et al. 2019, "Language Models are Unsupervised Multitask Learners" (GPT-2, no arXiv id),
in the layout of its released code (and of Karpathy's nanoGPT): token + learned position
embeddings, L pre-LN blocks of causal self-attention and a 4D GELU (tanh) MLP, a final LayerNorm,
and an output layer tied to the token embedding. `forward(idx (B, T)) -> logits (B, T, V)`.

Generation: the model is an archzoo.generate `StepDecoder` with a KV cache per block. Batched
prompts are left-padded inside `start` (every row ends in the same column, so one step serves all
rows); each row's positions count from its own first token, and padding keys are masked, so a
batch decodes like its rows one by one.
Context: a prompt longer than `seq_len` (the block size) is truncated from the left, keeping the
last `seq_len` tokens, with a warning (the model could not see the rest anyway). Generation past
the context slides the window as nanoGPT does: each further step re-encodes the last `seq_len`
tokens (correct, but without the cache's speed).

Departures and options:
- `seq_len` is the block size (nanoGPT's `block_size`), named as archzoo's trainer names it.
- `bias=False` drops the biases of every Linear and LayerNorm (nanoGPT's default, used by its
  Shakespeare configs); GPT-2 has them.
- `gpt_shakespeare_char` and `gpt_char_cpu` are nanoGPT's character-level configs, not the paper's.
Shape letters: B batch, T sequence, D model dim, V vocabulary.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
import torch.nn as nn
from torch import Tensor

from ..blocks.attention import KVCache
from ..blocks.transformer import EncoderBlock
from ._base import InputShapeError, check_tokens, init_normal_
from ._registry import ModelCard, Paper, register_variants

PAPER = Paper("Language Models are Unsupervised Multitask Learners", 2019, None,
              "Radford, Wu, Child, Luan, Amodei, Sutskever")


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int = 50257
    seq_len: int = 1024  # context (block size)
    num_layers: int = 12
    num_heads: int = 12
    dim: int = 768
    dropout: float = 0.0
    bias: bool = True
    tie_weights: bool = True
    attn_impl: str = "sdpa"  # "math": written-out attention (seed 003), keeps the weights for plots


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg, self.num_classes = cfg, cfg.vocab_size
        d = cfg.dim
        norm = partial(nn.LayerNorm, bias=cfg.bias)
        self.wte = nn.Embedding(cfg.vocab_size, d)
        # an Embedding, not blocks.positional's offset table: left-padded rows need their own positions
        self.wpe = nn.Embedding(cfg.seq_len, d)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(
            EncoderBlock(d, cfg.num_heads, mlp_dim=4 * d, norm_first=True,
                         act_layer=partial(nn.GELU, approximate="tanh"), norm_layer=norm,
                         dropout=cfg.dropout, attn_dropout=cfg.dropout, bias=cfg.bias,
                         attn_impl=cfg.attn_impl)
            for _ in range(cfg.num_layers))
        self.ln_f = norm(d)
        self.lm_head = nn.Linear(d, cfg.vocab_size, bias=False)
        if cfg.tie_weights:
            self.lm_head.weight = self.wte.weight  # Press & Wolf 2017: one matrix, counted once
        self._init()

    @torch.no_grad()
    def _init(self) -> None:
        """GPT-2's: N(0, 0.02) everywhere, residual projections scaled by 1/sqrt(2L), zero biases."""
        init_normal_(self)
        for block in self.blocks:
            for proj in (block.attn.proj, block.mlp.fc2):
                nn.init.normal_(proj.weight, std=0.02 / math.sqrt(2 * self.cfg.num_layers))

    def example_inputs(self, batch_size: int = 2) -> tuple[Tensor]:
        return (torch.zeros(batch_size, self.cfg.seq_len, dtype=torch.long),)

    def _run(self, idx: Tensor, pos: Tensor, *, attn_mask: Tensor | None = None, is_causal: bool = False,
             caches: list[KVCache] | None = None) -> Tensor:
        x = self.drop(self.wte(idx) + self.wpe(pos))  # (B T D)
        for i, block in enumerate(self.blocks):
            x = block(x, attn_mask=attn_mask, is_causal=is_causal,
                      cache=None if caches is None else caches[i])
        return self.lm_head(self.ln_f(x))  # (B T V)

    def forward(self, idx: Tensor) -> Tensor:
        name = getattr(self, "model_name", "gpt")
        check_tokens(idx, self.cfg.vocab_size, name)
        t = idx.shape[1]
        if t > self.cfg.seq_len:
            raise InputShapeError(f"{name}: a sequence of {t} tokens exceeds the context of "
                                  f"{self.cfg.seq_len} (seq_len)")
        return self._run(idx, torch.arange(t, device=idx.device)[None], is_causal=True)

    # the StepDecoder protocol (archzoo.generate)
    def _prefill(self, ids: Tensor, real: Tensor) -> tuple[Tensor, dict[str, Any]]:
        """Encode left-padded ids (B, T), `real` False at padding; fills fresh caches."""
        t = ids.shape[1]
        pos = (real.long().cumsum(1) - 1).clamp(min=0)  # (B T): each row counts from its first token
        causal = torch.ones(t, t, dtype=torch.bool, device=ids.device).tril()
        # padding queries see themselves only, so no row of scores is all -inf (NaN would leak)
        mask = (causal & real[:, None, :]) | torch.eye(t, dtype=torch.bool, device=ids.device)  # (B T T)
        caches = [KVCache() for _ in self.blocks]
        logits = self._run(ids, pos, attn_mask=mask, caches=caches)
        return logits[:, -1], {"caches": caches, "real": real, "ids": ids, "next_pos": pos[:, -1] + 1}

    def start(self, prompt: Tensor, lengths: Tensor) -> tuple[Tensor, dict[str, Any]]:
        check_tokens(prompt, self.cfg.vocab_size, getattr(self, "model_name", "gpt"))
        lengths = lengths.to(prompt.device)
        if int(lengths.max()) > self.cfg.seq_len:
            warnings.warn(f"prompt of {int(lengths.max())} tokens exceeds the context of "
                          f"{self.cfg.seq_len}: keeping its last {self.cfg.seq_len} tokens", stacklevel=3)
        kept = lengths.clamp(max=self.cfg.seq_len)  # (B,)
        t = int(kept.max())
        col = torch.arange(t, device=prompt.device)[None]  # (1 T)
        pad = (t - kept)[:, None]  # left padding of each row
        real = col >= pad  # (B T)
        src = (col - pad + (lengths - kept)[:, None]).clamp(min=0)  # right-padded -> left-padded
        ids = prompt.gather(1, src).masked_fill(~real, 0)
        return self._prefill(ids, real)

    def step(self, tokens: Tensor, state: dict[str, Any]) -> tuple[Tensor, dict[str, Any]]:
        ids = torch.cat([state["ids"], tokens[:, None]], dim=1)
        real = torch.cat([state["real"], torch.ones_like(state["real"][:, :1])], dim=1)  # (B Tk)
        if ids.shape[1] > self.cfg.seq_len:  # the context is full: slide the window (no cache)
            return self._prefill(ids[:, -self.cfg.seq_len:], real[:, -self.cfg.seq_len:])
        pos = state["next_pos"]
        logits = self._run(tokens[:, None], pos[:, None], attn_mask=real[:, None, :],
                           caches=state["caches"])
        return logits[:, -1], {"caches": state["caches"], "real": real, "ids": ids, "next_pos": pos + 1}

    def reorder_state(self, state: dict[str, Any], index: Tensor) -> dict[str, Any]:
        for cache in state["caches"]:
            cache.reorder(index)
        return {"caches": state["caches"], **{k: state[k][index] for k in ("real", "ids", "next_pos")}}

    def generate(self, prompts: Any, **options: Any) -> list[list[int]]:
        from ..generate import generate
        return generate(self, prompts, **options)


def gpt_params(cfg: GPTConfig) -> int:
    """Closed form: embeddings, L x (2 LN + qkv + proj + MLP), final LN, untied output layer."""
    d, b = cfg.dim, int(cfg.bias)
    layer = 12 * d * d + b * 9 * d + 2 * (1 + b) * d  # qkv 3D^2, proj D^2, MLP 8D^2; biases; 2 LN
    head = 0 if cfg.tie_weights else cfg.vocab_size * d
    return (cfg.vocab_size + cfg.seq_len) * d + cfg.num_layers * layer + (1 + b) * d + head


def gpt_macs(cfg: GPTConfig) -> int:
    """MACs of one sequence of seq_len T: T (12 L D^2 + D V) for the matmuls with weights, plus
    Q K^T and A V, 2 L T^2 D at full T x T (what a dense kernel computes under a causal mask)."""
    t, d, n = cfg.seq_len, cfg.dim, cfg.num_layers
    return t * (12 * n * d * d + d * cfg.vocab_size) + 2 * n * t * t * d


def _char(layers: int, heads: int, dim: int, seq_len: int, dropout: float) -> GPTConfig:
    return GPTConfig(vocab_size=65, seq_len=seq_len, num_layers=layers, num_heads=heads, dim=dim,
                     dropout=dropout, bias=False)


VARIANTS: dict[str, GPTConfig] = {
    "gpt2_small": GPTConfig(),
    "gpt2_medium": GPTConfig(num_layers=24, num_heads=16, dim=1024),
    "gpt2_large": GPTConfig(num_layers=36, num_heads=20, dim=1280),
    "gpt2_xl": GPTConfig(num_layers=48, num_heads=25, dim=1600),
    "gpt_shakespeare_char": _char(6, 6, 384, 256, 0.2),  # nanoGPT config/train_shakespeare_char.py
    "gpt_char_cpu": _char(4, 4, 128, 64, 0.0),  # nanoGPT README's laptop run
}
_HF = "Hugging Face transformers GPT2LMHeadModel's num_parameters() (tied output counted once)"
# name: (reference params, source, the paper's Table 2 figure)
_FIGURES: dict[str, tuple[int, str, str | None]] = {
    "gpt2_small": (124_439_808, _HF, "117M"),
    "gpt2_medium": (354_823_168, _HF, "345M"),
    "gpt2_large": (774_030_080, _HF, "762M"),
    "gpt2_xl": (1_557_611_200, _HF, "1542M"),
    "gpt_shakespeare_char": (10_745_088, "nanoGPT (its log prints 10.65M: it leaves out the "
                             "98,304 position embeddings); checked by the closed form gpt_params", None),
    "gpt_char_cpu": (804_096, "closed form gpt_params (nanoGPT's CPU config, no published figure)", None),
}


def _card(name: str, cfg: GPTConfig) -> ModelCard:
    params, source, paper = _FIGURES.get(name, (gpt_params(cfg), "closed form gpt_params", None))
    notes = ["prompts longer than the context are truncated from the left with a warning; "
             "generation past it slides the window (re-encoding, no cache)"]
    if paper:
        notes.append(f"the paper's Table 2 says {paper}, an older count; the released model has {params:,}")
    if not cfg.bias:
        notes.append("nanoGPT's character-level config: no biases in Linear and LayerNorm, vocabulary "
                     "of 65 characters (Shakespeare)")
    return ModelCard(
        name=name, family="gpt", task="language-modelling", paper=PAPER, input_size=(cfg.seq_len,),
        num_classes=cfg.vocab_size, params=params, source=source, macs=gpt_macs(cfg),
        macs_convention="formula gpt_macs: one MAC per multiply-add of the matmuls, no bias, attention "
                        "at full T x T", small_input_size=(8,),
        notes=tuple(notes))


register_variants("gpt", VARIANTS, GPT, _card)
