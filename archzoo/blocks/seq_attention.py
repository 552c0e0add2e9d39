"""Attention for recurrent encoder-decoders: seed 000's score functions f_att(s_{i-1}, h_j).

a_ij = softmax_j(f_att(s, h_j)), c_i = sum_j a_ij h_j, with f_att one of:
- "additive" (Bahdanau, Cho, Bengio 2015, "Neural Machine Translation by Jointly Learning to Align
  and Translate", arXiv:1409.0473): v^T tanh(W_1 s + W_2 h_j).
- "dot", "multiplicative" (general) and "scaled" (Luong, Pham, Manning 2015, "Effective Approaches to
  Attention-based Neural Machine Translation", arXiv:1508.04025): s^T h_j, s^T W_a h_j, and
  s^T W_a h_j / sqrt(d_s) as seed 000 writes it (the scaling Vaswani et al. 2017 made standard).
- "key_value" (Daniluk et al. 2017, "Frustratingly Short Attention Spans in Neural Language
  Modeling", arXiv:1702.04521): each h_j is split into a key half, scored additively, and a value
  half, which alone forms the context.
- "location" (Luong et al. 2015, section 3.1): a_i = softmax(W_a s), scores from the decoder state
  alone over at most `max_len` source positions.
Every module maps query s (B, Dq), memory h (B, S, Dk) and mask (B, S) (True = real token) to the
context (B, Dv) and the weights (B, S); padded positions get weight 0.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
from torch import Tensor

ATTENTIONS = ("additive", "dot", "multiplicative", "scaled", "key_value", "location")


def _softmax(scores: Tensor, mask: Tensor | None) -> Tensor:
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(dim=-1)  # B S


class SeqAttention(nn.Module):
    """f_att(s, h) -> (context, weights); `value_size` is the context width (Dk, or Dk/2 for
    key_value)."""

    def __init__(self, kind: str, *, query_size: int, key_size: int, attn_size: int | None = None,
                 max_len: int = 64) -> None:
        super().__init__()
        if kind not in ATTENTIONS:
            raise ValueError(f"unknown attention {kind!r}; expected one of {', '.join(ATTENTIONS)}")
        self.kind, self.max_len = kind, max_len
        attn_size = attn_size or query_size
        self.value_size = key_size
        if kind in ("additive", "key_value"):
            if kind == "key_value":
                if key_size % 2:
                    raise ValueError(f"key_value attention splits h in halves; got odd width {key_size}")
                key_size = self.value_size = key_size // 2
            self.w_query = nn.Linear(query_size, attn_size, bias=False)
            self.w_key = nn.Linear(key_size, attn_size)
            self.v = nn.Linear(attn_size, 1, bias=False)
        elif kind in ("multiplicative", "scaled"):
            self.w_a = nn.Linear(key_size, query_size, bias=False)  # s^T W_a h = s . (W_a h)
        elif kind == "dot" and query_size != key_size:
            raise ValueError(f"dot attention needs equal widths; got query {query_size}, keys {key_size}")
        elif kind == "location":
            self.w_a = nn.Linear(query_size, max_len)
        self.scale = 1 / math.sqrt(query_size) if kind == "scaled" else 1.0

    def precompute(self, memory: Tensor) -> Tensor | None:
        """The query-independent part of the scores, computed once per source (B, S, A)."""
        if self.kind == "additive":
            return self.w_key(memory)
        if self.kind == "key_value":
            return self.w_key(memory[..., : self.value_size])
        if self.kind in ("multiplicative", "scaled"):
            return self.w_a(memory)  # B S Dq
        return None

    def forward(self, query: Tensor, memory: Tensor, mask: Tensor | None = None,
                keys: Tensor | None = None) -> tuple[Tensor, Tensor]:
        B, S, _ = memory.shape
        if keys is None:
            keys = self.precompute(memory)
        values = memory[..., self.value_size:] if self.kind == "key_value" else memory  # B S Dv
        if self.kind in ("additive", "key_value"):
            scores = self.v(torch.tanh(keys + self.w_query(query).unsqueeze(1))).squeeze(-1)  # B S
        elif self.kind == "location":
            if S > self.max_len:
                raise ValueError(f"location attention covers at most {self.max_len} source steps; got {S}")
            scores = self.w_a(query)[:, :S]  # B S
        else:
            k = memory if keys is None else keys
            scores = torch.bmm(k, query.unsqueeze(-1)).squeeze(-1) * self.scale  # B S
        weights = _softmax(scores, mask)
        context = torch.bmm(weights.unsqueeze(1), values).squeeze(1)  # B Dv
        return context, weights
