"""Masked-lm pre-training (train/_setup_mlm.py) and fine-tuning a BERT classifier from it: the
masking, the pair layout, exact resume, and the encoder weights arriving in the classifier."""
from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import archzoo
from archzoo.cli import main
from archzoo.data.text import LMBatches
from archzoo.data.tokenize import CharVocab
from archzoo.models.bert import BertClassifier
from archzoo.train import TrainConfig, resume, train
from archzoo.train._setup_mlm import (IGNORE, MLM_SPECIALS, MaskedLMBatches, MaskedLMTask, MLMVocab,
                                      init_from_pretrained, text_len)

TINY = {"num_layers": 1, "num_heads": 2, "dim": 16, "mlp_dim": 32, "seq_len": 24}
QUICK = ["--no-progress", "--threads", "1", "--optimizer", "adamw", "--lr", "0.003"]


@pytest.fixture(scope="module")
def text_file(tmp_path_factory) -> Path:
    rng = random.Random(0)
    words = "to be or not that is the question whether tis nobler in mind suffer".split()
    path = tmp_path_factory.mktemp("text") / "tiny.txt"
    path.write_text("\n".join(" ".join(rng.choice(words) for _ in range(8)) for _ in range(150)))
    return path


def _batches(text: str, *, next_sentence: bool, seq_len: int = 24, batch: int = 4, seed: int = 0):
    vocab = MLMVocab(CharVocab.from_texts([text]))
    ids = torch.tensor(vocab.chars.encode(text))
    windows = LMBatches(ids, seq_len=text_len(seq_len, next_sentence=next_sentence), batch_size=batch, seed=seed)
    return MaskedLMBatches(windows, vocab, next_sentence=next_sentence, seed=seed), vocab


