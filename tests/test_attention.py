"""Attention, positional encodings, Transformer blocks and patch embedding against PyTorch's own
modules and the papers' formulas."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from archzoo.blocks.attention import (KVCache, MaskShapeError, MultiHeadAttention, causal_mask,
                                      scaled_dot_product_attention)
from archzoo.blocks.patch_embed import PatchEmbed, PatchSizeError
from archzoo.blocks.positional import (LearnedPositionalEmbedding, RelativePositionBias,
                                       RotaryEmbedding, SinusoidalPositionalEncoding,
                                       sinusoidal_table, t5_bucket)
from archzoo.blocks.transformer import DecoderBlock, EncoderBlock


def _qkv(b=2, nh=3, tq=5, tk=7, hs=8):
    return torch.randn(b, nh, tq, hs), torch.randn(b, nh, tk, hs), torch.randn(b, nh, tk, hs)


@pytest.mark.parametrize("causal", [False, True])
def test_math_path_equals_fused_path(causal):
    q, k, v = _qkv(tq=6, tk=6)
    mask = torch.rand(2, 1, 6, 6) > 0.3
    mask[..., 0] = True  # every query sees at least one key
    for m in (None, mask):
        a = scaled_dot_product_attention(q, k, v, attn_mask=m, is_causal=causal, impl="math")
        b = scaled_dot_product_attention(q, k, v, attn_mask=m, is_causal=causal, impl="sdpa")
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_math_path_is_the_seed_formula():
    """Y = softmax_row(Q K^T / P^(1/2)) V, one pmf per row; heads sum as sum_i Y_i W_o,i."""
    x = torch.randn(4, 10, dtype=torch.float64)  # M=4 vectors of K=10 features
    wq, wk, wv = (torch.randn(10, 6, dtype=torch.float64) for _ in range(3))  # P = L = 6
    a = torch.softmax(x @ wq @ wk.T @ x.T / math.sqrt(6), dim=1)
    expect = a @ x @ wv
    out, w = scaled_dot_product_attention((x @ wq)[None, None], (x @ wk)[None, None],
                                          (x @ wv)[None, None], impl="math", return_weights=True)
    torch.testing.assert_close(out[0, 0], expect)
    torch.testing.assert_close(w[0, 0].sum(-1), torch.ones(4, dtype=torch.float64))
    # multi-head: concatenating heads then W_o equals the seed's sum over heads of Y_i W_o,i
    mha = MultiHeadAttention(12, 3, bias=False, impl="math").double()
    xb = torch.randn(1, 4, 12, dtype=torch.float64)
    wq_, wk_, wv_ = mha.qkv.weight.chunk(3)
    total = 0
    for i in range(3):
        s = slice(4 * i, 4 * i + 4)
        qi, ki, vi = xb[0] @ wq_[s].T, xb[0] @ wk_[s].T, xb[0] @ wv_[s].T
        yi = torch.softmax(qi @ ki.T / 2.0, dim=1) @ vi
        total = total + yi @ mha.proj.weight[:, s].T
    torch.testing.assert_close(mha(xb)[0], total)


def _pair(dim=16, heads=4, impl="sdpa"):
    torch.manual_seed(0)
    ref = nn.MultiheadAttention(dim, heads, batch_first=True)
    nn.init.normal_(ref.in_proj_bias)
    nn.init.normal_(ref.out_proj.bias)
    ours = MultiHeadAttention(dim, heads, impl=impl)
    ours.load_from_torch(ref)
    return ours, ref


@pytest.mark.parametrize("impl", ["sdpa", "math"])
def test_mha_equals_pytorch_with_masks_and_gradients(impl):
    ours, ref = _pair(impl=impl)
    x = torch.randn(3, 6, 16, requires_grad=True)
    pad = torch.tensor([[False] * 6, [False] * 4 + [True] * 2, [False] * 5 + [True]])
    causal = causal_mask(6, 6)
    y1 = ours(x, key_padding_mask=pad, is_causal=True)
    y2, _ = ref(x, x, x, key_padding_mask=pad, attn_mask=~causal, need_weights=False)
    torch.testing.assert_close(y1, y2, atol=1e-5, rtol=1e-5)
    g = torch.randn_like(y1)
    gx1, gw1 = torch.autograd.grad(y1, (x, ours.qkv.weight), g)
    gx2, gw2 = torch.autograd.grad(y2, (x, ref.in_proj_weight), g)
    torch.testing.assert_close(gx1, gx2, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(gw1, gw2, atol=1e-5, rtol=1e-4)


def test_cross_attention_equals_pytorch():
    ours, ref = _pair()
    x, mem = torch.randn(2, 3, 16), torch.randn(2, 9, 16)
    pad = torch.zeros(2, 9, dtype=torch.bool)
    pad[1, 7:] = True
    y2, _ = ref(x, mem, mem, key_padding_mask=pad)
    torch.testing.assert_close(ours(x, mem, key_padding_mask=pad), y2, atol=1e-5, rtol=1e-5)


def test_mask_of_wrong_shape_is_named():
    ours, _ = _pair()
    x = torch.randn(2, 5, 16)
    with pytest.raises(MaskShapeError, match=r"\(Tq, Tk\) = \(5, 5\).*got \(5, 4\)"):
        ours(x, attn_mask=torch.ones(5, 4, dtype=torch.bool))
    with pytest.raises(MaskShapeError, match=r"key_padding_mask must have shape \(B, Tk\) = \(2, 5\)"):
        ours(x, key_padding_mask=torch.zeros(2, 6, dtype=torch.bool))


def test_kv_cache_equals_recomputation():
    torch.manual_seed(0)
    block = DecoderBlock(16, 4, mlp_dim=32).eval()
    rope_mha = MultiHeadAttention(16, 4).eval()
    rope = RotaryEmbedding(4)
    x, mem = torch.randn(2, 9, 16), torch.randn(2, 5, 16)
    full = block(x, mem)
    full_rope = rope_mha(x, is_causal=True, rope=rope)
    self_c, cross_c, rope_c = KVCache(), KVCache(), KVCache()
    steps, rope_steps = [], []
    for chunk in (x[:, :4], x[:, 4:5], x[:, 5:6], x[:, 6:]):  # a prompt, then tokens one by one
        steps.append(block(chunk, mem, self_cache=self_c, cross_cache=cross_c))
        rope_steps.append(rope_mha(chunk, is_causal=True, rope=rope, cache=rope_c))
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-4, rtol=0)
    torch.testing.assert_close(torch.cat(rope_steps, 1), full_rope, atol=1e-4, rtol=0)
    assert len(self_c) == 9 and len(cross_c) == 5


@pytest.mark.parametrize("norm_first", [True, False])
def test_encoder_block_equals_pytorch(norm_first):
    torch.manual_seed(0)
    ref = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, activation="gelu", batch_first=True,
                                     norm_first=norm_first).eval()
    ours = EncoderBlock(16, 4, mlp_dim=32, norm_first=norm_first).eval()
    ours.attn.load_from_torch(ref.self_attn)
    _copy_ffn(ours, ref, ["norm1", "norm2"])
    x = torch.randn(2, 7, 16)
    pad = torch.zeros(2, 7, dtype=torch.bool)
    pad[0, 5:] = True
    torch.testing.assert_close(ours(x, key_padding_mask=pad)[~pad],
                               ref(x, src_key_padding_mask=pad)[~pad], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("norm_first", [True, False])
def test_decoder_block_equals_pytorch(norm_first):
    torch.manual_seed(0)
    ref = nn.TransformerDecoderLayer(16, 4, 32, dropout=0.0, activation="gelu", batch_first=True,
                                     norm_first=norm_first).eval()
    ours = DecoderBlock(16, 4, mlp_dim=32, norm_first=norm_first).eval()
    ours.self_attn.load_from_torch(ref.self_attn)
    ours.cross_attn.load_from_torch(ref.multihead_attn)
    _copy_ffn(ours, ref, ["norm1", "norm2", "norm3"])
    x, mem = torch.randn(2, 6, 16), torch.randn(2, 8, 16)
    expect = ref(x, mem, tgt_mask=~causal_mask(6, 6), tgt_is_causal=True)
    torch.testing.assert_close(ours(x, mem), expect, atol=1e-5, rtol=1e-5)


def _copy_ffn(ours, ref, norms):
    with torch.no_grad():
        ours.mlp.fc1.load_state_dict(ref.linear1.state_dict())
        ours.mlp.fc2.load_state_dict(ref.linear2.state_dict())
        for n in norms:
            getattr(ours, n).load_state_dict(getattr(ref, n).state_dict())


def test_sinusoidal_is_seed_formula_and_relative():
    d = 16
    table = sinusoidal_table(50, d)
    t, k = 7, 3
    w = 1 / 10000 ** (2 * k / d)
    assert table[t, 2 * k].item() == pytest.approx(math.sin(w * t), abs=1e-6)
    assert table[t, 2 * k + 1].item() == pytest.approx(math.cos(w * t), abs=1e-6)
    assert table.abs().max() <= 1  # bounded
    assert torch.cdist(table, table).fill_diagonal_(1).min() > 0.1  # unique per position
    # p(t + s) is a fixed rotation of p(t): the same offset gives the same dot product
    assert torch.allclose(table[3] @ table[8], table[20] @ table[25], atol=1e-5)
    pe = SinusoidalPositionalEncoding(d, max_len=50)
    torch.testing.assert_close(pe(torch.zeros(1, 4, d), offset=2)[0], table[2:6])
    assert sinusoidal_table(5, 7).shape == (5, 7)  # odd widths work
    assert not list(pe.parameters()) and not pe.state_dict()


def test_learned_positions_count_and_limit():
    pe = LearnedPositionalEmbedding(10, 8)
    assert sum(p.numel() for p in pe.parameters()) == 80
    with pytest.raises(ValueError, match="exceed the 10 learned positions"):
        pe(torch.zeros(1, 11, 8))


def test_rotary_depends_on_offset_only():
    rope = RotaryEmbedding(8)
    q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)

    def score(m, n):
        return (rope(q, offset=m) * rope(k, offset=n)).sum().item()
    assert score(3, 1) == pytest.approx(score(12, 10), abs=1e-4)
    assert score(3, 1) != pytest.approx(score(3, 2), abs=1e-4)
    x = torch.randn(2, 3, 5, 8)
    torch.testing.assert_close(rope(x).norm(dim=-1), x.norm(dim=-1))  # a rotation


def test_t5_buckets():
    rel = torch.arange(-200, 201)
    b = t5_bucket(rel)
    assert b.min() == 0 and b.max() == 31
    assert t5_bucket(torch.tensor([0, -1, -7, 1, 7])).tolist() == [0, 1, 7, 17, 23]  # exact
    assert t5_bucket(torch.tensor([-128, -1000])).tolist() == [15, 15]  # beyond max_distance
    causal = t5_bucket(rel, bidirectional=False)
    assert causal[rel >= 0].eq(0).all() and causal.max() == 31
    bias = RelativePositionBias(4)(3, 5)
    assert bias.shape == (1, 4, 3, 5)


def test_patch_embed_shapes_and_error():
    pe = PatchEmbed(in_chans=3, dim=8, patch_size=4)
    assert pe(torch.randn(2, 3, 8, 12)).shape == (2, 6, 8)
    with pytest.raises(PatchSizeError, match=r"30x30 is not divisible by the patch size 4.*28 or 32"):
        pe(torch.randn(1, 3, 30, 30))
    with pytest.raises(PatchSizeError, match="nearest: 16 or 32"):
        PatchEmbed(in_chans=1, dim=8, patch_size=16, img_size=28)
    # the conv is the paper's flatten-then-matrix on every patch
    x = torch.randn(1, 3, 8, 8)
    patch = x[0, :, 4:8, 0:4].reshape(-1)
    torch.testing.assert_close(pe(x)[0, 2], pe.proj.weight.reshape(8, -1) @ patch + pe.proj.bias)
