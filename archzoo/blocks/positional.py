"""Positional encodings: telling a permutation-invariant attention layer where each token is.

Seed 001 lists the desiderata of pos(.): a unique encoding per position, distances consistent
across sequence lengths, values bounded, deterministic, and generalizing to longer sequences. Four
answers:
- `SinusoidalPositionalEncoding`: Vaswani et al. 2017, "Attention Is All You Need"
  (arXiv:1706.03762) section 3.5, in seed 001's form p(t)_2k = sin(w_k t), p(t)_2k+1 = cos(w_k t),
  w_k = 1 / 10000^(2k/d). Fixed, no parameters.
- `LearnedPositionalEmbedding`: one trained vector per position (BERT, GPT-2, ViT).
- `RotaryEmbedding`: Su et al. 2021, "RoFormer: Enhanced Transformer with Rotary Position
  Embedding" (arXiv:2104.09864): rotates each (2i, 2i+1) pair of query/key features by angle
  t * w_i, so q_m . k_n depends on m - n only. Pairs are adjacent features, as in the paper
  (GPT-NeoX and LLaMA pair feature i with i + hs/2 instead: same idea, permuted features).
- `RelativePositionBias`: Raffel et al. 2020, "Exploring the Limits of Transfer Learning with a
  Unified Text-to-Text Transformer" (T5, arXiv:1910.10683) section 2.1: a learned scalar per head
  and log-spaced bucket of the key-minus-query offset, added to the attention scores.
Shape letters: B batch, T sequence, D model dim, nh heads, hs head size.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn


def sinusoidal_table(num_positions: int, dim: int, *, base: float = 10000.0) -> torch.Tensor:
    """(T, D): row t is p(t), with sin at even and cos at odd features (seed 001's formula)."""
    t = torch.arange(num_positions, dtype=torch.float64)[:, None]  # (T, 1)
    k = torch.arange((dim + 1) // 2, dtype=torch.float64)  # pair index
    omega = 1.0 / base ** (2 * k / dim)  # w_k = 1 / 10000^(2k/d)
    table = torch.zeros(num_positions, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(t * omega)
    table[:, 1::2] = torch.cos(t * omega)[:, : dim // 2]
    return table.float()


class SinusoidalPositionalEncoding(nn.Module):
    """Adds p(offset..offset+T-1) to x (B T D); the table is a buffer, not a parameter.

    `scale_input` multiplies the embeddings by sqrt(D) first, as Vaswani et al. section 3.4 do.
    """

    def __init__(self, dim: int, *, max_len: int = 4096, dropout: float = 0.0,
                 scale_input: bool = False) -> None:
        super().__init__()
        self.dim, self.max_len, self.scale_input = dim, max_len, scale_input
        self.register_buffer("table", sinusoidal_table(max_len, dim), persistent=False)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, *, offset: int = 0) -> torch.Tensor:
        t = x.shape[1]
        if offset + t > self.max_len:
            raise ValueError(f"positions {offset}..{offset + t - 1} exceed max_len {self.max_len}")
        if self.scale_input:
            x = x * math.sqrt(self.dim)
        return self.drop(x + self.table[offset: offset + t])


class LearnedPositionalEmbedding(nn.Module):
    """Adds a trained vector per position to x (B T D); at most `num_positions` tokens."""

    def __init__(self, num_positions: int, dim: int, *, dropout: float = 0.0,
                 init_std: float = 0.02) -> None:
        super().__init__()
        self.num_positions = num_positions
        self.weight = nn.Parameter(torch.empty(1, num_positions, dim).normal_(std=init_std))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, *, offset: int = 0) -> torch.Tensor:
        t = x.shape[1]
        if offset + t > self.num_positions:
            raise ValueError(f"positions {offset}..{offset + t - 1} exceed the "
                             f"{self.num_positions} learned positions")
        return self.drop(x + self.weight[:, offset: offset + t])


class RotaryEmbedding(nn.Module):
    """Rotates q or k (B nh T hs) by position: pair (2i, 2i+1) of token t turns by t * w_i."""

    def __init__(self, head_dim: int, *, base: float = 10000.0) -> None:
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"rotary embedding needs an even head size; got {head_dim}")
        omega = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
        self.register_buffer("omega", omega.float(), persistent=False)  # (hs/2,)

    def forward(self, x: torch.Tensor, *, offset: int = 0) -> torch.Tensor:
        t = x.shape[-2]
        pos = torch.arange(offset, offset + t, device=x.device, dtype=self.omega.dtype)
        angle = pos[:, None] * self.omega[None, :]  # (T, hs/2)
        cos, sin = angle.cos().to(x.dtype), angle.sin().to(x.dtype)
        x1, x2 = x[..., 0::2], x[..., 1::2]  # (B nh T hs/2) each
        rotated = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
        return rotated.flatten(-2)  # interleave back to (B nh T hs)


def t5_bucket(relative_position: torch.Tensor, *, bidirectional: bool = True,
              num_buckets: int = 32, max_distance: int = 128) -> torch.Tensor:
    """T5's bucket of each key-minus-query offset: exact for small offsets, log-spaced up to
    `max_distance`, one bucket beyond; a decoder (not bidirectional) sees no future keys."""
    n = -relative_position
    bucket = torch.zeros_like(n)
    if bidirectional:
        num_buckets //= 2
        bucket = bucket + (n < 0).long() * num_buckets  # keys after the query: upper half
        n = n.abs()
    else:
        n = n.clamp(min=0)
    max_exact = num_buckets // 2
    is_small = n < max_exact
    log_ratio = torch.log(n.float().clamp(min=1) / max_exact) / math.log(max_distance / max_exact)
    large = (max_exact + (log_ratio * (num_buckets - max_exact)).long()).clamp(max=num_buckets - 1)
    return bucket + torch.where(is_small, n, large)


class RelativePositionBias(nn.Module):
    """T5's learned bias (1 nh Tq Tk) to add to the attention scores; one per layer stack."""

    def __init__(self, num_heads: int, *, bidirectional: bool = True, num_buckets: int = 32,
                 max_distance: int = 128) -> None:
        super().__init__()
        self.bidirectional, self.num_buckets, self.max_distance = bidirectional, num_buckets, max_distance
        self.embedding = nn.Embedding(num_buckets, num_heads)

    def forward(self, t_q: int, t_k: int, *, offset: int = 0) -> torch.Tensor:
        """`offset`: position of the first query (decoding with a cache: t_k - t_q)."""
        device = self.embedding.weight.device
        q_pos = torch.arange(offset, offset + t_q, device=device)[:, None]
        k_pos = torch.arange(t_k, device=device)[None, :]
        bucket = t5_bucket(k_pos - q_pos, bidirectional=self.bidirectional,
                           num_buckets=self.num_buckets, max_distance=self.max_distance)
        return self.embedding(bucket).permute(2, 0, 1)[None]  # (1 nh Tq Tk)
