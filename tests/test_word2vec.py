"""word2vec: vocabulary, subsampling, windows, noise words, the loss, training and the query commands."""
from __future__ import annotations

import math
from collections import Counter

import pytest
import torch

import archzoo
from archzoo.cli import main
from archzoo.embed import Embeddings
from archzoo.models.word2vec import Word2VecConfig
from archzoo.train._setup_embed import EmbeddingBatches, EmbeddingTask, build_vocab, words_of


def test_words_and_vocabulary_with_min_count():
    words = words_of("The cat, the CAT and the dog's bone; o'er 42 cats_x")
    assert words == ["the", "cat", "the", "cat", "and", "the", "dog's", "bone", "o'er", "cats", "x"]
    vocab, counts = build_vocab(words, min_count=2)
    assert vocab == ["the", "cat"] and counts == [3, 2]


def _batches(ids, counts, **cfg):
    batch = cfg.pop("batch_size", 4096)
    return EmbeddingBatches(torch.tensor(ids), torch.tensor(counts), cfg=Word2VecConfig(**cfg), batch_size=batch,
                            seed=0)


def test_subsampling_keeps_words_with_the_papers_probability():
    counts = [9000, 900, 100]  # shares 0.9, 0.09, 0.01
    ids = [0] * 9000 + [1] * 900 + [2] * 100
    b = _batches(ids, counts, subsample=1e-3)
    expected = [min(1.0, math.sqrt(1e-3 / f)) for f in (0.9, 0.09, 0.01)]
    assert b.keep.tolist() == pytest.approx(expected)
    gen = torch.Generator().manual_seed(1)
    kept = Counter(torch.tensor(ids)[torch.rand(len(ids), generator=gen, dtype=torch.float64) < b.keep[ids]].tolist())
    assert kept[0] / 9000 == pytest.approx(expected[0], abs=0.01)
    assert kept[1] / 900 == pytest.approx(expected[1], abs=0.04)


def test_skipgram_pairs_lie_within_the_window_and_cbow_reads_around_the_word():
    ids = list(range(20))  # distinct words: the positions can be read back from the ids
    sg = _batches(ids, [1] * 20, window=3, subsample=0)
    words, targets = sg._examples(0)
    gaps = (targets - words[:, 0]).abs()
    assert words.shape[1] == 1 and gaps.min() >= 1 and gaps.max() <= 3
    assert set(gaps.tolist()) == {1, 2, 3}  # windows of every size are drawn
    cbow = _batches(ids, [1] * 20, window=3, subsample=0, mode="cbow")
    around, centre = cbow._examples(0)
    assert around.shape == (20, 6)
    for row, c in zip(around.tolist(), centre.tolist()):
        real = [w for w in row if w >= 0]
        assert real and c not in real and all(abs(w - c) <= 3 for w in real)
        reach = max(abs(w - c) for w in real)  # a drawn window takes every word inside it
        assert set(real) == {w for w in range(c - reach, c + reach + 1) if 0 <= w < 20 and w != c}


def test_noise_words_follow_the_unigram_to_the_three_quarters():
    counts = [800, 100, 100]
    b = _batches([0] * 800 + [1] * 100 + [2] * 100, counts, subsample=0, negatives=20, batch_size=512)
    noise = torch.cat([t[:, 1:].flatten() for _, t in b])
    share = torch.bincount(noise, minlength=3).double() / len(noise)
    target = torch.tensor(counts, dtype=torch.float64) ** 0.75
    assert torch.allclose(share, target / target.sum(), atol=0.01)


def test_resuming_mid_epoch_gives_the_same_batches():
    b = _batches(list(range(10)) * 30, [30] * 10, window=2, batch_size=64)
    b.set_epoch(3)
    full = list(b)
    later = list(b.iter_from(2))
    assert len(full) == len(b) and all(torch.equal(x[0], y[0]) and torch.equal(x[1], y[1])
                                       for x, y in zip(full[2:], later))
    b.set_epoch(4)
    assert len(list(b)) == len(full)  # every epoch has the same number of steps


def test_model_scores_and_the_negative_sampling_loss():
    m = archzoo.create_model("word2vec_cbow_small", vocab_size=10)
    assert (m.out_embed.weight == 0).all()
    words = torch.tensor([[1, 2, -1, -1, -1, -1]])
    targets = torch.tensor([[3, 4, 5]])
    with torch.no_grad():
        m.out_embed.weight.normal_()
    scores = m(words, targets)
    h = (m.in_embed.weight[1] + m.in_embed.weight[2]) / 2  # padding (-1) is left out of the mean
    assert torch.allclose(scores[0], m.out_embed.weight[[3, 4, 5]] @ h, atol=1e-6)
    out = EmbeddingTask().step(m, (words, targets))
    expected = -(torch.nn.functional.logsigmoid(scores[0, 0]) + torch.nn.functional.logsigmoid(-scores[0, 1:]).sum())
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    with pytest.raises(ValueError, match=r"expects word ids \(B, 6\)"):
        m(torch.zeros(2, 1, dtype=torch.long), targets)


def test_analogy_and_similarity_exclude_the_query_words():
    words = ["king", "queen", "man", "woman", "apple"]
    v = torch.tensor([[1.0, 1, 0], [1, -1, 0], [0, 1, 0.1], [0, -1, 0.1], [0, 0, 1]])
    emb = Embeddings(words, v / v.norm(dim=1, keepdim=True))
    assert emb.analogy("man", "king", "woman", 1)[0][0] == "queen"
    assert all(w != "king" for w, _ in emb.similar("king", 4))
    with pytest.raises(ValueError, match="close: queen"):
        emb.similar("queeen")


def test_cli_trains_and_answers_queries(tmp_path, capsys):
    rng = torch.Generator().manual_seed(0)
    # two topics that never mix: words of one topic should be each other's neighbours
    a, b = "sun moon star sky cloud".split(), "bread cheese milk butter jam".split()
    text = " ".join(" ".join((a if i % 2 else b)[j] for j in torch.randint(5, (12,), generator=rng).tolist())
                    + " ." for i in range(400))
    path = tmp_path / "topics.txt"
    path.write_text(text)
    run = tmp_path / "run"
    assert main(["train", "word2vec_skipgram_small", "--data", str(path), "--out", str(run), "--epochs", "3",
                 "--optimizer", "adam", "--lr", "0.02", "--batch-size", "256", "--threads", "1", "--no-progress",
                 "--model-args", "subsample=0", "dim=16"]) == 0
    capsys.readouterr()
    assert main(["similar", str(run), "moon", "-k", "3"]) == 0
    near = [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()]
    assert len(near) == 3 and set(near) <= set(a)
    assert main(["analogy", str(run), "sun", "moon", "bread", "-k", "2"]) == 0
    answers = [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()]
    assert len(answers) == 2 and not {"sun", "moon", "bread"} & set(answers)
    assert main(["similar", str(run), "mooon"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'mooon' is not in the vocabulary" in err[0] and "moon" in err[0]
