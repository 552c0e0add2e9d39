"""GPT and the 2017 Transformer: cards, KV-cache decoding against recomputation, batched prompts."""
from __future__ import annotations

import pytest
import torch

import archzoo
from archzoo.generate import generate
from archzoo.models.gpt import VARIANTS as GPT_VARIANTS
from archzoo.models.gpt import gpt_params


def _tiny_gpt(**kw):
    torch.manual_seed(0)
    opts = dict(vocab_size=11, seq_len=16, num_layers=2, num_heads=2, dim=16)
    opts.update(kw)
    return archzoo.create_model("gpt_char_cpu", **opts).eval()


def test_gpt_closed_form_matches_published_counts():
    assert gpt_params(GPT_VARIANTS["gpt2_small"]) == 124_439_808
    assert gpt_params(GPT_VARIANTS["gpt_shakespeare_char"]) == 10_745_088
    with torch.device("meta"):
        untied = archzoo.create_model("gpt2_small", tie_weights=False)
    assert sum(p.numel() for p in untied.parameters()) == 124_439_808 + 50257 * 768


def test_gpt_forward_backward_and_tied_head():
    model = _tiny_gpt(dropout=0.1).train()
    x = torch.randint(0, 11, (2, 16))
    out = model(x)
    assert out.shape == (2, 16, 11)
    out.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    assert model.lm_head.weight is model.wte.weight
    # causal: changing a later token leaves earlier logits alone
    model.eval()
    y = x.clone()
    y[:, 9] = (y[:, 9] + 1) % 11
    assert torch.allclose(model(x)[:, :9], model(y)[:, :9], atol=1e-6)


@pytest.mark.parametrize("impl", ["sdpa", "math"])
def test_gpt_kv_cache_equals_recomputation(impl):
    model = _tiny_gpt(attn_impl=impl)
    prompt = torch.tensor([[3, 1, 4, 1, 5]])
    with torch.no_grad():
        logits, state = model.start(prompt, torch.tensor([5]))
        steps, seq = [logits], prompt[0].tolist()
        for _ in range(8):
            tok = steps[-1].argmax(-1)
            seq.append(int(tok))
            logits, state = model.step(tok, state)
            steps.append(logits)
        full = model(torch.tensor([seq]))[0, 4:]  # logits after each prefix, recomputed
    assert (torch.cat(steps) - full).abs().max() < 1e-4
    assert model.generate([prompt[0].tolist()], max_new_tokens=8, temperature=0)[0] == seq[5:]


def test_gpt_batched_left_padded_prompts_equal_one_by_one():
    model = _tiny_gpt()
    prompts = [[1, 2, 3, 4, 5, 6], [7], [8, 9, 10]]
    with torch.no_grad():
        ids, lens = torch.zeros(3, 6, dtype=torch.long), torch.tensor([6, 1, 3])
        for i, p in enumerate(prompts):
            ids[i, : len(p)] = torch.tensor(p)
        batched, _ = model.start(ids, lens)
        alone = torch.cat([model.start(torch.tensor([p]), torch.tensor([len(p)]))[0] for p in prompts])
    assert (batched - alone).abs().max() < 1e-4
    for opts in ({"temperature": 0}, {"num_beams": 3}):
        # 14 new tokens run past the 16-token context for the first row: the window slides
        out = model.generate(prompts, max_new_tokens=14, **opts)
        assert out == [model.generate([p], max_new_tokens=14, **opts)[0] for p in prompts]
        assert all(len(o) == 14 for o in out)


def test_gpt_long_prompt_is_truncated_with_a_warning():
    model = _tiny_gpt()
    long = list(range(1, 11)) * 2  # 20 tokens, context 16
    with pytest.warns(UserWarning, match="keeping its last 16"):
        out = generate(model, [long], max_new_tokens=3, temperature=0)
    assert out == generate(model, [long[-16:]], max_new_tokens=3, temperature=0)
    with pytest.raises(archzoo.models.InputShapeError, match="exceeds the context of 16"):
        model(torch.zeros(1, 17, dtype=torch.long))
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 11\)"):
        model(torch.tensor([[0, 11]]))


def _tiny_transformer(**kw):
    torch.manual_seed(0)
    opts = dict(src_vocab=13, tgt_vocab=13, dim=32, num_heads=4, mlp_dim=64, dropout=0.0)
    opts.update(kw)
    return archzoo.create_model("transformer_tiny", **opts).eval()


def test_transformer_shares_one_matrix_and_reaches_every_parameter():
    with torch.device("meta"):
        base = archzoo.create_model("transformer_base")
    assert base.src_embed is base.tgt_embed and base.out.weight is base.tgt_embed.weight
    model = _tiny_transformer(dropout=0.1).train()
    src, tgt = torch.randint(3, 13, (2, 7)), torch.randint(3, 13, (2, 5))
    out = model(src, torch.tensor([7, 4]), tgt)
    assert out.shape == (2, 5, 13)
    out.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    with pytest.raises(ValueError, match="share_embeddings needs one vocabulary"):
        archzoo.create_model("transformer_base", tgt_vocab=100)