def test_pair_layout_masking_and_determinism(text_file):
    text = text_file.read_text()
    batches, vocab = _batches(text, next_sentence=True)
    assert vocab.itos[-3:] == list(MLM_SPECIALS) and vocab.mask_id == len(vocab) - 1
    first = next(iter(batches))
    b, t = first.inputs.shape
    assert t == 2 * ((24 - 3) // 2) + 3 == 23
    half = (t - 3) // 2
    # [CLS] A [SEP] B [SEP] with token types 0...0 1...1
    assert (first.inputs[:, 0] == vocab.cls_id).all() and (first.inputs[:, half + 1] == vocab.sep_id).all()
    assert (first.inputs[:, -1] == vocab.sep_id).all()
    assert first.token_types[:, : half + 2].eq(0).all() and first.token_types[:, half + 2:].eq(1).all()
    assert first.next_labels.shape == (b,)
    # special positions are never chosen; chosen labels are characters
    chosen = first.labels != IGNORE
    assert not chosen[:, [0, half + 1, t - 1]].any()
    assert (first.labels[chosen] >= 4).all() and (first.labels[chosen] < len(vocab.chars)).all()
    # the same (seed, epoch, step) masks the same; resuming at step 2 gives the uninterrupted batch 2
    again = list(_batches(text, next_sentence=True)[0])
    resumed = next(_batches(text, next_sentence=True)[0].iter_from(2))
    for a, c in zip(again[2], resumed):
        assert torch.equal(a, c)
    assert not torch.equal(again[0].labels, again[1].labels)
    batches.set_epoch(1)
    assert not torch.equal(next(iter(batches)).inputs, first.inputs)  # a new epoch, new order and masks


def test_masking_rates_and_random_pairs(text_file):
    text = text_file.read_text() * 4
    batches, vocab = _batches(text, next_sentence=True, seq_len=64, batch=64)
    chosen = masked = kept = total = 0
    pairs = follows = 0
    for batch in batches:
        real = (batch.inputs != vocab.cls_id) & (batch.inputs != vocab.sep_id) | (batch.labels != IGNORE)
        c = batch.labels != IGNORE
        chosen += int(c.sum())
        total += int(real.sum())
        masked += int((batch.inputs[c] == vocab.mask_id).sum())
        kept += int((batch.inputs[c] == batch.labels[c]).sum())
        pairs += batch.next_labels.numel()
        follows += int((batch.next_labels == 0).sum())
        assert not (batch.inputs == 0).any()  # random replacements are characters, never <pad>
    assert chosen / total == pytest.approx(0.15, abs=0.01)
    assert masked / chosen == pytest.approx(0.8, abs=0.03)
    assert kept / chosen == pytest.approx(0.1, abs=0.03)  # plus the rare random draw of itself
    assert follows / pairs == pytest.approx(0.5, abs=0.06)


def test_single_segment_without_next_sentence(text_file):
    batches, vocab = _batches(text_file.read_text(), next_sentence=False)
    batch = next(iter(batches))
    assert batch.inputs.shape[1] == 24 and batch.next_labels is None and batch.token_types.eq(0).all()
    assert (batch.inputs[:, 0] == vocab.cls_id).all() and (batch.inputs[:, -1] == vocab.sep_id).all()


def test_task_scores_only_chosen_positions_and_checks_the_model(text_file):
    batches, vocab = _batches(text_file.read_text(), next_sentence=True)
    batch = next(iter(batches))
    torch.manual_seed(0)
    model = archzoo.create_model("bert_mini_char", vocab_size=len(vocab), **TINY).eval()
    task = MaskedLMTask(vocab_size=len(vocab), next_sentence=True)
    out = task.step(model, batch)
    assert out.count == int((batch.labels != IGNORE).sum())
    # a perfect guess at every chosen position: accuracy 1 whatever the other positions say
    mlm, nsp = model.pretraining_logits(batch.inputs, token_type_ids=batch.token_types)

    class Oracle(torch.nn.Module):
        def pretraining_logits(self, idx, token_type_ids):
            logits = torch.randn_like(mlm)
            chosen = batch.labels != IGNORE
            logits[chosen] = torch.nn.functional.one_hot(batch.labels[chosen], len(vocab)).float() * 50
            return logits, torch.nn.functional.one_hot(batch.next_labels, 2).float() * 50

    perfect = task.step(Oracle(), batch)
    metrics = task.summarize(loss_sum=float(perfect.loss) * perfect.count, count=perfect.count, sums=perfect.sums)
    assert metrics["acc"] == 1.0 and metrics["nsp_acc"] == 1.0 and metrics["mlm_loss"] < 1e-6
    wrong = archzoo.create_model("bert_mini_char", vocab_size=len(vocab), pretraining_heads=False, **TINY)
    with pytest.raises(ValueError, match="must return logits"):
        MaskedLMTask(vocab_size=len(vocab), next_sentence=False).step(wrong, batch)


def _cfg(text_file, out: Path, **kw) -> TrainConfig:
    opts = dict(model="bert_mini_char", data=str(text_file), out=str(out), epochs=2, max_steps_per_epoch=3,
                batch_size=4, optimizer="adamw", lr=3e-3, progress=False, threads=1, model_args=dict(TINY))
    opts.update(kw)
    return TrainConfig(**opts)


def test_masked_lm_resume_is_exact(text_file, tmp_path):
    whole = train(_cfg(text_file, tmp_path / "whole"))
    assert not train(_cfg(text_file, tmp_path / "split"), stop_after_steps=4).finished
    split = resume(tmp_path / "split")
    a, b = (load_file(str(tmp_path / d / "last.safetensors")) for d in ("whole", "split"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert whole.history[-1]["test_acc"] == split.history[-1]["test_acc"]
    assert {"train_acc", "val_acc", "test_mlm_loss", "test_nsp_acc"} <= set(whole.history[-1])


def test_cli_trains_masked_lm_and_reports(text_file, tmp_path, capsys):
    args = [f"{k}={v}" for k, v in TINY.items()]
    out = tmp_path / "mlm"
    assert main(["train", "bert_mini_char", "--data", str(text_file), "--out", str(out), "--epochs", "1",
                 "--max-steps-per-epoch", "2", "--batch-size", "4", *QUICK, "--model-args", *args]) == 0
    assert "test accuracy:" in capsys.readouterr().out
    assert main(["train", "bert_mini_char", "--data", str(text_file), "--out", str(tmp_path / "bad"),
                 *QUICK, "--model-args", *args[:-1], "seq_len=4"]) == 2
    assert "at least 5 positions" in capsys.readouterr().err


def test_classifier_layout_padding_and_head():
    torch.manual_seed(0)
    model = archzoo.create_model("bert_mini_char_classifier", vocab_size=20, num_classes=3,
                                 **{**TINY, "seq_len": 12}).eval()
    assert isinstance(model, BertClassifier) and model.word_embed.num_embeddings == 23
    ids = torch.randint(4, 20, (2, 6))
    lengths = torch.tensor([6, 3])
    padded = ids.clone()
    padded[1, 3:] = 0
    with torch.no_grad():
        out = model(ids, lengths)
        assert out.shape == (2, 3)
        assert torch.allclose(model(padded, lengths), out, atol=1e-6)  # what lies past the length is unseen
        alone = model(ids[1:, :3], lengths[1:])
        assert torch.allclose(alone, out[1:], atol=1e-5)
    with pytest.raises(ValueError, match="lengths must lie in"):
        model(ids, torch.tensor([7, 3]))
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 20\)"):
        model(torch.full((1, 3), 20), torch.tensor([3]))  # [CLS] is the model's to add
    with pytest.raises(ValueError, match="too long|exceeds"):
        model(torch.zeros(1, 11, dtype=torch.long))
    with pytest.raises(ValueError, match="pretraining_heads=False"):
        archzoo.create_model("bert_mini_char_classifier", pretraining_heads=True)


def test_init_loads_the_encoder_and_leaves_a_new_head(text_file, tmp_path):
    pre = train(_cfg(text_file, tmp_path / "pre", epochs=1, max_steps_per_epoch=2))
    vocab = CharVocab.from_texts([text_file.read_text()[: int(len(text_file.read_text()) * 0.9)]],
                                 unknown="replace")
    torch.manual_seed(1)
    clf = archzoo.create_model("bert_mini_char_classifier", vocab_size=len(vocab), num_classes=4, **TINY)
    head_before = clf.head[1].weight.clone()
    mlm_vocab = MLMVocab(vocab)  # the classifier wraps text in the ids pre-training used
    assert (clf.cls_id, clf.sep_id) == (mlm_vocab.cls_id, mlm_vocab.sep_id)
    assert clf.word_embed.num_embeddings == len(mlm_vocab)
    fresh = init_from_pretrained(clf, str(pre.run_dir / "best.safetensors"), freeze="body", vocab=vocab.to_json())
    assert fresh == ["head.1.weight", "head.1.bias"]
    weights = load_file(str(pre.run_dir / "best.safetensors"))
    assert torch.equal(clf.word_embed.weight, weights["word_embed.weight"])
    own = clf.state_dict()
    assert all(torch.equal(own[k], weights[k]) for k in own if not k.startswith("head."))
    assert torch.equal(clf.head[1].weight, head_before)
    assert [k for k, p in clf.named_parameters() if p.requires_grad] == ["head.1.weight", "head.1.bias"]
    other = CharVocab("xyz")
    with pytest.raises(ValueError, match="another vocabulary"):
        init_from_pretrained(clf, str(pre.run_dir), vocab=other.to_json())
    bigger = archzoo.create_model("bert_mini_char_classifier", vocab_size=len(vocab), num_classes=4,
                                  **{**TINY, "dim": 32})
    with pytest.raises(ValueError, match="shapes differ"):
        init_from_pretrained(bigger, str(pre.run_dir))
