"""Transformer encoder and decoder blocks: attention + MLP, each inside a residual connection.

Vaswani et al. 2017, "Attention Is All You Need" (arXiv:1706.03762) section 3.1 puts LayerNorm
after each residual add (`norm_first=False`, "post-LN"). Xiong et al. 2020, "On Layer
Normalization in the Transformer Architecture" (arXiv:2002.04745) moves it in front of each
sub-layer (`norm_first=True`, "pre-LN"), which trains without warmup and is what GPT-2, ViT and
Swin use. `drop_path` is stochastic depth (blocks/stochastic_depth.py), per residual branch.

With dropout 0 the blocks equal `nn.TransformerEncoderLayer` / `nn.TransformerDecoderLayer` with
`batch_first=True` and copied weights (tests/test_attention.py). Shapes: (B T D).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

from .attention import KVCache, MultiHeadAttention
from .stochastic_depth import DropPath


class Mlp(nn.Module):
    """Linear -> act -> dropout -> Linear -> dropout: the position-wise feed-forward sub-layer."""

    def __init__(self, dim: int, hidden_dim: int, *, out_dim: int | None = None,
                 act_layer: Callable[[], nn.Module] = nn.GELU, drop: float = 0.0, bias: bool = True) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim, bias=bias)
        self.act = act_layer()
        self.drop1 = nn.Dropout(drop)
        self.fc2 = nn.Linear(hidden_dim, out_dim or dim, bias=bias)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop2(self.fc2(self.drop1(self.act(self.fc1(x)))))


class EncoderBlock(nn.Module):
    """Self-attention + MLP. Pre-LN: x + attn(ln1(x)), then + mlp(ln2(.)). Post-LN:
    ln1(x + attn(x)), then ln2(. + mlp(.))."""

    def __init__(self, dim: int, num_heads: int, *, mlp_dim: int | None = None,
                 norm_first: bool = True, act_layer: Callable[[], nn.Module] = nn.GELU,
                 norm_layer: Callable[[int], nn.Module] = nn.LayerNorm, dropout: float = 0.0,
                 attn_dropout: float = 0.0, drop_path: float = 0.0, bias: bool = True,
                 attn_impl: str = "sdpa") -> None:
        super().__init__()
        self.norm_first = norm_first
        self.norm1 = norm_layer(dim)
        self.attn = MultiHeadAttention(dim, num_heads, bias=bias, attn_drop=attn_dropout,
                                       impl=attn_impl)
        self.drop1 = nn.Dropout(dropout)
        self.norm2 = norm_layer(dim)
        self.mlp = Mlp(dim, mlp_dim or 4 * dim, act_layer=act_layer, drop=dropout, bias=bias)
        self.drop_path = DropPath(p=drop_path)

    def forward(self, x: torch.Tensor, **attn_kwargs) -> torch.Tensor:
        """`attn_kwargs` go to `MultiHeadAttention`: attn_mask, key_padding_mask, is_causal,
        attn_bias, rope, cache."""
        if self.norm_first:
            x = x + self.drop_path(self.drop1(self.attn(self.norm1(x), **attn_kwargs)))
            return x + self.drop_path(self.mlp(self.norm2(x)))
        x = self.norm1(x + self.drop_path(self.drop1(self.attn(x, **attn_kwargs))))
        return self.norm2(x + self.drop_path(self.mlp(x)))


class DecoderBlock(nn.Module):
    """Causal self-attention, cross-attention to the encoder output `memory`, MLP."""

    def __init__(self, dim: int, num_heads: int, *, mlp_dim: int | None = None,
                 norm_first: bool = True, act_layer: Callable[[], nn.Module] = nn.GELU,
                 norm_layer: Callable[[int], nn.Module] = nn.LayerNorm, dropout: float = 0.0,
                 attn_dropout: float = 0.0, bias: bool = True, attn_impl: str = "sdpa") -> None:
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(dim, num_heads, bias=bias, attn_drop=attn_dropout,
                                            impl=attn_impl)
        self.cross_attn = MultiHeadAttention(dim, num_heads, bias=bias, attn_drop=attn_dropout,
                                             impl=attn_impl)
        self.mlp = Mlp(dim, mlp_dim or 4 * dim, act_layer=act_layer, drop=dropout, bias=bias)
        self.norm1, self.norm2, self.norm3 = norm_layer(dim), norm_layer(dim), norm_layer(dim)
        self.drop1, self.drop2 = nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, *, is_causal: bool = True,
                attn_mask: torch.Tensor | None = None, key_padding_mask: torch.Tensor | None = None,
                memory_key_padding_mask: torch.Tensor | None = None,
                self_cache: KVCache | None = None, cross_cache: KVCache | None = None) -> torch.Tensor:
        def sa(h):
            return self.drop1(self.self_attn(h, attn_mask=attn_mask, is_causal=is_causal,
                                             key_padding_mask=key_padding_mask, cache=self_cache))

        def ca(h):
            return self.drop2(self.cross_attn(h, memory, cache=cross_cache,
                                              key_padding_mask=memory_key_padding_mask))

        if self.norm_first:
            x = x + sa(self.norm1(x))
            x = x + ca(self.norm2(x))
            return x + self.mlp(self.norm3(x))
        x = self.norm1(x + sa(x))
        x = self.norm2(x + ca(x))
        return self.norm3(x + self.mlp(x))