@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_cached_decoding_equals_recomputation(norm_first):
    model = _tiny_transformer(norm_first=norm_first)
    src, lens = torch.randint(3, 13, (3, 6)), torch.tensor([6, 2, 4])
    src[1, 2:] = 0
    with torch.no_grad():
        logits, state = model.start(src, lens)
        steps, tgt = [logits], [torch.full((3,), 1)]
        for _ in range(6):
            tgt.append(steps[-1].argmax(-1))
            logits, state = model.step(tgt[-1], state)
            steps.append(logits)
        full = model(src, lens, torch.stack(tgt, 1))  # (B T V), teacher-forced on the same tokens
    assert (torch.stack(steps, 1) - full).abs().max() < 1e-4


def test_transformer_batched_greedy_and_beam_equal_one_by_one():
    model = _tiny_transformer()
    prompts = [[3, 4, 5, 6, 7], [8], [9, 10, 11]]
    for opts in ({}, {"num_beams": 3}):
        out = model.generate(prompts, max_new_tokens=6, **opts)
        assert out == [model.generate([p], max_new_tokens=6, **opts)[0] for p in prompts]


def test_transformer_learns_to_reverse_short_sequences():
    """150 steps on a reversal task: greedy and beam decode nearly all of it exactly."""
    torch.manual_seed(0)
    model = _tiny_transformer().train()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(150):
        src = torch.randint(3, 13, (32, 4), generator=g)
        tgt = torch.cat([torch.ones(32, 1, dtype=torch.long), src.flip(1), torch.full((32, 1), 2)], 1)
        logits = model(src, torch.full((32,), 4), tgt[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), tgt[:, 1:].flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
    tests = torch.randint(3, 13, (30, 4), generator=g).tolist()
    for opts in ({}, {"num_beams": 4}):
        out = model.generate(tests, max_new_tokens=8, **opts)
        assert sum(o == s[::-1] for o, s in zip(out, tests)) >= 27  # about 97% at this budget


def test_label_smoothing_uniform_equals_pytorch_and_wrong_classes_equals_its_target():
    import torch.nn.functional as F

    from archzoo.blocks.label_smoothing import LabelSmoothingLoss, label_smoothed_cross_entropy
    torch.manual_seed(0)
    logits, target = torch.randn(12, 7), torch.randint(0, 7, (12,))
    target[3] = -100
    ours = label_smoothed_cross_entropy(logits, target, smoothing=0.1)
    assert torch.allclose(ours, F.cross_entropy(logits, target, label_smoothing=0.1), atol=1e-6)
    q = torch.full((12, 7), 0.1 / 6).scatter(1, target.clamp(min=0)[:, None], 0.9)  # fairseq's target
    explicit = -(q * logits.log_softmax(-1)).sum(-1)
    wrong = label_smoothed_cross_entropy(logits, target, smoothing=0.1, form="wrong_classes", reduction="none")
    keep = target != -100
    assert torch.allclose(wrong[keep], explicit[keep], atol=1e-6) and wrong[3] == 0
    assert not torch.allclose(wrong[keep], label_smoothed_cross_entropy(
        logits, target, smoothing=0.1, reduction="none")[keep])
    plain = F.cross_entropy(logits, target)
    for form in ("uniform", "wrong_classes"):
        assert torch.allclose(LabelSmoothingLoss(smoothing=0.0, form=form)(logits[None], target[None]), plain)
    with pytest.raises(ValueError, match="unknown label smoothing form"):
        LabelSmoothingLoss(form="fairseq")


def test_inverse_sqrt_warmup_schedule():
    from archzoo.train.warmup import inverse_sqrt_factor, inverse_sqrt_lr, transformer_adam
    lrs = [inverse_sqrt_lr(s, d_model=512, warmup_steps=4000) for s in (1, 2000, 4000, 8000, 16000)]
    assert lrs[2] == pytest.approx((512 * 4000) ** -0.5) == pytest.approx(6.9877e-4, rel=1e-4)
    assert lrs[1] == pytest.approx(lrs[2] / 2) and lrs[4] == pytest.approx(lrs[2] / 2)
    assert lrs[0] < lrs[1] < lrs[2] > lrs[3] > lrs[4]
    assert inverse_sqrt_factor(4000, warmup_steps=4000) == 1.0
    opt, sched = transformer_adam([torch.nn.Parameter(torch.zeros(1))], warmup_steps=10)
    seen = []
    for _ in range(3):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx([inverse_sqrt_lr(s, warmup_steps=10) for s in (1, 2, 3)])
