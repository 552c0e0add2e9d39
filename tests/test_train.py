"""The trainer: exact resume, NaN stop, atomic writes, run-directory ownership, checkpoints,
custom training steps, schedules, the typed config, and a 2-process DDP run."""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Literal, Optional

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from dataclasses import dataclass, field

from archzoo._config import add_dataclass_arguments, from_dict, from_namespace, to_dict
from archzoo.models import create_model
from archzoo.train import (CheckpointError, Schedule, TrainConfig, TrainingDiverged, load_checkpoint,
                           resume, train)
from archzoo.train import _io
from archzoo.train.run_dir import read_metrics

REPO = Path(__file__).resolve().parents[1]
# resnet20 on 8x8 digits: batch norm, dropout (drop_rate) and a few steps take well under a second;
# one thread, because tests share the cores and contended threads spin.
FAST = dict(model="resnet20", data="digits", batch_size=32, max_steps_per_epoch=3, progress=False,
            threads=1, model_args={"drop_rate": 0.2})


def cfg(tmp_path: Path, name: str, **kw) -> TrainConfig:
    return TrainConfig(out=str(tmp_path / name), **{**FAST, **kw})


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def temp_files(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.startswith(_io.TMP_PREFIX)]


# ---- exact resume ----------------------------------------------------------------------------


@pytest.mark.parametrize("stop_at", [4, 3], ids=["mid-epoch", "epoch-boundary"])
def test_resume_gives_the_weights_of_an_uninterrupted_run(tmp_path, stop_at):
    kw = dict(epochs=3, optimizer="adamw", weight_decay=0.01, augment=True, warmup_epochs=1)
    straight = train(cfg(tmp_path, "straight", **kw))
    stopped = train(cfg(tmp_path, "split", **kw), stop_after_steps=stop_at)
    assert not stopped.finished and stopped.step == stop_at
    assert not same_weights(straight.model, stopped.model)
    resumed = resume(tmp_path / "split")
    assert resumed.finished and resumed.step == straight.step == 9
    assert same_weights(straight.model, resumed.model)
    drop_time = lambda rows: [{k: v for k, v in r.items() if k not in ("seconds", "samples_per_s")} for r in rows]
    assert drop_time(resumed.history) == drop_time(straight.history)
    assert [r["step"] for r in read_metrics(tmp_path / "split")] == ["3", "6", "9"]
    assert not temp_files(tmp_path / "split")


def test_resume_of_a_finished_or_foreign_run_is_refused(tmp_path):
    done = train(cfg(tmp_path, "done", epochs=1))
    with pytest.raises(ValueError, match="already finished"):
        resume(done.run_dir)
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "config.json").write_text('{"lr": 1}')
    with pytest.raises(CheckpointError, match="not an archzoo run"):
        resume(tmp_path / "foreign")
    with pytest.raises(FileNotFoundError, match="no such directory"):
        resume(tmp_path / "missing")


# ---- divergence ------------------------------------------------------------------------------


class Tiny(nn.Module):
    """A small classifier that can be told to return NaN logits from its n-th training call."""

    def __init__(self, *, in_chans: int = 1, num_classes: int = 10, nan_from_call: int | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_chans, 8, 3, padding=1)
        self.fc = nn.Linear(8, num_classes)
        self.in_chans, self.num_classes = in_chans, num_classes
        self.nan_from_call, self.calls = nan_from_call, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.calls += 1
        logits = self.fc(F.relu(self.conv(x)).mean(dim=(2, 3)))
        if self.nan_from_call is not None and self.calls >= self.nan_from_call:
            logits = logits * float("nan")
        return logits


def test_nan_loss_stops_at_once_and_keeps_the_last_good_checkpoint(tmp_path):
    run = cfg(tmp_path, "nan", model="tiny", model_args={}, epochs=3)
    with pytest.raises(TrainingDiverged) as info:
        train(run, model=Tiny(nan_from_call=5))  # steps 1-3 are epoch 1; step 5 is in epoch 2
    message = str(info.value)
    assert "at step 5" in message and "last finite loss" in message and "at step 4" in message
    assert "lower the learning rate; check the gradients numerically" in message
    assert "\n" not in message
    sidecar = json.loads((tmp_path / "nan" / "last.json").read_text())
    assert (sidecar["epoch"], sidecar["step"]) == (1, 3)
    model, meta = load_checkpoint(tmp_path / "nan", tag="last", model=Tiny())
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert [r["step"] for r in read_metrics(tmp_path / "nan")] == ["3"]
    assert not temp_files(tmp_path / "nan")


# ---- files -----------------------------------------------------------------------------------


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "metrics.csv"
    _io.write_text(target, "old\n")

    def broken(path: Path) -> None:
        path.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        _io.write_with(target, broken)
    assert target.read_text() == "old\n"
    assert not temp_files(tmp_path)


