"""The recurrent families against their cards, and each mapping's contract (generation, training step)."""
from __future__ import annotations


import pytest
import torch
from safetensors.torch import load, save

import archzoo
from archzoo.blocks.seq_attention import ATTENTIONS, SeqAttention
from archzoo.train.tasks_seq import LanguageModelTask, Seq2SeqTask, run_task

SEQ_MODELS = [n for n in archzoo.list_models() if archzoo.model_card(n).family in ("rnn", "seq2seq")
              and archzoo.model_card(n).task != "classification"]


def _small(model):
    """Inputs of a few steps: the card's example shrunk, for speed."""
    inputs = model.example_inputs(2)
    return tuple(x[..., :6] if x.ndim == 2 else x.clamp(max=6) for x in inputs)


@pytest.mark.parametrize("name", SEQ_MODELS)
def test_sequence_model_card_backward_and_round_trip(name):
    card = archzoo.model_card(name)
    torch.manual_seed(0)
    model = archzoo.create_model(name)
    assert sum(p.numel() for p in model.parameters()) == card.params
    x = _small(model)
    out = model(*x)
    assert out.shape == (2, x[-1].shape[1], card.num_classes) and torch.isfinite(out).all()
    (out.square().mean() + getattr(model, "aux_loss", 0.0)).backward()
    # a sparse mixture may route none of 12 tokens to an expert: experts are exempt
    missing = [n for n, p in model.named_parameters() if p.grad is None and ".experts." not in n]
    assert not missing, f"no gradient reaches {missing[:5]}"
    model.eval()
    blob = save({k: v.contiguous() for k, v in model.state_dict().items()})
    with torch.device("meta"):
        clone = archzoo.create_model(name)
    clone.load_state_dict(load(blob), assign=True)
    clone.eval()
    with torch.no_grad():
        assert torch.equal(clone(*x), model(*x))


@pytest.mark.parametrize("impl", ["fused", "cells"])
def test_char_lm_generates_from_batched_prompts(impl):
    model = archzoo.create_model("gru_lm", vocab_size=12, hidden_size=16, embed_dim=8, impl=impl)
    prompts = [[4, 5, 6], [7]]
    out = model.generate(prompts, max_new_tokens=5, temperature=0)
    assert out == [model.generate([p], max_new_tokens=5, temperature=0)[0] for p in prompts]
    assert all(len(o) == 5 for o in out)
    # the step function continues exactly where a full forward pass would be
    seq = torch.tensor([prompts[0] + out[0]])
    full = model(seq)[0].argmax(-1)
    assert full[2:-1].tolist() == out[0][:]  # each next token is the argmax after its prefix


def test_fused_and_cells_lms_agree_with_the_same_weights():
    a = archzoo.create_model("lstm_lm", vocab_size=10, hidden_size=8, embed_dim=4, num_layers=2)
    b = archzoo.create_model("lstm_lm", vocab_size=10, hidden_size=8, embed_dim=4, num_layers=2, impl="cells")
    b.load_state_dict(a.state_dict())
    x = torch.randint(0, 10, (3, 7))
    assert torch.allclose(a(x), b(x), atol=1e-5)


def test_lm_task_reports_bits_per_character():
    model = archzoo.create_model("moe_lstm_lm", vocab_size=9, hidden_size=8, embed_dim=4, moe_experts=2, moe_k=1)
    x = torch.randint(0, 9, (4, 10))
    task = LanguageModelTask()
    out = task.step(model, (x[:, :-1], x[:, 1:]))
    assert out.count == 36 and out.loss > out.sums["nll"] / 36 - 1e-6  # the MoE's balancing loss is added
    metrics = run_task(task, model, [(x[:, :-1], x[:, 1:])])
    assert abs(metrics["bpc"] * 0.6931471805599453 - metrics["loss"]) < 1e-5  # eval: no aux loss
    assert metrics["ppl"] > 1


@pytest.mark.parametrize("attention", ["none", "additive", "multiplicative", "scaled", "key_value", "location"])
def test_seq2seq_attention_variants_learn_to_copy(attention):
    """A few steps on a copy task lower the loss; decoding works greedy and with beams."""
    torch.manual_seed(0)
    model = archzoo.create_model("seq2seq", attention=attention, src_vocab=8, tgt_vocab=8, hidden_size=16,
                                 embed_dim=8)
    src = torch.randint(4, 8, (16, 5))
    src_len = torch.full((16,), 5)
    batch = (src, src_len, torch.cat([torch.ones(16, 1, dtype=torch.long), src], 1),
             torch.cat([src, torch.full((16, 1), 2)], 1))
    task, opt = Seq2SeqTask(), torch.optim.Adam(model.parameters(), lr=1e-2)
    first = task.step(model, batch).loss.item()
    for _ in range(15):
        opt.zero_grad()
        task.step(model, batch).loss.backward()
        opt.step()
    assert task.step(model, batch).loss.item() < first
    if attention != "none":
        assert model.last_attention.shape == (16, 6, 5)
        assert torch.allclose(model.last_attention.sum(-1), torch.ones(16, 6), atol=1e-5)
    greedy = model.generate([[4, 5, 6], [7, 7]], max_new_tokens=6)
    beams = model.generate([[4, 5, 6], [7, 7]], max_new_tokens=6, num_beams=3)
    assert len(greedy) == len(beams) == 2 and all(len(g) <= 6 for g in greedy + beams)


def test_attention_masks_padding_and_rejects_bad_options():
    for kind in ATTENTIONS:
        attn = SeqAttention(kind, query_size=8, key_size=8, max_len=6)
        ctx, w = attn(torch.randn(2, 8), torch.randn(2, 5, 8), torch.tensor([[1, 1, 1, 0, 0], [1] * 5]).bool())
        assert w[0, 3:].abs().sum() == 0 and torch.allclose(w.sum(-1), torch.ones(2))
        assert ctx.shape == (2, 4 if kind == "key_value" else 8)
    with pytest.raises(ValueError, match="unknown attention"):
        SeqAttention("telepathic", query_size=4, key_size=4)
    with pytest.raises(ValueError, match="at most 6 source steps"):
        SeqAttention("location", query_size=8, key_size=8, max_len=6)(torch.randn(1, 8), torch.randn(1, 7, 8))


def test_rnn_classifier_reads_image_rows_and_sequences():
    model = archzoo.create_model("rnn_classifier_bigru", num_classes=4)
    img = torch.randn(3, 1, 28, 28)
    assert torch.allclose(model(img), model(img[:, 0]), atol=1e-6)  # (B, 1, 28, 28) == (B, 28, 28)
    with pytest.raises(ValueError, match=r"expects sequences \(B, T, 28\)"):
        model(torch.randn(3, 1, 28, 30))
