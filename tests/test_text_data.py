"""Char tokenizer, corpora and generated translation tasks (small sets only)."""
from __future__ import annotations

import datetime

import pytest
import torch

from archzoo.data.readers import DataError
from archzoo.data.text import (SEEN_FORMATS, UNSEEN_FORMATS, LMBatches, PairBatches, english_number,
                               load_corpus, load_translation)
from archzoo.data.tokenize import BOS, EOS, PAD, UNK, CharVocab


def test_vocab_round_trip_and_unknown_handling():
    v = CharVocab.from_texts(["hello world"])
    assert v.decode(v.encode("hello", bos=True, eos=True)) == "hello"
    with pytest.raises(DataError, match="outside the vocabulary: 'Z'"):
        v.encode("Zoo")
    lenient = CharVocab.from_json(CharVocab.from_texts(["abc"], unknown="replace").to_json())
    assert lenient.encode("abz") == [lenient.stoi["a"], lenient.stoi["b"], UNK]
    assert (PAD, BOS, EOS, UNK) == (0, 1, 2, 3) and len(v) == 4 + len(set("hello world"))


def test_text_file_corpus_and_lm_batches(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text("abcdefghij" * 10)
    corpus = load_corpus(str(path))
    assert len(corpus.train) == 90 and len(corpus.val) == 10
    ids = CharVocab.from_texts([corpus.train]).encode_tensor(corpus.train)
    loader = LMBatches(ids, seq_len=8, batch_size=4, seed=1)
    x, y = next(iter(loader))
    assert x.shape == (4, 8) and torch.equal(x[:, 1:], y[:, :-1])
    loader.set_epoch(0)
    assert [b[0].tolist() for b in loader.iter_from(1)] == [b[0].tolist() for b in list(loader)[1:]]
    with pytest.raises(DataError, match="too few for sequences of 200"):
        LMBatches(ids, seq_len=200, batch_size=4)
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    with pytest.raises(DataError, match="empty"):
        load_corpus(str(empty))
    with pytest.raises(DataError, match="unknown corpus"):
        load_corpus("no-such-corpus")


def test_pystdlib_is_found_and_split_deterministically():
    a = load_corpus("pystdlib", max_chars=20000)
    assert len(a.train) == 20000 and a.val and a.train == load_corpus("pystdlib", max_chars=20000).train


def test_fortunes_missing_names_the_package(monkeypatch, tmp_path):
    import archzoo.data.text as text

    monkeypatch.setattr(text, "FORTUNE_DIRS", (tmp_path / "none",))
    with pytest.raises(DataError, match="apt-get install fortunes"):
        load_corpus("fortunes")
    d = tmp_path / "f"
    d.mkdir()
    (d / "wisdom").write_text("one\n%\ntwo lines\nhere\n%\nthree\n")
    monkeypatch.setattr(text, "FORTUNE_DIRS", (d,))
    c = load_corpus("fortunes")
    assert sorted((c.train + c.val).split("\n")) == ["", "here", "one", "three", "two lines"]


def test_english_numbers():
    assert english_number(0) == "zero" and english_number(40) == "forty"
    assert english_number(342105) == "three hundred forty-two thousand one hundred five"
    assert english_number(1_000_001) == "one million one"


@pytest.mark.parametrize("name", ["dates", "number-words", "number-thai"])
def test_translation_tasks_are_deterministic_and_disjoint(name):
    if name == "number-thai":
        pytest.importorskip("num2words")
    d = load_translation(name, n_train=300, n_val=30, n_test=30)
    again = load_translation(name, n_train=300, n_val=30, n_test=30)
    assert d.train == again.train and d.test == again.test
    sources = [s for s, _ in d.train + d.val + d.test]
    assert len(set(sources)) == len(sources) == 360
    batches = PairBatches(d.train, d.src_vocab, d.tgt_vocab, batch_size=16, seed=0)
    src, src_len, tgt_in, tgt_out = next(iter(batches))
    assert src.shape[0] == 16 and int(src_len.max()) == src.shape[1]
    shifted = (tgt_out[:, :-1] != PAD) & (tgt_out[:, :-1] != EOS)
    assert (tgt_in[:, 0] == BOS).all() and torch.equal(tgt_in[:, 1:][shifted], tgt_out[:, :-1][shifted])
    assert ((tgt_out == EOS).sum(1) == 1).all()
    s, t = d.train[0]
    assert d.tgt_vocab.decode(d.tgt_vocab.encode(t)) == t


def test_dates_targets_are_iso_and_unseen_formats_are_new():
    d = load_translation("dates", n_train=200, n_val=20, n_test=50)
    for src, tgt in d.train[:50] + d.extra["test_unseen"]:
        datetime.date.fromisoformat(tgt)
    assert len(d.extra["test_unseen"]) == 50 and not set(SEEN_FORMATS) & set(UNSEEN_FORMATS)
    lowercase_month = [s for s, _ in d.extra["test_unseen"] if "-" in s and s.split("-")[1].isalpha()]
    assert lowercase_month  # "{d}-{Mon}-{Y}" never occurs in training


def test_unknown_task():
    with pytest.raises(DataError, match="unknown translation task"):
        load_translation("klingon")
