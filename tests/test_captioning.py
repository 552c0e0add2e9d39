"""Image captioning: the composed caption sets, both captioners (incremental decoding against teacher
forcing, beam search across a batch), the captioning run (train, exact resume) and `archzoo caption`.

Runs use `digits-captions` (scikit-learn's digits, always present) with few canvases: the setup's
`load_captions` is swapped for one with small split sizes, which `archzoo caption` reads too."""
from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import archzoo
from archzoo.cli import main
from archzoo.data.captions import (MARGIN, PLACES, CaptionBatches, DataError, WordVocab, caption_vocab, compose,
                                   load_captions)
from archzoo.data.tokenize import BOS, EOS, PAD
from archzoo.models import InputShapeError
from archzoo.train import TrainConfig, resume, train

TINY = {"dim": 32, "num_heads": 2, "mlp_dim": 64, "decoder_layers": 2}
WORDS = [f"w{i}" for i in range(3)]


def _pool(n: int = 6, side: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """n distinct solid images (pixel value 10*(i+1)) labelled i % 3."""
    images = torch.stack([torch.full((1, side, side), 10 * (i + 1), dtype=torch.uint8) for i in range(n)])
    return images, torch.arange(n) % 3


def test_compose_puts_named_items_in_named_cells():
    images, labels = _pool()
    s = compose(images, labels, WORDS, 50, generator=torch.Generator().manual_seed(1))
    cell = 4 + MARGIN
    assert s.images.shape == (50, 1, 2 * cell, 2 * cell) and len(s) == 50
    counts = set()
    for img, caption, cells in zip(s.images, s.captions, s.cells.tolist()):
        filled = [k for k in range(4) if cells[k] >= 0]
        counts.add(len(filled))
        expected = " , ".join(f"a {WORDS[int(labels[cells[k]])]} {PLACES[k]}" for k in filled)
        assert caption == expected
        for k in range(4):
            block = img[0, (k // 2) * cell: (k // 2 + 1) * cell, (k % 2) * cell: (k % 2 + 1) * cell]
            if cells[k] < 0:
                assert block.sum() == 0
            else:  # the whole item, shifted inside its cell, and nothing else
                assert int((block == 10 * (cells[k] + 1)).sum()) == 16 and int((block > 0).sum()) == 16
    assert counts == {2, 3, 4}
    again = compose(images, labels, WORDS, 50, generator=torch.Generator().manual_seed(1))
    assert torch.equal(again.images, s.images) and again.captions == s.captions


def test_compose_rejects_a_pool_too_small():
    images, labels = _pool(3)
    with pytest.raises(DataError, match="at least 4 grayscale images"):
        compose(images, labels, WORDS, 5, generator=torch.Generator())


def test_word_vocab_round_trip_and_unknown_word():
    vocab = caption_vocab(["sandal", "bag"])
    ids = vocab.encode("a sandal top left , a bag bottom right")
    assert min(ids) >= 4 and vocab.decode(ids + [EOS, 5]) == "a sandal top left , a bag bottom right"
    assert WordVocab.from_json(vocab.to_json()).itos == vocab.itos
    with pytest.raises(DataError, match="outside the caption vocabulary: hat"):
        vocab.encode("a hat top left")


@pytest.fixture(scope="module")
def small() -> object:
    return load_captions("digits-captions", n_train=40, n_val=8, n_test=12)


def test_load_captions_splits_are_deterministic(small):
    assert small.image_size == (24, 24) and (len(small.train), len(small.val), len(small.test)) == (40, 8, 12)
    again = load_captions("digits-captions", n_train=40, n_val=8, n_test=12)
    assert torch.equal(again.test.images, small.test.images) and again.train.captions == small.train.captions
    other = load_captions("digits-captions", n_train=40, n_val=8, n_test=12, seed=1)
    assert other.train.captions != small.train.captions
    assert 0 < small.mean < 1 and small.std > 0
    with pytest.raises(DataError, match="expected one of fashion-captions, digits-captions"):
        load_captions("coco")


def test_caption_batches_pad_shift_and_resume_exactly(small):
    b = CaptionBatches(small.train, small.vocab, mean=small.mean, std=small.std, batch_size=16, seed=3)
    b.set_epoch(2)
    batches = list(b)
    assert len(batches) == len(b) == 3
    images, tgt_in, tgt_out = batches[0]
    assert images.shape == (16, 1, 24, 24) and images.dtype == torch.float32
    assert tgt_in.shape == tgt_out.shape and (tgt_in[:, 0] == BOS).all()
    real = tgt_out != PAD
    assert torch.equal(tgt_in[:, 1:][real[:, 1:]], tgt_out[:, :-1][real[:, 1:]])  # shifted by one
    assert ((tgt_out == EOS).sum(1) == 1).all() and real.any(0).all()  # padded to the batch's longest
    tail = list(b.iter_from(1))
    assert all(torch.equal(x, y) for p, q in zip(batches[1:], tail) for x, y in zip(p, q))
    b.set_epoch(3)
    assert not torch.equal(next(iter(b))[1], tgt_in)


@pytest.mark.parametrize("name", ["caption_resnet_transformer", "caption_vit_transformer"])
def test_incremental_decoding_matches_teacher_forcing(name):
    torch.manual_seed(0)
    model = archzoo.create_model(name, img_size=32, vocab_size=12, **TINY).eval()
    x, tgt = torch.randn(3, 1, 32, 32), torch.randint(4, 12, (3, 6))
    tgt[:, 0] = BOS
    full = model(x, tgt)  # B T V
    logits, state = model.start(x, torch.ones(3))
    steps = [logits]
    for t in range(1, 6):
        logits, state = model.step(tgt[:, t], state)
        steps.append(logits)
    assert torch.allclose(torch.stack(steps, 1), full, atol=1e-5)


@pytest.mark.parametrize("name", ["caption_resnet_transformer", "caption_vit_transformer"])
def test_forward_backward_reaches_every_parameter(name):
    model = archzoo.create_model(name, img_size=32, vocab_size=12, **TINY)
    out = model(torch.randn(2, 1, 32, 32), torch.randint(0, 12, (2, 5)))
    assert out.shape == (2, 5, 12)
    out.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"no gradient reaches {missing[:5]}"


def test_beam_search_rows_do_not_mix_and_beam_one_is_greedy():
    torch.manual_seed(1)
    model = archzoo.create_model("caption_resnet_transformer", img_size=32, vocab_size=12, **TINY)
    x = torch.randn(3, 1, 32, 32)
    greedy = model.generate(x, max_new_tokens=6)
    assert model.generate(x, max_new_tokens=6, num_beams=1) == greedy
    beams = model.generate(x, max_new_tokens=6, num_beams=3)
    assert [model.generate(x[i: i + 1], max_new_tokens=6, num_beams=3)[0] for i in range(3)] == beams
    assert all(len(b) <= 6 and EOS not in b for b in beams)


def test_cross_attention_is_a_pmf_over_the_grid():
    model = archzoo.create_model("caption_vit_transformer", img_size=32, vocab_size=12, **TINY)
    weights = model.cross_attention(torch.randn(2, 1, 32, 32), torch.randint(4, 12, (2, 5)))
    assert weights.shape == (2, 2, 2, 5, 16) and model.grid_shape((32, 32)) == (4, 4)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 2, 2, 5))
    assert all(not b.cross_attn.keep_weights for b in model.decoder)


def test_bad_inputs_name_what_was_expected():
    model = archzoo.create_model("caption_resnet_transformer", vocab_size=12, **TINY)
    wanted = r"expects float images \(B, 1, H, W\); got torch.float32 \(2, 3, 64, 64\)"
    with pytest.raises(InputShapeError, match=wanted):
        model(torch.randn(2, 3, 64, 64), torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"caption token ids must lie in \[0, 12\); got ids from 1 to 40"):
        model(torch.randn(2, 1, 64, 64), torch.tensor([[1, 40], [1, 2]]))
    with pytest.raises(InputShapeError, match="exceeds the 4x4 positions"):
        model.encode(torch.randn(1, 1, 128, 128))


# ---- runs -----------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def small_sets(monkeypatch):
    import importlib

    setup = importlib.import_module("archzoo.train._setup_caption")  # `archzoo.train.train` shadows the path
    monkeypatch.setattr(setup, "load_captions", _small_captions)


@functools.lru_cache(maxsize=None)
def _small_captions(name: str, *, data_dir=None, seed: int = 0):
    """The same function of (name, data_dir, seed) as load_captions, with small splits, composed once."""
    return load_captions(name, data_dir=data_dir, seed=seed, n_train=48, n_val=8, n_test=16)


def _cfg(out: Path, **kw) -> TrainConfig:
    return TrainConfig(model="caption_resnet_transformer", data="digits-captions", out=str(out), epochs=1,
                       batch_size=16, optimizer="adam", lr=0.003, progress=False, threads=1,
                       model_args=dict(TINY), **kw)


def test_captioning_resume_is_exact(tmp_path):
    train(_cfg(tmp_path / "whole"))
    assert not train(_cfg(tmp_path / "split"), stop_after_steps=2).finished  # of 3 steps
    resume(tmp_path / "split")
    a, b = (load_file(str(tmp_path / d / "last.safetensors")) for d in ("whole", "split"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    doc = json.loads((tmp_path / "whole" / "config.json").read_text())
    assert doc["model"]["config"]["vocab_size"] == len(doc["data"]["classes"]) == 20
    assert doc["model"]["config"]["img_size"] == 24 and "caption_vocab" in doc["data"]["vocabs"]
    header = (tmp_path / "whole" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"val_exact", "test_exact", "test_token_acc"} <= set(header)


def test_caption_command_prints_evaluates_and_draws(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "caption_resnet_transformer", "--data", "digits-captions", "--out", str(run),
                 "--epochs", "1", "--batch-size", "16", "--no-progress", "--threads", "1",
                 "--model-args", *(f"{k}={v}" for k, v in TINY.items())]) == 0
    capsys.readouterr()
    png = tmp_path / "maps.png"
    assert main(["caption", str(run), "--n", "3", "--num-beams", "2", "--eval", "--attention-png", str(png)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines[:3]] == ["test[0]", "test[1]", "test[2]"]
    assert lines[3] == f"attention: {png}" and png.read_bytes()[:4] == b"\x89PNG"
    assert lines[4].startswith("test exact match (beam 2, 16 images): ")
    image = tmp_path / "canvas.png"
    from PIL import Image

    canvas = load_captions("digits-captions", n_train=4, n_val=4, n_test=4).test.images[0, 0]
    Image.fromarray(canvas.numpy()).save(image)
    assert main(["caption", str(run), str(image)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{image}: ") and (run / "caption-attention.png").is_file()


@pytest.mark.parametrize("argv, expected", [
    (["--num-beams", "0"], "--num-beams: expected a beam width >= 1, got 0"),
    (["--n", "0"], "--n: expected at least 1 image, got 0"),
    (["x.png", "--eval"], "--eval: expected no IMAGE"),
])
def test_caption_command_bad_options(tmp_path, capsys, argv, expected):
    assert main(["caption", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1


def test_caption_command_wants_a_run_and_train_wants_a_caption_set(tmp_path, capsys):
    assert main(["caption", str(tmp_path / "nowhere")]) == 2
    assert "expected a run directory written by `archzoo train`" in capsys.readouterr().err
    assert main(["train", "caption_vit_transformer", "--data", "dates", "--out", str(tmp_path / "r"),
                 "--no-progress", "--threads", "1"]) == 2
    assert "expects a caption set: fashion-captions, digits-captions" in capsys.readouterr().err
