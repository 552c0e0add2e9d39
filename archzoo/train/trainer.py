"""The training loop: `train(cfg)` starts a run, `resume(run_dir)` continues one exactly.

Exact resume is a design constraint, not a feature bolted on: every random draw is either a pure
function of coordinates (the loader's permutation and augmentation are seeded by seed, epoch,
rank and batch) or lives in a generator whose state the checkpoint saves (torch's, for dropout),
the schedule is a function of the step, and the epoch's running sums sit in the checkpoint. So a
run stopped after any step and resumed ends with weights equal to an uninterrupted run's.
"""
from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from . import run_dir as rd
from ._setup import Setup, build, model_facts
from ._state import restore_state, save_state
from .config import TrainConfig
from .distributed import Dist
from .evaluate import autocast
from .optim import Schedule
from .tasks import ClassificationTask, Meter, Task

ADVICE = "lower the learning rate; check the gradients numerically"


class TrainingDiverged(ValueError):
    """The loss became NaN or Inf; the last good checkpoint is left as it was."""


@dataclass
class TrainResult:
    run_dir: Path
    model: nn.Module
    epochs_done: int
    step: int
    finished: bool
    test_acc: float | None = None
    best: float | None = None  # the best validation value (accuracy, or loss without validation)
    history: list[dict[str, Any]] = field(default_factory=list)


def train(cfg: TrainConfig, *, model: nn.Module | None = None, task: Task | None = None,
          stop_after_steps: int | None = None,
          on_start: Callable[[dict[str, Any]], None] | None = None) -> TrainResult:
    """Train a fresh run. `model` replaces the registry-built one (a custom model, e.g. a GAN);
    `task` replaces classification (what a batch means: loss and metrics);
    `stop_after_steps` stops as an interruption would (checkpoint saved, `finished` False);
    `on_start` gets config.json's content on rank 0 once the run directory is written."""
    cfg.check()
    with _threads(cfg.threads):
        return _Run(cfg, dist=Dist.from_env(), model=model, task=task).run(
            stop_after=stop_after_steps, on_start=on_start)


def resume(run_dir: str | Path, *, model: nn.Module | None = None, task: Task | None = None,
           stop_after_steps: int | None = None, progress: bool | None = None,
           threads: int | None = None) -> TrainResult:
    """Continue the run in `run_dir` from its `last` checkpoint with its saved config; only the
    display and the thread count may change (a different thread count can change the last bits
    of some CPU kernels, so exactness holds for the same count)."""
    cfg, _ = rd.read_config(Path(run_dir))
    changes = {k: v for k, v in (("progress", progress), ("threads", threads)) if v is not None}
    cfg = replace(cfg, out=str(run_dir), **changes)
    with _threads(cfg.threads):
        return _Run(cfg, dist=Dist.from_env(), model=model, task=task, resume_dir=Path(run_dir)).run(
            stop_after=stop_after_steps)


