"""BERT and T5: counts, heads, padding, cached decoding with relative position bias, span corruption."""
from __future__ import annotations

import pytest
import torch

import archzoo
from archzoo.models.bert import VARIANTS as BERT_VARIANTS
from archzoo.models.bert import bert_params, mask_tokens
from archzoo.models.t5 import VARIANTS as T5_VARIANTS
from archzoo.models.t5 import span_corruption, t5_params


def _tiny_bert(**kw):
    torch.manual_seed(0)
    opts = dict(vocab_size=20, seq_len=16, num_layers=2, num_heads=2, dim=16, mlp_dim=32)
    opts.update(kw)
    return archzoo.create_model("bert_mini_char", **opts)


def test_bert_closed_form_and_pretraining_heads():
    assert bert_params(BERT_VARIANTS["bert_base"]) == 109_482_240
    with torch.device("meta"):
        full = archzoo.create_model("bert_base", pretraining_heads=True)
    assert sum(p.numel() for p in full.parameters()) == 110_106_428  # BertForPreTraining
    model = _tiny_bert(dropout=0.1).train()
    x = torch.randint(0, 20, (2, 10))
    mlm, nsp = model.pretraining_logits(x, token_type_ids=(torch.arange(10) >= 5).long().expand(2, -1))
    assert mlm.shape == (2, 10, 20) and nsp.shape == (2, 2) and model.mlm_out.weight is model.word_embed.weight
    (mlm.square().mean() + nsp.square().mean()).backward()
    assert all(p.grad is not None for p in model.parameters())
    with pytest.raises(ValueError, match="no pre-training heads"):
        _tiny_bert(pretraining_heads=False).pretraining_logits(x)


def test_bert_padding_does_not_change_the_real_tokens():
    model = _tiny_bert().eval()
    x = torch.randint(0, 20, (1, 6))
    padded = torch.cat([x, torch.zeros(1, 4, dtype=torch.long)], 1)
    pad = torch.arange(10)[None] >= 6
    with torch.no_grad():
        alone, padded_out = model(x), model(padded, padding_mask=pad)
    assert (padded_out[:, :6] - alone).abs().max() < 1e-5


def test_mask_tokens_follows_80_10_10():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 1000, (200, 100), generator=g)
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = True
    inputs, labels = mask_tokens(ids, mask_id=4, vocab_size=1000, special=special, generator=g)
    chosen = labels != -100
    assert not chosen[:, 0].any() and (labels[chosen] == ids[chosen]).all()
    assert chosen.float().mean() == pytest.approx(0.15 * 0.99, abs=0.01)
    masked = (inputs == 4) & chosen
    same = (inputs == ids) & chosen
    assert masked.sum() / chosen.sum() == pytest.approx(0.8, abs=0.02)
    assert same.sum() / chosen.sum() == pytest.approx(0.1 + 0.1 / 1000, abs=0.02)
    assert (inputs[~chosen] == ids[~chosen]).all()


def _tiny_t5(**kw):
    torch.manual_seed(0)
    opts = dict(src_vocab=13, tgt_vocab=13, share_embeddings=True, dim=32, num_heads=4, mlp_dim=64,
                dropout=0.0, num_buckets=8, max_distance=16)
    opts.update(kw)
    return archzoo.create_model("t5_tiny", **opts).eval()


def test_t5_closed_form_and_shared_embedding():
    assert t5_params(T5_VARIANTS["t5_small"]) == 60_506_624
    with torch.device("meta"):
        model = archzoo.create_model("t5_small")
    assert model.src_embed is model.tgt_embed and model.out.weight is model.tgt_embed.weight
    model = _tiny_t5(dropout=0.1).train()
    out = model(torch.randint(3, 13, (2, 7)), torch.tensor([7, 3]), torch.randint(3, 13, (2, 5)))
    assert out.shape == (2, 5, 13)
    out.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_t5_cached_decoding_with_relative_bias_equals_recomputation():
    model = _tiny_t5()
    src, lens = torch.randint(3, 13, (2, 9)), torch.tensor([9, 5])
    with torch.no_grad():
        logits, state = model.start(src, lens)
        steps, tgt = [logits], [torch.ones(2, dtype=torch.long)]
        for _ in range(10):  # past the 4 exact buckets: log-spaced ones too
            tgt.append(steps[-1].argmax(-1))
            logits, state = model.step(tgt[-1], state)
            steps.append(logits)
        full = model(src, lens, torch.stack(tgt, 1))
    assert (torch.stack(steps, 1) - full).abs().max() < 1e-4
    prompts = [[3, 4, 5, 6], [7], [8, 9]]
    for opts in ({}, {"num_beams": 3}):
        out = model.generate(prompts, max_new_tokens=5, **opts)
        assert out == [model.generate([p], max_new_tokens=5, **opts)[0] for p in prompts]


def test_span_corruption_round_trip():
    g = torch.Generator().manual_seed(0)
    ids = list(range(100, 200))
    inputs, targets = span_corruption(ids, sentinel_start=99, generator=g)
    sentinels = [t for t in targets if t <= 99]
    assert sentinels == list(range(99, 99 - len(sentinels), -1)) and len(sentinels) == 6  # 5 spans + end
    assert len(targets) - len(sentinels) == 15  # 15% of 100 tokens
    spans, cur = {}, None
    for t in targets:
        if t <= 99:
            cur = t
            spans[cur] = []
        else:
            spans[cur].append(t)
    rebuilt = [x for t in inputs for x in (spans[t] if t <= 99 else [t])]
    assert rebuilt == ids
    with pytest.raises(ValueError, match="at least 2 tokens"):
        span_corruption([5])
