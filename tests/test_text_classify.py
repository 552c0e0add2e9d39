"""Labelled text: shakespeare-plays parsing and splits, pystdlib-tokens tags, batches, the tasks."""
from __future__ import annotations

import math
import tokenize

import pytest
import torch
import torch.nn as nn

from archzoo.data.readers import DataError
from archzoo.data.text_classify import (IGNORE_INDEX, PLAYS, TAGS, LabelledBatches, load_text_classification,
                                        load_token_tagging, play_speeches, shakespeare_plays, split_works,
                                        tag_source)
from archzoo.data.tokenize import PAD, CharVocab
from archzoo.train._setup_classify import TaggingTask, TextClassificationTask
from archzoo.train.tasks_seq import run_task


def _play(title: str, speech: str, n: int) -> str:
    """A tiny play in the Gutenberg layout: title, byline, cast, then scenes of tagged speeches."""
    lines = [title, "", "by William Shakespeare", "", "PERSONS REPRESENTED.", "", "Nobody, a ghost.", "",
             "ACT I.", "", "Scene I. A room.", "", "[Enter Someone.]"]
    for i in range(n):
        lines += ["", "FIRST.", f"{speech} number {i} of the {title.lower()} play,", "and so it goes on. [Aside.]"]
        if i == n // 2:
            lines += ["", "SCENE II. Another room."]
    lines += ["", "SECOND.", "A line that every play shares, alas."]
    return "\n".join(lines)


def _corpus(n: int = 50) -> str:
    return "\n\n".join([_play("HAMLET, PRINCE OF DENMARK", "Denmark is a prison", n),
                        _play("MACBETH", "Out, damned spot", n), _play("THE SONNETS", "Shall I compare", 3)])


def test_works_and_speeches_are_parsed():
    works = split_works(_corpus(4))
    assert list(works) == ["HAMLET, PRINCE OF DENMARK", "MACBETH", "THE SONNETS"]
    speeches = play_speeches(works["MACBETH"])
    # speaker tags, stage directions, cast list and headings are gone; lines of a speech are kept whole
    assert speeches[0] == "Out, damned spot number 0 of the macbeth play,\nand so it goes on."
    assert len(speeches) == 5 and not any("FIRST" in s or "[" in s or "Nobody" in s for s in speeches)


def test_long_speech_is_cut_at_line_boundaries():
    verse = [f"This is verse line number {i} of a long speech" for i in range(10)]
    lines = ["", "Scene I. Here.", "", "HAMLET.", *verse]
    pieces = play_speeches("\n".join(lines), max_chars=100, min_chars=1)
    assert len(pieces) > 3 and all(len(p) <= 100 for p in pieces)
    assert "\n".join(pieces).split("\n") == lines[4:]


def test_splits_are_deterministic_blocked_and_deduplicated():
    plays = {"hamlet": "HAMLET, PRINCE OF DENMARK", "macbeth": "MACBETH"}
    train, val, test, classes = shakespeare_plays(_corpus(199), plays=plays)
    assert classes == ["hamlet", "macbeth"]
    assert (train, val, test) == shakespeare_plays(_corpus(199), plays=plays)[:3]
    # 200 examples a play: 80..99 (block 4) go to validation, 180..199 (block 9) to test, where the
    # last one, the line both plays share, is dropped
    assert (len(train), len(val), len(test)) == (2 * 160, 2 * 20, 2 * 19)
    assert [t.split(" number ")[1].split(" ")[0] for t, _ in val[:20]] == [str(i) for i in range(80, 100)]
    texts = [t for t, _ in train + val + test]
    assert len(set(texts)) == len(texts)
    assert not any("every play shares" in t for t in texts)  # in both plays: its label is ambiguous
    with pytest.raises(DataError, match="THE TEMPEST"):
        shakespeare_plays(_corpus(), plays={"x": "THE TEMPEST"})


def test_shakespeare_plays_uses_the_char_lm_vocabulary(tmp_path):
    text = "\n\n".join(_play(title, f"Speech of {label}", 30) for label, title in PLAYS.items())
    (tmp_path / "shakespeare.txt").write_text(text, encoding="utf-8")
    data = load_text_classification("shakespeare-plays", data_dir=tmp_path)
    assert data.classes == list(PLAYS)
    # the vocabulary _lm_data builds for a char LM on this corpus: its first 90%, <unk> for the rest
    assert data.vocab.chars == CharVocab.from_texts([text[: int(len(text) * 0.9)]]).chars
    assert data.vocab.unknown == "replace"
    assert {label for _, label in data.train} == set(range(len(PLAYS)))


def test_missing_corpus_and_unknown_names_fail_clearly(tmp_path):
    with pytest.raises(DataError, match="archzoo data prepare shakespeare"):
        load_text_classification("shakespeare-plays", data_dir=tmp_path)
    with pytest.raises(DataError, match="expected one of shakespeare-plays"):
        load_text_classification("yelp")
    with pytest.raises(DataError, match="expected pystdlib-tokens"):
        load_token_tagging("conll")