@contextlib.contextmanager
def _threads(n: int | None) -> Iterator[None]:
    """torch's intra-op thread count for the run, restored after (it is process-wide)."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class _Run:
    def __init__(self, cfg: TrainConfig, *, dist: Dist, model: nn.Module | None, task: Task | None,
                 resume_dir: Path | None = None) -> None:
        self.dist = dist
        if resume_dir is None:
            out = dist.broadcast(str(rd.default_out(cfg)) if cfg.out is None else cfg.out)
            cfg = replace(cfg, out=out, lr=cfg.resolved_lr())
            self._on_main(lambda: rd.check_out(Path(out), overwrite=cfg.overwrite))
        self.cfg, self.out, self.resuming = cfg, Path(cfg.out), resume_dir is not None
        self.s: Setup = build(cfg, dist=dist, model=model)
        self.model = self.s.model
        self.net = DistributedDataParallel(self.model) if dist.enabled else self.model
        self.task = task or self.s.task or ClassificationTask(label_smoothing=cfg.label_smoothing)
        self.schedule = Schedule.from_config(cfg, steps_per_epoch=self.s.steps_per_epoch)
        self.step, self.epoch, self.batch = 0, 0, 0
        self.history: list[dict[str, Any]] = []
        self.meter = Meter()
        self.best: float | None = None
        self.last_finite: float | None = None
        self.interrupted = False
        self._sigint = False
        self.last_plot = time.monotonic()  # the first plot waits for a curve with a few points

    def _on_main(self, fn: Callable[[], Any]) -> None:
        """Run `fn` on rank 0 and raise its error on every rank, so no rank waits alone."""
        error = None
        if self.dist.is_main:
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - re-raised below, after the other ranks hear of it
                error = e
        message = self.dist.broadcast(None if error is None else str(error))
        if error is not None:
            raise error
        if message is not None:
            raise ValueError(message)

    # ---- the run ---------------------------------------------------------------------------

    def run(self, *, stop_after: int | None, on_start: Callable[[dict], None] | None = None) -> TrainResult:
        cfg = self.cfg
        if self.resuming:
            restore_state(self)
        else:
            def start() -> None:
                rd.claim(self.out, overwrite=cfg.overwrite)
                doc = rd.write_config(self.out, cfg, facts=self.facts())
                if on_start is not None:
                    on_start(doc)
            self._on_main(start)
        try:
            with self._catch_sigint():
                stopped = self._loop(stop_after)
        finally:
            self.dist.close()
        test_acc = self.history[-1].get("test_acc") if self.history else None
        return TrainResult(run_dir=self.out, model=self.model, epochs_done=self.epoch, step=self.step,
                           finished=not stopped, test_acc=test_acc, best=self.best, history=self.history)

    def facts(self) -> dict[str, Any]:
        b = self.s.bundle
        data = {"name": b.name, "classes": b.classes, "in_chans": b.in_chans,
                "image_size": list(self.s.image_size), "mean": list(b.mean), "std": list(b.std),
                "train": len(self.s.train_loader.dataset), "test": len(b.test),
                "val": len(self.s.val_loader.dataset) if self.s.val_loader else 0}
        if hasattr(b, "vocabs"):  # a sequence run: what `archzoo generate / translate` decode with
            data.update(unit=b.unit, vocabs=b.vocabs)
        return {"model": model_facts(self.cfg, self.s), "world_size": self.dist.world_size, "data": data,
                "steps_per_epoch": self.s.steps_per_epoch}

    def _loop(self, stop_after: int | None) -> bool:
        """Train to the end; True when stopped early (interruption or `stop_after`)."""
        cfg, loader = self.cfg, self.s.train_loader
        while self.epoch < cfg.epochs:
            loader.set_epoch(self.epoch)
            batches = loader.iter_from(self.batch)
            bar = tqdm(total=self.s.steps_per_epoch, initial=self.batch, leave=False, dynamic_ncols=True,
                       desc=f"epoch {self.epoch + 1}/{cfg.epochs}", file=sys.stderr,
                       disable=not (cfg.progress and self.dist.is_main))
            with bar:
                while self.batch < self.s.steps_per_epoch:
                    t0 = time.perf_counter()
                    lr = self.schedule.apply(self.s.optimizers, self.step)
                    self._train_step(next(batches))
                    self.meter.seconds += time.perf_counter() - t0
                    self.step += 1
                    self.batch += 1
                    bar.update(1)
                    bar.set_postfix(self._postfix(lr), refresh=False)
                    if self.interrupted or self.step == stop_after:
                        save_state(self, finished=False, stopping=True)
                        if self.interrupted:
                            if self.dist.is_main:
                                tqdm.write(f"interrupted at step {self.step}; checkpoint saved; continue with "
                                           f"`archzoo train --resume {self.out}`", file=sys.stderr)
                            raise KeyboardInterrupt
                        return True
            self._end_epoch()
        return False

    def _train_step(self, batch: Any) -> None:
        opts = self.s.optimizers
        self.model.train()
        n = batch[1].shape[0] if isinstance(batch, (tuple, list)) else 0
        if self.s.custom_step:
            with autocast(self.cfg.bf16):
                metrics = {k: float(v) for k, v in self.model.train_step(batch, opts).items()}
            finite = all(math.isfinite(v) for v in metrics.values())
            self._check_finite(metrics.get("loss", 0.0) if finite else math.nan)
            self.meter.add(loss=metrics.get("loss", 0.0), count=n, sums={k: v * n for k, v in metrics.items()})
            return
        for opt in opts:
            opt.zero_grad(set_to_none=True)
        with autocast(self.cfg.bf16):
            out = self.task.step(self.net, batch)
        self._check_finite(out.loss.item())
        out.loss.backward()
        if self.cfg.clip_grad:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip_grad)
        for opt in opts:
            opt.step()
        self.meter.add(loss=out.loss.item(), count=out.count, sums=out.sums)

    def _check_finite(self, loss: float) -> None:
        """Stop before the update on a NaN/Inf loss; also carries Ctrl-C to every rank."""
        total, stop = self.dist.all_sum([loss, float(self._sigint)])
        self.interrupted = stop > 0  # agreed by every rank, so they all stop after this step
        if not math.isfinite(total):
            last = "none yet" if self.last_finite is None else f"{self.last_finite:.6g} at step {self.step}"
            raise TrainingDiverged(
                f"training diverged: loss is {total / self.dist.world_size} at step {self.step + 1} "
                f"(epoch {self.epoch + 1}); last finite loss {last}; {ADVICE} "
                f"(the last good checkpoint in {self.out} is kept)")
        self.last_finite = total / self.dist.world_size

    def _postfix(self, lr: float) -> dict[str, str]:
        m = self.meter
        if self.s.custom_step:
            post = {k: f"{v / max(m.count, 1):.4f}" for k, v in m.sums.items()}
        else:
            post = {k: f"{v:.4f}" for k, v in
                    self.task.summarize(loss_sum=m.loss_sum, count=m.count, sums=m.sums).items()}
        post["lr"] = f"{lr:.3g}"
        post["samples/s"] = f"{m.count * self.dist.world_size / max(m.seconds, 1e-9):.0f}"
        return post

    @torch.no_grad()
    def _measure(self, loader: Any) -> dict[str, float]:
        """The task's metrics over a whole loader in eval mode (validation, test). Every rank
        measures the full set on identical weights, so no reduction is needed."""
        self.model.eval()
        meter = Meter()
        for batch in loader:
            with autocast(self.cfg.bf16):
                out = self.task.step(self.model, batch)
            meter.add(loss=out.loss.item(), count=out.count, sums=out.sums)
        self.model.train()
        return self.task.summarize(loss_sum=meter.loss_sum, count=meter.count, sums=meter.sums)

    def _end_epoch(self) -> None:
        cfg = self.cfg
        lr = self.s.optimizers[0].param_groups[0]["lr"]  # the last step's (restored on resume)
        keys = sorted(self.meter.sums)
        loss_sum, count, seconds, *sums = self.dist.all_sum(
            [self.meter.loss_sum, float(self.meter.count), self.meter.seconds] + [self.meter.sums[k] for k in keys])
        seconds /= self.dist.world_size
        row: dict[str, Any] = {"epoch": self.epoch + 1, "step": self.step, "lr": lr, "seconds": seconds,
                               "samples_per_s": count / seconds if seconds else math.nan}
        self.epoch, self.batch, self.meter = self.epoch + 1, 0, Meter()
        last_epoch = self.epoch == cfg.epochs
        if self.s.custom_step:  # its own step, its own metrics: no task to validate with
            row.update({f"train_{k}": v / count for k, v in zip(keys, sums)})
        else:
            train = self.task.summarize(loss_sum=loss_sum, count=int(count), sums=dict(zip(keys, sums)))
            row.update({f"train_{k}": v for k, v in train.items()})
            if self.s.val_loader is not None:
                row.update({f"val_{k}": v for k, v in self._measure(self.s.val_loader).items()})
            if last_epoch:
                row.update({f"test_{k}": v for k, v in self._measure(self.s.test_loader).items()})
        self.history.append(row)
        score = row.get(f"val_{self.task.best_metric}")
        higher = self.task.higher_is_better
        if score is None:  # no validation set: the training loss decides
            score, higher = row.get("train_loss"), False
        improved = score is None or self.best is None or (score > self.best if higher else score < self.best)
        if improved:
            self.best = score
        save_state(self, finished=last_epoch, best=improved)
        if cfg.keep_checkpoints and self.dist.is_main:
            rd.keep_epoch_checkpoint(self.out, epoch=self.epoch, keep=cfg.keep_checkpoints)
        if cfg.progress and self.dist.is_main:
            order = [k for k in row if k.startswith(("train_", "val_", "test_"))] + ["lr", "samples_per_s"]
            shown = " ".join(f"{k}={row[k]:.4g}" for k in order if isinstance(row.get(k), float))
            tqdm.write(f"epoch {row['epoch']}/{cfg.epochs} {shown} ({row['seconds']:.1f}s)", file=sys.stderr)

    @contextlib.contextmanager
    def _catch_sigint(self) -> Iterator[None]:
        """First Ctrl-C: finish the step, checkpoint, stop. A second one stops at once."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.getsignal(signal.SIGINT)

        def handler(signum: int, frame: Any) -> None:
            self._sigint = True
            signal.signal(signal.SIGINT, previous)

        signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)
