"""BigBird: Zaheer et al. 2020, "Big Bird: Transformers for Longer Sequences" (arXiv:2007.14062).

BigBird-RoBERTa is BERT (models/bert.py) with every self-attention replaced by block-sparse
attention (blocks/sparse_attention.py: a sliding window of 3 blocks, the first and last blocks
global, r random blocks), so a layer costs time and memory linear in the length and the model
reads 4,096 tokens. It was warm-started from RoBERTa and pre-trained with masked language
modelling only. `BigBird` is `Bert` with the attention modules swapped and the next-sentence head
removed: `forward(idx (B, T), token_type_ids=None, padding_mask=None)` returns the MLM logits
(B, T, V) with `pretraining_heads=True` (the default here) and the hidden states (B, T, D) without;
`encode` returns (hidden, pooled). `padding_mask` is True at padding tokens.

Counts: bigbird_base is the backbone with the pooler, 127,468,800 parameters (Hugging Face
BigBirdModel's layout for google/bigbird-roberta-base: vocabulary 50,358, 4,096 positions, 2 token
types; closed form `bigbird_params`, the same sum as BERT's), plus the MLM head (a D x D transform,
LayerNorm and an output bias; the output matrix is tied to the token embedding): 642,486.
Departures: the reference's hidden activation is GELU with the tanh approximation ("gelu_new");
archzoo's BERT blocks use the exact (erf) GELU. The random blocks are fixed per layer and head (the
layer index seeds them) instead of redrawn at each training step, and the sparse pattern is used at
every length (see blocks/sparse_attention.py). `bigbird_mini_char` is archzoo's small
character-level config. Shape letters: B batch, T sequence, D model dim, V vocabulary.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch.nn as nn
from torch import Tensor

from ..blocks.sparse_attention import BigBirdAttention
from ._registry import ModelCard, Paper, register_variants
from .bert import Bert, BertConfig, bert_params

PAPER = Paper("Big Bird: Transformers for Longer Sequences", 2020, "2007.14062",
              "Zaheer, Guruganesh, Dubey, Ainslie, Alberti, Ontanon, Pham, Ravula, Wang, Yang, Ahmed")


@dataclass(frozen=True)
class BigBirdConfig(BertConfig):
    vocab_size: int = 50358
    seq_len: int = 4096
    pretraining_heads: bool = True  # the MLM head (BigBird-RoBERTa has no next-sentence head)
    block_size: int = 64
    num_random_blocks: int = 3
    seed: int = 0  # layer i draws its random blocks with seed + i


class BigBird(Bert):
    def __init__(self, cfg: BigBirdConfig) -> None:
        if cfg.seq_len % cfg.block_size:
            raise ValueError(f"seq_len must be a multiple of block_size {cfg.block_size}; got {cfg.seq_len}")
        super().__init__(cfg)
        if cfg.pretraining_heads:
            del self.nsp
        for i, block in enumerate(self.blocks):
            block.attn = BigBirdAttention(cfg.dim, cfg.num_heads, block_size=cfg.block_size,
                                          num_random_blocks=cfg.num_random_blocks, seed=cfg.seed + i,
                                          attn_drop=cfg.dropout)
            for layer in (block.attn.qkv, block.attn.proj):  # Bert's init, for the new modules
                nn.init.normal_(layer.weight, std=0.02)
                nn.init.zeros_(layer.bias)

    def pretraining_logits(self, idx: Tensor, **kwargs) -> tuple[Tensor, Tensor]:
        raise ValueError("BigBird-RoBERTa has no next-sentence head: forward(idx) returns the MLM logits")


def bigbird_params(cfg: BigBirdConfig) -> int:
    """BERT's closed form without the next-sentence head (2D + 2)."""
    return bert_params(cfg) - (2 * cfg.dim + 2 if cfg.pretraining_heads else 0)


def bigbird_macs(cfg: BigBirdConfig) -> int:
    """MACs of one sequence of seq_len T in n = T / b blocks, K = 5 + r key blocks per middle block:
    L (12 T D^2 + attention) + pooler D^2 + MLM head T (D^2 + D V). Attention per layer: the middle
    query blocks score K b keys each, (n - 2) b K b D for Q K^T and again for A V, the two global
    blocks all T keys, 2 (2 b T D)."""
    t, d, b = cfg.seq_len, cfg.dim, cfg.block_size
    n, k = t // b, 5 + cfg.num_random_blocks
    attn = 2 * (max(n - 2, 0) * k * b * b * d + min(n, 2) * b * t * d)
    layer = t * (4 * d * d + 2 * d * cfg.mlp_dim) + attn
    head = t * (d * d + d * cfg.vocab_size) if cfg.pretraining_heads else 0
    return cfg.num_layers * layer + d * d + head


VARIANTS: dict[str, BigBirdConfig] = {
    "bigbird_base": BigBirdConfig(),
    "bigbird_mini_char": BigBirdConfig(vocab_size=70, seq_len=256, num_layers=4, num_heads=4, dim=128,
                                       mlp_dim=512, block_size=16, num_random_blocks=2),
}


def _card(name: str, cfg: BigBirdConfig) -> ModelCard:
    notes = ["random blocks fixed per layer and head; the sparse pattern at every length; exact GELU"]
    if name == "bigbird_base":
        backbone = bert_params(dataclasses.replace(cfg, pretraining_heads=False))
        source = (f"closed form bigbird_params: Hugging Face BigBirdModel's layout (backbone + pooler, "
                  f"{backbone:,}) plus the MLM head ({bigbird_params(cfg) - backbone:,})")
    else:
        source = "closed form bigbird_params"
        notes.append("archzoo's small character-level config, with the MLM head")
    return ModelCard(name=name, family="bigbird", task="masked-lm", paper=PAPER, input_size=(cfg.seq_len,),
                     num_classes=cfg.vocab_size, params=bigbird_params(cfg), source=source,
                     macs=bigbird_macs(cfg),
                     macs_convention="formula bigbird_macs: one MAC per multiply-add of the matmuls, no "
                                     "bias, attention over the gathered blocks (repeated slots included)",
                     small_input_size=(8,), notes=tuple(notes))


register_variants("bigbird", VARIANTS, BigBird, _card)
