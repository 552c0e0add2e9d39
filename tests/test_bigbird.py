"""BigBird: block-sparse attention against dense attention under the same pattern, and the model."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import archzoo
from archzoo.blocks.sparse_attention import BigBirdAttention, block_pattern, dense_mask


def _dense_reference(attn: BigBirdAttention, x: torch.Tensor, pad: torch.Tensor | None = None) -> torch.Tensor:
    """The same projections through F.scaled_dot_product_attention with the (nh T T) mask."""
    b, t, d = x.shape
    q, k, v = (z.view(b, t, attn.num_heads, -1).transpose(1, 2) for z in attn.qkv(x).chunk(3, -1))
    mask = attn.dense_mask(t)[None]  # (1 nh T T)
    if pad is not None:
        mask = mask & ~pad[:, None, None, :]
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return attn.proj(out.transpose(1, 2).reshape(b, t, d))


def test_pattern_has_window_globals_and_distinct_random_blocks():
    n, r = 12, 3
    index, valid = block_pattern(n, 4, num_random_blocks=r, seed=5)
    assert index.shape == valid.shape == (4, n - 2, 5 + r)
    for h in range(4):
        for row in range(n - 2):
            i = row + 1
            kept = index[h, row][valid[h, row]].tolist()
            assert len(kept) == len(set(kept))  # nothing scored twice
            assert {0, n - 1, i - 1, i, i + 1} <= set(kept)
            randoms = set(kept) - {0, n - 1, i - 1, i, i + 1}
            assert len(randoms) == r
    # fixed by the seed, different for another seed or head
    again, _ = block_pattern(n, 4, num_random_blocks=r, seed=5)
    other, _ = block_pattern(n, 4, num_random_blocks=r, seed=6)
    assert torch.equal(index, again) and not torch.equal(index, other)
    assert not torch.equal(index[0], index[1])
    mask = dense_mask(n * 4, 4, block_size=4, num_random_blocks=r, seed=5)
    per_row = mask.sum(-1)  # (nh T): global rows see everything, the others (5 + r) blocks,
    assert (per_row[:, :4] == n * 4).all() and (per_row[:, 8:-8] == (5 + r) * 4).all()
    # but blocks 1 and n-2 one fewer: a window block is also global
    assert (per_row[:, 4:8] == (4 + r) * 4).all() and (per_row[:, -8:-4] == (4 + r) * 4).all()


@pytest.mark.parametrize("t, pad_from", [(64, None), (50, None), (64, 41), (12, None), (6, None)])
def test_sparse_equals_dense_attention_under_the_same_mask(t, pad_from):
    torch.manual_seed(0)
    attn = BigBirdAttention(32, 4, block_size=4, num_random_blocks=2, seed=3)
    x = torch.randn(2, t, 32)
    pad = None
    if pad_from is not None:
        pad = torch.zeros(2, t, dtype=torch.bool)
        pad[1, pad_from:] = True
    out = attn(x, key_padding_mask=pad)
    ref = _dense_reference(attn, x, pad)
    keep = torch.ones(2, t, dtype=torch.bool) if pad is None else ~pad
    assert out.shape == (2, t, 32)
    assert (out - ref)[keep].abs().max() < 1e-5
    # gradients flow to the input and every parameter, and agree with the dense path's
    out[keep].square().sum().backward()
    grads = [p.grad.clone() for p in attn.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)
    attn.zero_grad()
    _dense_reference(attn, x, pad)[keep].square().sum().backward()
    for g, p in zip(grads, attn.parameters()):
        assert torch.allclose(g, p.grad, atol=1e-4)


def test_key_padding_and_internal_padding_together():
    """A padded batch whose length is not a multiple of the block: both paddings are masked keys."""
    attn = BigBirdAttention(16, 2, block_size=4, num_random_blocks=1).eval()
    x = torch.randn(2, 30, 16)  # 8 blocks, the last one half internal padding
    pad = torch.arange(30)[None] >= torch.tensor([[30], [21]])
    out = attn(x, key_padding_mask=pad)
    assert (out - _dense_reference(attn, x, pad))[~pad].abs().max() < 1e-5
    assert torch.isfinite(out).all()  # padded queries get finite (unused) outputs, no NaN


def test_bad_inputs_raise_one_clear_error():
    attn = BigBirdAttention(16, 2, block_size=4)
    with pytest.raises(ValueError, match=r"key_padding_mask must have shape \(B, T\) = \(1, 8\)"):
        attn(torch.randn(1, 8, 16), key_padding_mask=torch.zeros(1, 9, dtype=torch.bool))
    with pytest.raises(ValueError, match="got is_causal"):
        attn(torch.randn(1, 8, 16), is_causal=True)
    with pytest.raises(ValueError, match="block_size >= 1"):
        BigBirdAttention(16, 2, block_size=0)


def _tiny(**kw):
    torch.manual_seed(0)
    opts = dict(vocab_size=20, seq_len=32, num_layers=2, num_heads=2, dim=16, mlp_dim=32, block_size=4,
                num_random_blocks=1)
    opts.update(kw)
    return archzoo.create_model("bigbird_mini_char", **opts)


def test_bigbird_base_counts_and_mlm_forward():
    from archzoo.models.bigbird import VARIANTS, bigbird_params

    cfg = VARIANTS["bigbird_base"]
    # Hugging Face BigBirdModel's layout (backbone + pooler) plus the MLM head, computed by hand
    backbone = (50358 + 4096 + 2 + 2) * 768 + 12 * (12 * 768 ** 2 + 13 * 768) + 768 ** 2 + 768
    assert backbone == 127_468_800
    assert bigbird_params(cfg) == backbone + 50358 + 768 ** 2 + 3 * 768
    model = _tiny(dropout=0.1).train()
    x = torch.randint(0, 20, (2, 30))  # not a multiple of the block: padded inside
    logits = model(x)
    assert logits.shape == (2, 30, 20) and not hasattr(model, "nsp")
    logits.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None and not n.startswith("pooler")]
    assert not missing
    with pytest.raises(ValueError, match="no next-sentence head"):
        model.pretraining_logits(x)
    with pytest.raises(ValueError, match="multiple of block_size 4; got 30"):
        _tiny(seq_len=30)


def test_bigbird_with_three_blocks_is_bert():
    """Three blocks: the window and the globals cover everything, so BigBird equals dense BERT."""
    model = _tiny().eval()
    with torch.no_grad():  # sharper attention than at init, so that the pattern matters
        for block in model.blocks:
            block.attn.qkv.weight.mul_(30)
    bert = archzoo.create_model("bert_mini_char", vocab_size=20, seq_len=32, num_layers=2, num_heads=2,
                                dim=16, mlp_dim=32).eval()
    missing, unexpected = bert.load_state_dict(model.state_dict(), strict=False)
    assert missing == ["nsp.weight", "nsp.bias"] and not unexpected
    x = torch.randint(0, 20, (2, 12))
    pad = torch.arange(12)[None].expand(2, -1) >= torch.tensor([[12], [9]])
    with torch.no_grad():
        ours, ref = model(x, padding_mask=pad), bert(x, padding_mask=pad)
    assert (ours - ref)[~pad].abs().max() < 1e-4
    longer = torch.randint(0, 20, (1, 32))  # eight blocks: sparse, so different from dense
    with torch.no_grad():
        assert (model(longer) - bert(longer)).abs().max() > 1e-2


def test_generation_without_the_kv_cache_gives_the_same_tokens():
    """benchmarks/kv_cache.py's baseline: use_cache=False re-encodes the prefix at every step."""
    from archzoo.generate import generate

    torch.manual_seed(0)
    gpt = archzoo.create_model("gpt_char_cpu", vocab_size=11, seq_len=32, num_layers=1, dim=16, num_heads=2)
    with torch.no_grad():
        gpt.wte.weight.mul_(50)  # decisive logits: greedy choices far from ties
    prompts = [[1, 2, 3, 4], [5]]  # different lengths: the new tokens go right after each row's own
    cached = generate(gpt, prompts, max_new_tokens=12, temperature=0)
    assert generate(gpt, prompts, max_new_tokens=12, temperature=0, use_cache=False) == cached
    with pytest.raises(ValueError, match="expected num_beams 1, got 3"):
        generate(gpt, prompts, max_new_tokens=4, num_beams=3, use_cache=False)


def test_kept_weights_are_the_dense_masked_softmax():
    """keep_weights (for archzoo's attention plots) spreads the block weights out to (B nh T T)."""
    torch.manual_seed(0)
    attn = BigBirdAttention(16, 2, block_size=4, num_random_blocks=1, seed=1).eval()
    x = torch.randn(1, 26, 16)
    attn.keep_weights = True
    attn(x)
    q, k, _ = (z.view(1, 26, 2, -1).transpose(1, 2) for z in attn.qkv(x).chunk(3, -1))
    scores = (q @ k.transpose(-2, -1) / 8 ** 0.5).masked_fill(~attn.dense_mask(26), float("-inf"))
    assert attn.attn_weights.shape == (1, 2, 26, 26)
    assert torch.allclose(attn.attn_weights, scores.softmax(-1), atol=1e-6)
