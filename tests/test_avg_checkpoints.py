"""Epoch checkpoints kept by the trainer (--keep-checkpoints) and `archzoo avg-checkpoints`: the
average is the exact mean, integer buffers come from the newest, the result loads in eval and
translate, and every bad input is one line on stderr, exit 2, with the run directory untouched."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from archzoo.cli import main
from archzoo.train import TrainConfig, _io, train
from archzoo.train.average import average_checkpoints
from archzoo.train.checkpoint import read_sidecar, read_tensors, save_weights

# resnet20 on 8x8 digits: batch norm (so an integer buffer, num_batches_tracked) in a few steps.
FAST = dict(model="resnet20", data="digits", batch_size=32, max_steps_per_epoch=2, progress=False, threads=1)


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "kept"
    train(TrainConfig(out=str(out), epochs=4, keep_checkpoints=3, **FAST))
    return out


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "plain"
    train(TrainConfig(out=str(out), epochs=1, **FAST))
    return out


def test_trainer_keeps_the_last_k_epochs_as_whole_checkpoints(run):
    kept = sorted(p.name for p in run.glob("epoch-*"))
    assert kept == [f"epoch-000{e}{ext}" for e in (2, 3, 4) for ext in (".json", ".safetensors")]
    for epoch in (2, 3, 4):
        meta = read_sidecar(run / f"epoch-000{epoch}.json")
        _, wmeta = read_tensors(run / f"epoch-000{epoch}.safetensors")
        assert meta["epoch"] == epoch and meta["step"] == 2 * epoch and wmeta["token"] == meta["token"]
    last, _ = read_tensors(run / "last.safetensors")
    newest, _ = read_tensors(run / "epoch-0004.safetensors")
    assert all(torch.equal(last[k], newest[k]) for k in last)


def test_average_is_the_exact_mean_and_integer_buffers_come_from_the_newest(run):
    tag, sources = average_checkpoints(run, last=3, out="avg-test")
    assert (tag, sources) == ("avg-test", ["epoch-0002", "epoch-0003", "epoch-0004"])
    got, wmeta = read_tensors(run / "avg-test.safetensors")
    meta = read_sidecar(run / "avg-test.json")
    assert wmeta["token"] == meta["token"] and meta["averaged_from"] == sources and meta["metrics"] == {}
    each = [read_tensors(run / f"{s}.safetensors")[0] for s in sources]
    counts = [k for k in got if not got[k].is_floating_point()]
    assert counts and all(k.endswith("num_batches_tracked") for k in counts)
    moved = 0
    for k, v in got.items():
        if v.is_floating_point():
            mean = torch.stack([t[k].double() for t in each]).mean(0).to(v.dtype)
            assert torch.equal(v, mean), k
            moved += not torch.equal(v, each[-1][k])
        else:
            assert torch.equal(v, each[-1][k]) and not torch.equal(v, each[0][k]), k
    assert moved > 10  # the checkpoints differ, so the mean is not simply the newest


def test_average_of_known_values(run, tmp_path):
    """Weights set to 1, 2 and 6 in three checkpoints average to exactly 3; counts 10, 20, 60 give 60."""
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    for value, tag in zip((1, 2, 6), ("epoch-0002", "epoch-0003", "epoch-0004")):
        tensors, _ = read_tensors(copy / f"{tag}.safetensors")
        meta = {k: v for k, v in read_sidecar(copy / f"{tag}.json").items() if k not in ("format", "token")}
        filled = {k: torch.full_like(t, value if t.is_floating_point() else 10 * value) for k, t in tensors.items()}
        save_weights(copy, tag, weights=filled, meta=meta)
    average_checkpoints(copy, last=3)
    got, _ = read_tensors(copy / "avg-last3.safetensors")
    assert all(torch.all(t == (3 if t.is_floating_point() else 60)) for t in got.values())
    average_checkpoints(copy, last=2, out="avg-two")
    got, _ = read_tensors(copy / "avg-two.safetensors")
    assert all(torch.all(t == (4 if t.is_floating_point() else 60)) for t in got.values())


def test_the_average_evaluates_by_name(run, capsys):
    code, out, _ = run_cli(["avg-checkpoints", str(run), "--last", "2"], capsys)
    assert code == 0 and "epoch-0003 .. epoch-0004" in out and str(run / "avg-last2") in out
    code, out, err = run_cli(["eval", str(run), "--checkpoint", "avg-last2", "--plot", str(run.parent / "c.png")],
                             capsys)
    assert code == 0, err
    assert f"checkpoint: {run / 'avg-last2'}" in out and "accuracy: " in out
    code, out, err = run_cli(["eval", str(run), "--checkpoint", "epoch-0003", "--plot", str(run.parent / "c.png")],
                             capsys)
    assert code == 0 and "epoch 3, step 6" in out


def test_translate_loads_an_averaged_checkpoint(tmp_path, capsys):
    out = tmp_path / "dates"
    train(TrainConfig(model="transformer_tiny", data="dates", out=str(out), epochs=2, keep_checkpoints=2,
                      batch_size=16, max_steps_per_epoch=1, progress=False, threads=1, optimizer="adam",
                      model_args={"dim": 16, "mlp_dim": 16, "num_heads": 2, "encoder_layers": 1,
                                  "decoder_layers": 1}))
    assert run_cli(["avg-checkpoints", str(out), "--last", "2", "--out", "mean2"], capsys)[0] == 0
    code, stdout, err = run_cli(["translate", str(out), "march 3rd, 1999", "--checkpoint", "mean2"], capsys)
    assert code == 0 and stdout.startswith("march 3rd, 1999\t"), err
    code, _, err = run_cli(["translate", str(out), "march 3rd, 1999", "--checkpoint", "nope"], capsys)
    assert code == 2 and "nope.json" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv, message", [
    (["--last", "4"], r"--last 4: expected at most 3, the epoch checkpoints kept in .* \(epoch-0002 \.\. epoch-0004\)"),
    (["--last", "0"], r"--last: expected a number of checkpoints >= 1, got 0"),
    (["--last", "2", "--out", "last"], r"--out: expected a new name, got 'last'"),
    (["--last", "2", "--out", "epoch-0009"], r"--out: expected a new name, got 'epoch-0009'"),
    (["--last", "2", "--out", "../x"], r"--out: expected a checkpoint name of letters"),
    (["--last", "2", "--out", "config"], r"--out config: .*config.json exists and is not an averaged checkpoint"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(run, capsys, argv, message):
    before = snapshot(run)
    code, out, err = run_cli(["avg-checkpoints", str(run), *argv], capsys)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert re.search(message, err), err
    assert snapshot(run) == before


def test_a_run_without_kept_checkpoints_or_no_run_is_an_error(plain_run, tmp_path, capsys):
    before = snapshot(plain_run)
    code, _, err = run_cli(["avg-checkpoints", str(plain_run), "--last", "1"], capsys)
    assert code == 2 and "expected epoch checkpoints to average, got none (train with --keep-checkpoints K" in err
    assert snapshot(plain_run) == before and not list(plain_run.glob("epoch-*"))
    code, _, err = run_cli(["avg-checkpoints", str(tmp_path / "missing"), "--last", "1"], capsys)
    assert code == 2 and "expected a run directory written by `archzoo train`, got no such directory" in err
    assert run_cli(["train", "resnet20", "--keep-checkpoints", "-1"], capsys)[0] == 2


def test_a_corrupt_checkpoint_or_a_failed_write_leaves_nothing(run, tmp_path, capsys, monkeypatch):
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    data = (copy / "epoch-0003.safetensors").read_bytes()
    (copy / "epoch-0003.safetensors").write_bytes(data[: len(data) // 2])
    before = snapshot(copy)
    code, _, err = run_cli(["avg-checkpoints", str(copy), "--last", "3"], capsys)
    assert code == 2 and "epoch-0003.safetensors: corrupt or truncated" in err and snapshot(copy) == before

    (copy / "epoch-0003.safetensors").write_bytes(data)
    before = snapshot(copy)

    def full_disk(path, obj):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_io, "write_json", full_disk)
    code, _, err = run_cli(["avg-checkpoints", str(copy), "--last", "3"], capsys)
    assert code == 2 and "No space left" in err
    assert snapshot(copy) == before  # the weights written before the sidecar failed are gone too


def test_overwrite_removes_epoch_and_averaged_checkpoints(run, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    average_checkpoints(copy, last=2, out="mine")
    (copy / "notes.json").write_text(json.dumps({"keep": True}))
    train(TrainConfig(out=str(copy), epochs=1, overwrite=True, **FAST))
    names = {p.name for p in copy.iterdir()}
    assert "notes.json" in names and not {n for n in names if n.startswith(("epoch-", "mine", "avg-"))}