def test_tags_follow_pythons_tokenizer():
    src = 'def f(x):  # hi\n    return x + 12, """a\nb""" if True else None\n'
    lines = dict(tag_source(src))
    code = {text: "".join("xnkodsc"[t] for t in tags) for text, tags in lines.items()}
    assert code["def f(x):  # hi"] == "kkkxnonooxxcccc"
    assert code['return x + 12, """a'] == "kkkkkkxnxoxddoxssss"
    assert code['b""" if True else None'] == "ssssxkkxkkkkxkkkkxkkkk"
    assert all(len(t) == len(s) for s, t in tag_source(src))
    with pytest.raises((tokenize.TokenError, SyntaxError)):
        tag_source('x = """never closed\n')


def test_pystdlib_tokens_splits_by_file(tmp_path):
    for i in range(40):
        (tmp_path / f"m{i}.py").write_text(f"value_{i} = {i}  # file {i}\n\nprint(value_{i})\n")
    (tmp_path / "broken.py").write_text('s = """unterminated\n')
    data = load_token_tagging("pystdlib-tokens", root=tmp_path)
    assert data.classes == list(TAGS) and len(data.train) + len(data.val) + len(data.test) == 80
    held = {t for t, _ in data.val + data.test}
    assert {t for t, _ in data.train}.isdisjoint(held) and held  # whole files land in one split


def _examples():
    return [("to be", 0), ("or not to be", 1), ("that is", 2), ("the question", 1), ("whether", 0)]


def test_batches_pad_and_resume_exactly():
    vocab = CharVocab.from_texts(t for t, _ in _examples())
    b = LabelledBatches(_examples(), vocab, batch_size=2, seed=3)
    b.set_epoch(1)
    batches = list(b)
    assert len(batches) == len(b) == 3
    ids, lengths, labels = batches[0]
    assert ids.shape == (2, int(lengths.max())) and labels.shape == (2,)
    for row, n in zip(ids, lengths):
        assert (row[n:] == PAD).all() and (row[:n] != PAD).all()
    seen = sorted(vocab.decode(r) for ids, _, _ in batches for r in ids)
    assert seen == sorted(t for t, _ in _examples())
    resumed = list(b.iter_from(1))
    assert all(torch.equal(x, y) for a, c in zip(batches[1:], resumed) for x, y in zip(a, c))
    b.set_epoch(2)
    assert [x[0].tolist() for x in b] != [x[0].tolist() for x in batches]


def test_tag_batches_pad_tags_with_ignore_index():
    src = "x = 1\nif x:\n    y = 'long string'\n"
    tagged = tag_source(src)
    vocab = CharVocab.from_texts(t for t, _ in tagged)
    ids, lengths, tags = next(iter(LabelledBatches(tagged, vocab, batch_size=3, shuffle=False, max_len=10)))
    assert tags.shape == ids.shape and lengths.tolist() == [5, 5, 10]
    assert tags[0, 5:].eq(IGNORE_INDEX).all() and tags[0, :5].tolist() == tagged[0][1]
    with pytest.raises(DataError, match="one tag per character"):
        LabelledBatches([("x=", [1])], vocab, batch_size=1)


class _Fixed(nn.Module):
    """Logits that favour class 1 everywhere, with an aux loss, to check what the tasks sum."""

    def __init__(self, per_token: bool) -> None:
        super().__init__()
        self.per_token, self.bias = per_token, nn.Parameter(torch.tensor([0.0, 2.0, 0.0]))
        self.aux_loss = torch.tensor(0.5)

    def forward(self, ids, lengths):
        shape = (*ids.shape, 3) if self.per_token else (ids.shape[0], 3)
        return self.bias.expand(shape)


def test_classification_task_adds_aux_loss_in_training_only():
    vocab = CharVocab.from_texts(t for t, _ in _examples())
    batch = next(iter(LabelledBatches(_examples(), vocab, batch_size=5, shuffle=False)))
    model, task = _Fixed(per_token=False), TextClassificationTask()
    out = task.step(model.train(), batch)
    nll = -torch.log_softmax(torch.tensor([0.0, 2.0, 0.0]), 0)
    expected = (2 * nll[0] + 2 * nll[1] + nll[2]) / 5
    assert out.loss.item() == pytest.approx(expected.item() + 0.5) and out.sums["correct"] == 2
    metrics = run_task(task, model, [batch])
    assert metrics["loss"] == pytest.approx(expected.item()) and metrics["acc"] == pytest.approx(0.4)


def test_tagging_task_ignores_padding():
    ids = torch.tensor([[5, 6, 0], [5, 0, 0]])
    tags = torch.tensor([[1, 0, IGNORE_INDEX], [1, IGNORE_INDEX, IGNORE_INDEX]])
    metrics = run_task(TaggingTask(), _Fixed(per_token=True), [(ids, torch.tensor([2, 1]), tags)])
    assert metrics["acc"] == pytest.approx(2 / 3)
    assert not math.isnan(metrics["loss"])
    with pytest.raises(ValueError, match="one row of logits per token"):
        TaggingTask().step(_Fixed(per_token=False), (ids, torch.tensor([2, 1]), tags))
