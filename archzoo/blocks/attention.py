"""Scaled dot-product and multi-head attention (seed 003, "Self Attention Layer").

Vaswani et al. 2017, "Attention Is All You Need" (arXiv:1706.03762), section 3.2. Seed 003 derives
one head as Y_i = softmax_row(X W_q,i (X W_k,i)^T / P^(1/2)) X W_v,i, with P the query/key width,
and multi-head attention as the sum over heads of Y_i W_o,i, which is the concatenation of the
heads times one output matrix W_o.

Two paths compute the same thing: `impl="math"` writes the seed's formula out (and can return the
attention weights A_i, for plots), `impl="sdpa"` calls `F.scaled_dot_product_attention` (PyTorch's
fused kernel: no T x T matrix is kept, so memory grows linearly with length). They agree within
1e-5. Masks follow `F.scaled_dot_product_attention`: a boolean `attn_mask` is True where a query
MAY attend, a float one is added to the scores. `key_padding_mask` is True at padding tokens, as in
`nn.MultiheadAttention`. Shape letters: B batch, T sequence, D model dim, nh heads, hs head size.

Departures: the query/key/value projections are one (3D x D) matrix, laid out like
`nn.MultiheadAttention.in_proj_weight`, so its weights copy over unchanged; keys and values have
the model width D (the seed allows other widths P and L).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class MaskShapeError(ValueError):
    """An attention mask whose shape does not fit the queries and keys."""


def causal_mask(t_q: int, t_k: int, *, device: torch.device | None = None) -> torch.Tensor:
    """(Tq, Tk) boolean, True where query i may attend key j: the last query sees every key.

    Aligned at the bottom right, so with a KV cache (Tk = past + Tq) query i sits at position
    past + i and sees keys 0..past + i.
    """
    past = t_k - t_q
    q_pos = torch.arange(t_q, device=device)[:, None] + past
    return torch.arange(t_k, device=device)[None, :] <= q_pos


def _check_mask(mask: torch.Tensor, b: int, nh: int, t_q: int, t_k: int) -> torch.Tensor:
    """Return `mask` viewed as (B|1, nh|1, Tq, Tk), or raise naming the shapes that would fit."""
    shape = tuple(mask.shape)
    ok = mask.ndim in (2, 3, 4) and shape[-2:] == (t_q, t_k)
    if ok and mask.ndim >= 3:
        ok = shape[0] in (1, b) and (mask.ndim == 3 or shape[1] in (1, nh))
    if not ok:
        raise MaskShapeError(
            f"attn_mask must have shape (Tq, Tk) = ({t_q}, {t_k}), (B, Tq, Tk) = ({b}, {t_q}, {t_k}) "
            f"or (B, nh, Tq, Tk) = ({b}, {nh}, {t_q}, {t_k}) (1 allowed for B and nh); got {shape}"
        )
    if mask.ndim == 2:
        return mask[None, None]
    return mask[:, None] if mask.ndim == 3 else mask


def _combine(mask: torch.Tensor | None, extra: torch.Tensor) -> torch.Tensor:
    """Merge a boolean 'may attend' mask or an additive float mask with another of either kind."""
    if mask is None:
        return extra
    if mask.dtype == torch.bool and extra.dtype == torch.bool:
        return mask & extra
    if mask.dtype == torch.bool:
        mask, extra = extra, mask
    if extra.dtype == torch.bool:  # float + bool: forbidden positions get -inf (broadcasting)
        return torch.where(extra, mask, float("-inf"))
    return mask + extra


def scaled_dot_product_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *,
    attn_mask: torch.Tensor | None = None, is_causal: bool = False, dropout_p: float = 0.0,
    scale: float | None = None, impl: str = "sdpa", return_weights: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """softmax(q k^T / sqrt(hs) [+ mask]) v for q (B nh Tq hs), k (B nh Tk hs), v (B nh Tk hv).

    `return_weights` (math path only) also returns A, (B nh Tq Tk), one pmf per row.
    """
    t_q, t_k = q.shape[-2], k.shape[-2]
    if attn_mask is not None:
        attn_mask = _check_mask(attn_mask, q.shape[0], q.shape[1], t_q, t_k)
    if is_causal and (attn_mask is not None or t_q != t_k or impl == "math"):
        attn_mask = _combine(attn_mask, causal_mask(t_q, t_k, device=q.device))
        is_causal = False
    if impl == "sdpa" and not return_weights:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal,
                                              dropout_p=dropout_p, scale=scale)
    if impl not in ("sdpa", "math"):
        raise ValueError(f"unknown attention impl {impl!r}; expected 'sdpa' or 'math'")
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = (q @ k.transpose(-2, -1)) * scale  # (B nh Tq Tk)
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        else:
            scores = scores + attn_mask
    weights = scores.softmax(dim=-1)  # softmax_row: one pmf over the keys per query
    dropped = F.dropout(weights, p=dropout_p) if dropout_p > 0 else weights
    out = dropped @ v  # (B nh Tq hv)
    return (out, weights) if return_weights else out


class KVCache:
    """Keys and values of the tokens seen so far, for incremental decoding.

    A self-attention cache grows by the new tokens at each step; a cross-attention cache holds the
    projected encoder output, computed at the first step and reused after.
    """

    def __init__(self) -> None:
        self.k: torch.Tensor | None = None  # (B nh T hs)
        self.v: torch.Tensor | None = None

    def __len__(self) -> int:
        return 0 if self.k is None else self.k.shape[-2]

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.k is None:
            self.k, self.v = k, v
        else:
            self.k = torch.cat([self.k, k], dim=-2)
            self.v = torch.cat([self.v, v], dim=-2)
        return self.k, self.v

    def reorder(self, index: torch.Tensor) -> None:
        """Keep batch rows `index` (beam search)."""
        if self.k is not None:
            self.k, self.v = self.k[index], self.v[index]


class MultiHeadAttention(nn.Module):
    """Multi-head self- or cross-attention: (B Tq D) [+ context (B Tk D)] -> (B Tq D).

    `qkv` holds W_q, W_k, W_v stacked as (3D, D) and `proj` is W_o. Set `keep_weights = True` to
    store the last attention weights in `attn_weights` (B nh Tq Tk) for visualization; that runs
    the written-out path.
    """

    def __init__(self, dim: int, num_heads: int, *, bias: bool = True, attn_drop: float = 0.0,
                 proj_drop: float = 0.0, impl: str = "sdpa") -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.dim, self.num_heads, self.head_dim = dim, num_heads, dim // num_heads
        self.impl = impl
        self.attn_drop = attn_drop
        self.qkv = nn.Linear(dim, 3 * dim, bias=bias)
        self.proj = nn.Linear(dim, dim, bias=bias)
        self.proj_drop = nn.Dropout(proj_drop)
        self.keep_weights = False
        self.attn_weights: torch.Tensor | None = None

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        return x.view(b, t, -1, self.head_dim).transpose(1, 2)  # (B nh T hs)

    def _project(self, x: torch.Tensor, context: torch.Tensor | None):
        if context is None:
            return self.qkv(x).chunk(3, dim=-1)  # 3 x (B T D)
        w, b = self.qkv.weight, self.qkv.bias
        q = F.linear(x, w[: self.dim], None if b is None else b[: self.dim])
        k, v = F.linear(context, w[self.dim:], None if b is None else b[self.dim:]).chunk(2, dim=-1)
        return q, k, v

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | None = None, *,
        attn_mask: torch.Tensor | None = None, key_padding_mask: torch.Tensor | None = None,
        is_causal: bool = False, attn_bias: torch.Tensor | None = None,
        rope: nn.Module | None = None, cache: KVCache | None = None,
    ) -> torch.Tensor:
        b, t_q, _ = x.shape
        cross = context is not None
        if cross and cache is not None and len(cache):
            q = self._heads(F.linear(x, self.qkv.weight[: self.dim],
                                     None if self.qkv.bias is None else self.qkv.bias[: self.dim]))
            k, v = cache.k, cache.v
        else:
            q, k, v = (self._heads(z) for z in self._project(x, context))  # (B nh T hs)
            past = 0 if (cross or cache is None) else len(cache)
            if rope is not None and not cross:
                q, k = rope(q, offset=past), rope(k, offset=past)
            if cache is not None:
                k, v = cache.append(k, v)
        t_k = k.shape[-2]
        mask = None if attn_mask is None else _check_mask(attn_mask, b, self.num_heads, t_q, t_k)
        if key_padding_mask is not None:
            if tuple(key_padding_mask.shape) != (b, t_k):
                raise MaskShapeError(f"key_padding_mask must have shape (B, Tk) = ({b}, {t_k}); "
                                     f"got {tuple(key_padding_mask.shape)}")
            mask = _combine(mask, ~key_padding_mask.bool()[:, None, None, :].expand(b, 1, t_q, t_k))
        if attn_bias is not None:
            mask = _combine(mask, attn_bias)
        use_math = self.impl == "math" or self.keep_weights
        out = scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=is_causal,
            dropout_p=self.attn_drop if self.training else 0.0,
            impl="math" if use_math else "sdpa", return_weights=self.keep_weights)
        if self.keep_weights:
            out, weights = out
            self.attn_weights = weights.detach()
        out = out.transpose(1, 2).reshape(b, t_q, self.dim)  # (B Tq nh*hs): concatenate the heads
        return self.proj_drop(self.proj(out))

    @torch.no_grad()
    def load_from_torch(self, mha: nn.MultiheadAttention) -> None:
        """Copy the weights of an `nn.MultiheadAttention` with the same width and heads."""
        self.qkv.weight.copy_(mha.in_proj_weight)
        self.proj.weight.copy_(mha.out_proj.weight)
        if self.qkv.bias is not None:
            self.qkv.bias.copy_(mha.in_proj_bias)
            self.proj.bias.copy_(mha.out_proj.bias)
