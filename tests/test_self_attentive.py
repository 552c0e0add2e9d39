"""The self-attentive classifier (Lin et al. 2017): attention, masking, penalty, card; the token heat
map; `archzoo train` on shakespeare-plays and `archzoo viz RUN --tokens` end to end, and rnn_tagger
on pystdlib-tokens."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from safetensors.torch import load, save

import archzoo
from archzoo.cli import main
from archzoo.data.text_classify import PLAYS
from archzoo.models import InputShapeError
from archzoo.models.self_attentive import attention_penalty
from archzoo.viz.tokens import plot_token_heatmap, token_attention

TINY = dict(vocab_size=20, num_classes=3, embed_dim=8, hidden_size=6, attention_dim=5, hops=3, mlp_dim=7)
QUICK = ["--no-progress", "--threads", "1", "--optimizer", "adam", "--lr", "0.01", "--batch-size", "8",
         "--epochs", "1", "--max-steps-per-epoch", "2"]


def _tiny(**overrides):
    torch.manual_seed(0)
    return archzoo.create_model("self_attentive_classifier_small", **{**TINY, **overrides})


def test_yelp_card_counts_the_papers_configuration():
    """The card's count, by hand from the paper's Yelp sizes (the registry tests build the model on
    the meta device and check it against the card)."""
    card = archzoo.model_card("self_attentive_classifier")
    v, e, u, d_a, r, mlp, k = 50_000, 100, 300, 350, 30, 3000, 5
    by_hand = v * e + 2 * 4 * (u * (e + u) + 2 * u) + d_a * 2 * u + r * d_a + r * 2 * u * mlp + mlp + mlp * k + k
    assert card.params == by_hand == 60_203_305
    assert card.task == "text-classification" and card.num_classes == k and "50,000" in " ".join(card.notes)
    model = _tiny()
    assert model.attention.w_s1.weight.shape == (5, 12) and model.attention.w_s2.weight.shape == (3, 5)
    assert model.hidden.weight.shape == (7, 3 * 12)
    assert sum(p.numel() for p in model.parameters()) == 20 * 8 + 2 * 4 * (6 * 14 + 12) + 60 + 15 + 36 * 7 + 7 + 21 + 3


def test_forward_backward_penalty_and_round_trip():
    model = _tiny()
    ids, lengths = torch.randint(4, 20, (2, 9)), torch.tensor([9, 4])
    out = model(ids, lengths)
    assert out.shape == (2, 3) and torch.isfinite(out).all()
    assert model.aux_loss.item() > 0  # computed in training
    (out.square().mean() + model.aux_loss).backward()
    assert not [n for n, p in model.named_parameters() if p.grad is None]
    model.eval()
    blob = save({k: v.contiguous() for k, v in model.state_dict().items()})
    clone = _tiny()
    clone.load_state_dict(load(blob))
    assert torch.equal(clone.eval()(ids, lengths), model(ids, lengths))


def test_padding_gets_no_attention_and_changes_nothing():
    model = _tiny().eval()
    ids = torch.randint(4, 20, (1, 6))
    padded = torch.cat([ids, torch.randint(4, 20, (1, 5))], dim=1)  # junk after the real tokens
    logits, a = model.attend(padded, torch.tensor([6]))
    assert torch.allclose(logits, model(ids), atol=1e-6)
    assert a.shape == (1, 3, 11) and a[..., 6:].eq(0).all()
    assert torch.allclose(a.sum(-1), torch.ones(1, 3))


def test_bilstm_matches_a_packed_bidirectional_lstm():
    model = _tiny()
    ref = nn.LSTM(8, 6, batch_first=True, bidirectional=True)
    state = dict(model.forward_rnn.rnn.state_dict())
    state.update({f"{k}_reverse": v for k, v in model.backward_rnn.rnn.state_dict().items()})
    ref.load_state_dict(state)
    x, lengths = torch.randn(3, 7, 8), torch.tensor([7, 3, 5])
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    y, _ = nn.utils.rnn.pad_packed_sequence(ref(packed)[0], batch_first=True, total_length=7)
    real = torch.arange(7)[None] < lengths[:, None]
    assert torch.allclose(model.encode(x, lengths)[real], y[real], atol=1e-6)
    assert torch.allclose(model.encode(x, None), ref(x)[0], atol=1e-6)


def test_penalty_is_frobenius_of_a_at_minus_identity():
    distinct = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])  # two hops, two different tokens
    same = torch.tensor([[[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]])
    spread = torch.full((1, 2, 4), 0.25)
    assert attention_penalty(distinct).tolist() == [0.0]
    assert attention_penalty(same).tolist() == [2.0]
    assert attention_penalty(spread).item() == pytest.approx(2 * (1 - 0.25) ** 2 + 2 * 0.25**2)


@pytest.mark.parametrize("pooling", ["max", "mean"])
def test_pooling_baselines_ignore_padding(pooling):
    model = _tiny(pooling=pooling).eval()
    ids = torch.randint(4, 20, (1, 5))
    padded = torch.cat([ids, torch.randint(4, 20, (1, 3))], dim=1)
    assert model.attention is None and model.hidden.in_features == 12
    assert torch.allclose(model(padded, torch.tensor([5])), model(ids), atol=1e-6)
    with pytest.raises(ValueError, match="pools without attention"):
        token_attention(model, [4, 5, 6])


def test_bad_inputs_raise_one_clear_error():
    model = _tiny()
    with pytest.raises(InputShapeError, match=r"token ids \(B, T\)"):
        model(torch.randn(2, 5))
    with pytest.raises(InputShapeError, match="lengths"):
        model(torch.zeros(2, 5, dtype=torch.long), torch.tensor([6, 2]))
    with pytest.raises(ValueError, match="pooling"):
        _tiny(pooling="sum")


def test_heatmap_writes_a_png_and_checks_its_input(tmp_path):
    path = plot_token_heatmap(list("to be\nor not"), torch.linspace(0, 1, 12), tmp_path / "t.png", width=4)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="one weight per token"):
        plot_token_heatmap(list("abc"), torch.ones(2), tmp_path / "bad.png")
    with pytest.raises(ValueError, match="non-negative"):
        plot_token_heatmap(list("ab"), torch.tensor([1.0, -1.0]), tmp_path / "bad.png")


@pytest.fixture(scope="module")
def plays_dir(tmp_path_factory) -> Path:
    """A prepared-corpus stand-in holding the eight plays, a few speeches each."""
    parts = []
    for label, title in PLAYS.items():
        speeches = "\n\n".join(f"SPEAKER.\nThis is speech {i} spoken in {label},\nand it goes on a while."
                               for i in range(200))
        parts.append(f"{title}\n\nby William Shakespeare\n\nACT I.\n\nScene I. A place.\n\n{speeches}")
    folder = tmp_path_factory.mktemp("shakespeare")
    (folder / "shakespeare.txt").write_text("\n\n".join(parts), encoding="utf-8")
    return folder


def test_train_on_plays_then_draw_the_heat_map(plays_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "self_attentive_classifier_small", "--data", "shakespeare-plays", "--data-dir",
                 str(plays_dir), "--out", str(out), *QUICK, "--model-args", "hidden_size=8", "embed_dim=8",
                 "attention_dim=8", "mlp_dim=16"]) == 0
    doc = json.loads((out / "config.json").read_text())
    assert doc["data"]["classes"] == list(PLAYS) and doc["model"]["config"]["num_classes"] == 8
    assert "test_acc" in (out / "metrics.csv").read_text().splitlines()[0]
    capsys.readouterr()
    assert main(["viz", str(out), "--tokens", "This is speech 3\\nspoken in hamlet"]) == 0
    png = Path(capsys.readouterr().out.strip())
    assert png == out / "viz" / "tokens-0.png" and png.is_file()
    assert main(["viz", str(out), "--tokens", "snow \u2603"]) == 2
    assert "outside the vocabulary" in capsys.readouterr().err


def test_train_rnn_tagger_on_python_tokens(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(200):
        (src / f"m{i}.py").write_text(f"def f{i}(x):\n    return x + {i}  # add\n")
    out = tmp_path / "run"
    assert main(["train", "rnn_tagger", "--data", "pystdlib-tokens", "--data-dir", str(src), "--out", str(out),
                 *QUICK, "--model-args", "hidden_size=8", "embed_dim=8"]) == 0
    doc = json.loads((out / "config.json").read_text())
    assert doc["data"]["classes"][:3] == ["other", "name", "keyword"]
    assert "test_acc" in (out / "metrics.csv").read_text().splitlines()[0]
    assert main(["train", "rnn_tagger", "--data", "shakespeare-plays", "--out", str(tmp_path / "x"), *QUICK]) == 2
    assert "expects pystdlib-tokens" in capsys.readouterr().err