def test_written_files_get_the_usual_permissions_not_mkstemps_private_ones(tmp_path):
    _io.write_text(tmp_path / "config.json", "{}")
    assert (tmp_path / "config.json").stat().st_mode & 0o777 == 0o666 & ~_io._UMASK


def test_an_occupied_out_directory_is_refused_and_left_untouched(tmp_path):
    first = train(cfg(tmp_path, "run", epochs=1))
    before = {p.name: p.read_bytes() for p in first.run_dir.iterdir()}
    with pytest.raises(FileExistsError, match="already holds a run.*--overwrite"):
        train(cfg(tmp_path, "run", epochs=1, seed=1))
    assert {p.name: p.read_bytes() for p in first.run_dir.iterdir()} == before
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        train(cfg(tmp_path, "notes", epochs=1))
    assert sorted(p.name for p in other.iterdir()) == ["keep.txt"]
    again = train(cfg(tmp_path, "run", epochs=1, seed=1, overwrite=True))
    assert json.loads((again.run_dir / "config.json").read_text())["config"]["seed"] == 1


def test_checkpoint_from_another_model_or_class_count_names_the_tensors(tmp_path):
    done = train(cfg(tmp_path, "ckpt", epochs=1))
    model, meta = load_checkpoint(done.run_dir)
    assert meta["classes"] == [str(i) for i in range(10)] and meta["image_size"] == [8, 8]
    assert same_weights(model, done.model)  # one epoch: best is the final model
    with pytest.raises(CheckpointError, match=r"head\.fc\.weight expected \(7, 64\) got \(10, 64\)"):
        load_checkpoint(done.run_dir, model=create_model("resnet20", in_chans=1, num_classes=7))
    with pytest.raises(CheckpointError, match=r"resnet20 checkpoint.*does not fit resnet56: missing 216: body\.0\.3\.conv1"):
        load_checkpoint(done.run_dir, model=create_model("resnet56", in_chans=1, num_classes=10))


@pytest.mark.parametrize("damage", ["truncate", "garbage", "sidecar"])
def test_corrupt_checkpoint_is_a_one_line_error(tmp_path, damage):
    run = train(cfg(tmp_path, "bad", epochs=1)).run_dir
    weights = run / "best.safetensors"
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif damage == "garbage":
        weights.write_bytes(b"\x00not a safetensors file" * 10)
    else:
        (run / "best.json").write_text("{ truncated")
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(run)
    assert "\n" not in str(info.value) and str(run) in str(info.value)


# ---- models with their own step --------------------------------------------------------------


