"""Character n-gram language models: counts, proper distributions, Kneser-Ney by hand, training via the CLI."""
from __future__ import annotations

import csv
import itertools
import math
from collections import Counter, defaultdict

import pytest
import torch

import archzoo
from archzoo.cli import main

TEXT = [4, 5, 6, 4, 5, 6, 4, 5, 5, 6, 7, 4, 6, 6, 5]  # ids of a tiny text over V=8 (0..3: specials)


def _all_histories(V: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every right-aligned history of n-1 tokens, and every shorter one (left padded), with `have`."""
    rows, have = [], []
    for h in range(n):
        for tail in itertools.product(range(V), repeat=h):
            rows.append([0] * (n - 1 - h) + list(tail))
            have.append(h)
    return torch.tensor(rows, dtype=torch.long).view(len(rows), n - 1), torch.tensor(have)


@pytest.mark.parametrize("smoothing", ["kneser-ney", "absolute", "add-k"])
@pytest.mark.parametrize("max_table", [1 << 24, 40])  # 40 entries: orders 2 and 3 are hashed
def test_every_context_distribution_sums_to_one(smoothing, max_table):
    m = archzoo.create_model("ngram_lm", vocab_size=8, smoothing=smoothing, max_table=max_table)
    assert any(m.hashed) == (max_table == 40)
    m.read(torch.tensor(TEXT))
    history, have = _all_histories(8, 3)  # seen and unseen contexts, full and shortened
    p = m._probs(history, have)
    assert torch.allclose(p.sum(-1), torch.ones(len(p)), atol=1e-5)
    assert (p > 0).all()


def test_counts_equal_a_hand_count():
    m = archzoo.create_model("ngram_lm", vocab_size=8)
    m.read(torch.tensor(TEXT))
    for k in (1, 2, 3):
        hand = Counter(tuple(TEXT[i:i + k]) for i in range(len(TEXT) - k + 1))
        table = m.table(k).view(*([8] * k))
        assert int(table.sum()) == sum(hand.values())
        for gram, c in hand.items():
            assert int(table[gram]) == c
    # continuation counts: how many distinct tokens precede each k-gram
    for k in (1, 2):
        before = defaultdict(set)
        for i in range(len(TEXT) - k):
            before[tuple(TEXT[i + 1:i + 1 + k])].add(TEXT[i])
        table = m.table(k, continuation=True).view(*([8] * k))
        assert int(table.sum()) == sum(len(s) for s in before.values())
        for gram, s in before.items():
            assert int(table[gram]) == len(s)


def _kn_by_hand(text: list[int], V: int, history: tuple[int, ...], w: int, d: float) -> float:
    """Interpolated Kneser-Ney of a trigram model, written out with dictionaries."""
    tri = Counter(tuple(text[i:i + 3]) for i in range(len(text) - 2))
    cont2 = Counter((b, c) for (_, b, c) in tri)  # distinct a before each (b, c)
    cont1 = Counter(c for (_, c) in Counter(tuple(text[i:i + 2]) for i in range(len(text) - 1)))

    def interp(counts: dict, lower: float) -> float:
        total = sum(counts.values())
        if total == 0:
            return lower
        return (max(counts.get(w, 0) - d, 0) + d * sum(1 for c in counts.values() if c > 0) * lower) / total

    p1 = interp({c: cont1[c] for c in range(V)}, 1 / V)
    p2 = interp({c: cont2[(history[-1], c)] for c in range(V)}, p1)
    return interp({c: tri[(*history, c)] for c in range(V)}, p2)


def test_kneser_ney_matches_a_hand_computation():
    m = archzoo.create_model("ngram_lm", vocab_size=8, discount=0.6)
    m.read(torch.tensor(TEXT))
    for history in [(4, 5), (5, 6), (6, 7), (7, 7), (0, 4)]:  # seen, seen, seen, unseen, unseen
        p = m._probs(torch.tensor([history]), torch.tensor([2]))[0]
        for w in range(8):
            assert p[w].item() == pytest.approx(_kn_by_hand(TEXT, 8, history, w, 0.6), rel=1e-5)


def test_forward_is_log_probs_of_each_position_and_generation_agrees():
    m = archzoo.create_model("ngram_lm", vocab_size=8).eval()
    m.read(torch.tensor(TEXT))
    x = torch.tensor([[4, 5, 6, 4, 7]])
    logp = m(x)  # 1 T V
    assert logp.shape == (1, 5, 8) and torch.allclose(logp.exp().sum(-1), torch.ones(1, 5))
    first, state = m.start(x[:, :1], torch.tensor([1]))  # history of one token: the bigram level
    assert torch.allclose(first, logp[0, :1])
    for t in range(1, 5):  # stepping through the text gives forward's positions
        step, state = m.step(x[:, t], state)
        assert torch.allclose(step[0], logp[0, t], atol=1e-6)
    out = m.generate([[4, 5]], max_new_tokens=6, temperature=0)[0]
    assert len(out) == 6 and all(0 <= t < 8 for t in out)


def test_training_forward_predicts_before_counting_and_stops_at_evaluation():
    m = archzoo.create_model("ngram_lm", vocab_size=8).train()
    x = torch.tensor([TEXT[:8]])
    first = m(x)  # nothing counted yet: uniform
    assert torch.allclose(first.exp(), torch.full_like(first, 1 / 8))
    assert int(m.counts1.sum()) == 8
    first.sum().backward()  # the trainer's step: back-propagates without error
    m.eval()
    m.train()
    m(x)
    assert int(m.counts1.sum()) == 8  # a second pass after evaluation counts nothing


def test_out_of_vocabulary_ids_raise():
    m = archzoo.create_model("ngram_lm", vocab_size=8)
    with pytest.raises(ValueError, match=r"token ids in 0\.\.7; got ids from 0 to 8"):
        m(torch.tensor([[0, 8]]))


@pytest.mark.parametrize("bad", [{"order": 0}, {"order": 9}, {"smoothing": "good-turing"}, {"discount": 1.5},
                                 {"add_k": 0.0}])
def test_bad_options_raise_a_clear_error(bad):
    key = next(iter(bad))
    with pytest.raises(ValueError, match=f"ngram {key}"):
        archzoo.create_model("ngram_lm", **bad)


def test_cli_bad_order_is_one_line_and_exit_2(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("abc " * 200)
    code = main(["train", "ngram_lm", "--data", str(text), "--model-args", "order=0", "seq_len=8", "--out",
                 str(tmp_path / "run"), "--threads", "1", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "order" in err[0] and "got 0" in err[0]


def test_cli_train_on_a_tiny_text_beats_the_uniform_bpc_and_generates(tmp_path, capsys):
    words = "the cat sat on a mat and the dog ran to the cat while a bird sang".split()
    rng = torch.Generator().manual_seed(0)
    text = " ".join(words[i] for i in torch.randint(len(words), (3000,), generator=rng).tolist())
    path = tmp_path / "tiny.txt"
    path.write_text(text)
    run = tmp_path / "run"
    code = main(["train", "ngram_lm", "--data", str(path), "--out", str(run), "--epochs", "2",
                 "--model-args", "seq_len=64", "--threads", "1", "--no-progress"])
    assert code == 0
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    V = len(set(text)) + 4  # the characters and the four special tokens
    test_bpc = float(rows[-1]["test_bpc"])
    assert test_bpc < 0.5 * math.log2(V)
    assert float(rows[0]["val_bpc"]) == float(rows[1]["val_bpc"])  # epoch 2 re-read nothing
    capsys.readouterr()
    assert main(["generate", str(run), "--prompt", "the ", "--max-new-tokens", "40", "--temperature", "0"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("the ") and len(out.rstrip("\n")) == 44


def test_discounts_follow_the_counts():
    m = archzoo.create_model("ngram_lm", vocab_size=8, smoothing="absolute")
    assert m.discount(3).item() == 0.75  # nothing counted yet
    m.read(torch.tensor(TEXT))
    c = m.table(3)
    n1, n2 = int((c == 1).sum()), int((c == 2).sum())
    assert m.discount(3).item() == pytest.approx(min(max(n1 / (n1 + 2 * n2), 0.05), 0.95))
    m.read(torch.tensor(TEXT))  # every count doubles: no n-gram is seen once any more
    assert m.discount(3).item() == pytest.approx(0.05)