class TwoPlayer(nn.Module):
    """Two parts trained by two optimizers in one custom step, as a GAN's would be."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(64, 10)
        self.b = nn.Linear(64, 10)
        self.drop = nn.Dropout(0.5)

    def configure_optimizers(self, cfg: TrainConfig) -> list[torch.optim.Optimizer]:
        return [torch.optim.SGD(self.a.parameters(), lr=cfg.resolved_lr(), momentum=0.9),
                torch.optim.Adam(self.b.parameters(), lr=1e-3)]

    def train_step(self, batch, optimizers) -> dict[str, float]:
        x, y = batch
        x = self.drop(x.flatten(1))
        losses = {}
        for name, part, opt in (("loss_a", self.a, optimizers[0]), ("loss_b", self.b, optimizers[1])):
            opt.zero_grad()
            loss = F.cross_entropy(part(x), y)
            loss.backward()
            opt.step()
            losses[name] = loss.item()
        return losses


def two_player() -> TwoPlayer:
    torch.manual_seed(0)  # a model passed in is built by the caller, so the caller seeds it
    return TwoPlayer()


def test_a_model_with_its_own_train_step_drives_two_optimizers_and_resumes_exactly(tmp_path):
    run = cfg(tmp_path, "two", model="two_player", model_args={}, epochs=2)
    straight = train(run, model=two_player())
    assert straight.finished and straight.step == 6
    rows = read_metrics(straight.run_dir)
    assert float(rows[-1]["train_loss_a"]) > 0 and float(rows[-1]["train_loss_b"]) > 0
    train(cfg(tmp_path, "two-split", model="two_player", model_args={}, epochs=2),
          model=two_player(), stop_after_steps=4)
    resumed = resume(tmp_path / "two-split", model=two_player())
    assert same_weights(straight.model, resumed.model)


# ---- schedules and optimizers ----------------------------------------------------------------


def test_warmup_then_cosine_reaches_the_peak_and_decays_to_zero():
    s = Schedule(kind="cosine", total_steps=12, steps_per_epoch=4, warmup_steps=4)
    assert [s.factor(i) for i in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert s.factor(4) == 1.0
    assert s.factor(8) == pytest.approx(0.5)
    assert s.factor(12) == pytest.approx(0.0) and 0 < s.factor(11) < 0.05
    steps = Schedule(kind="step", total_steps=100, steps_per_epoch=10, step_size=3, gamma=0.1)
    assert [steps.factor(i * 10) for i in (0, 2, 3, 6)] == pytest.approx([1, 1, 0.1, 0.01])
    one = Schedule.from_config(TrainConfig(model="m", schedule="onecycle", epochs=10), steps_per_epoch=10)
    assert one.warmup_steps == 30 and one.factor(0) == pytest.approx(1 / 25)
    assert one.factor(30) == pytest.approx(1.0) and one.factor(100) == pytest.approx(1e-4)
    floor = Schedule.from_config(TrainConfig(model="m", schedule="cosine", optimizer="adamw", lr=1e-3,
                                             min_lr=1e-4, epochs=2), steps_per_epoch=10)
    assert floor.factor(0) == 1.0 and floor.factor(10) == pytest.approx(0.55) and floor.factor(20) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="--min-lr: expected 0 <= min-lr <= lr"):
        TrainConfig(model="m", lr=1e-3, min_lr=1e-2).check()
    vaswani = Schedule.from_config(TrainConfig(model="m", schedule="inverse-sqrt", warmup_epochs=1, epochs=10),
                                   steps_per_epoch=4)
    assert [vaswani.factor(i) for i in range(4)] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert vaswani.factor(15) == pytest.approx(0.5)  # step 16 = 4 x the warm-up: 1/sqrt(4)
    with pytest.raises(ValueError, match="inverse-sqrt: expected --warmup-epochs > 0"):
        TrainConfig(model="m", schedule="inverse-sqrt").check()


def test_the_schedule_sets_the_optimizer_lr_per_step(tmp_path):
    result = train(cfg(tmp_path, "lr", epochs=2, optimizer="sgd", nesterov=True, lr=0.1,
                       schedule="constant", warmup_epochs=1, label_smoothing=0.1, clip_grad=1.0))
    assert [r["lr"] for r in result.history] == pytest.approx([0.1, 0.1])
    rms = train(cfg(tmp_path, "rms", epochs=1, optimizer="rmsprop", bf16=True, schedule="step"))
    assert math.isfinite(rms.history[-1]["train_loss"])


# ---- typed config ----------------------------------------------------------------------------


@dataclass
class Example:
    name: str = field(default="", metadata={"positional": True})
    depth: int = 3
    rate: Optional[float] = None
    fast: bool = False
    kind: Literal["a", "b"] = "a"
    sizes: tuple[int, ...] = (1, 2)
    extra: dict = field(default_factory=dict)


def test_dataclass_options_round_trip_through_argparse_and_json():
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_dataclass_arguments(parser, Example)
    ns = parser.parse_args(["x", "--depth", "5", "--rate", "none", "--fast", "--kind", "b",
                            "--sizes", "3", "4", "--extra", "k=1", "s=relu", "l=[1,2]"])
    ex = from_namespace(Example, ns)
    assert ex == Example("x", 5, None, True, "b", (3, 4), {"k": 1, "s": "relu", "l": [1, 2]})
    assert from_dict(Example, to_dict(ex)) == ex
    assert from_namespace(Example, parser.parse_args(["--no-fast"])) == Example()
    with pytest.raises(ValueError, match="unknown config key"):
        from_dict(Example, {"depht": 3})
    with pytest.raises(argparse.ArgumentError, match="invalid choice"):
        parser.parse_args(["--kind", "c"])


# ---- data parallel ---------------------------------------------------------------------------


def test_two_process_ddp_run_trains_and_only_rank0_writes(tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "archzoo", "train", "resnet20", "--data", "digits", "--epochs", "2", "--batch-size", "32",
           "--max-steps-per-epoch", "3", "--out", str(out), "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("run: ") == 1 and "test accuracy:" in proc.stdout
    assert json.loads((out / "config.json").read_text())["world_size"] == 2
    assert (out / "last.json").is_file() and not temp_files(out)
    assert [r["step"] for r in read_metrics(out)] == ["3", "6"]
    assert len(json.loads((out / "last.state.json").read_text())["rng"]) == 2  # each rank's RNG


class SquaredErrorTask:
    """A non-classification task through the same loop: squared error against one-hot targets."""

    best_metric, higher_is_better = "loss", False

    def step(self, model, batch):
        from archzoo.train import StepOutput

        x, y = batch
        loss = F.mse_loss(model(x), F.one_hot(y, 10).float())
        return StepOutput(loss=loss, count=y.shape[0], sums={"sq": loss.item() * y.shape[0]})

    def summarize(self, *, loss_sum, count, sums):
        return {"loss": loss_sum / count, "rmse": math.sqrt(sums["sq"] / count)}


def test_another_task_plugs_into_the_loop(tmp_path):
    result = train(cfg(tmp_path, "task", epochs=2), task=SquaredErrorTask())
    row = result.history[-1]
    assert {"train_rmse", "val_rmse", "test_rmse"} <= set(row) and "train_acc" not in row
    assert result.best == min(r["val_loss"] for r in result.history)
