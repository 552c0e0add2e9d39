"""Saving and restoring a run's full training state (the `last` checkpoint and its companions).

The state is what an uninterrupted run would still hold in memory: weights, optimizer slots,
each rank's RNG states, the step, the position in the epoch, the epoch's running sums, the metric
history and the best score so far. Every rank joins the save (its RNG state is gathered); only
rank 0 writes.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from . import run_dir as rd
from .checkpoint import (
    CheckpointError,
    load_optimizer_state,
    load_rng_state,
    load_training_state,
    load_weights,
    optimizer_state,
    read_tensors,
    rng_state,
    save_checkpoint,
)
from .tasks import Meter

if TYPE_CHECKING:
    from .trainer import _Run


def _meta(run: _Run, *, finished: bool) -> dict[str, Any]:
    """The sidecar: enough to rebuild the model and preprocess its inputs with no other file."""
    b, cfg = run.s.bundle, run.cfg
    return {
        "model": getattr(run.model, "model_name", cfg.model), "model_args": dict(cfg.model_args),
        "num_classes": b.num_classes, "in_chans": b.in_chans, "image_size": list(run.s.image_size),
        "classes": b.classes, "mean": list(b.mean), "std": list(b.std), "data": cfg.data,
        "epoch": run.epoch, "step": run.step, "finished": finished,
        "metrics": run.history[-1] if run.history else {},
    }


PLOT_EVERY_S = 30.0  # a plot costs a good part of a second: short epochs re-plot at most this often


def save_state(run: _Run, *, finished: bool, best: bool = False, stopping: bool = False) -> None:
    tensors: dict = {}
    info: dict[str, Any] = {"optimizers": [], "rng": []}
    for i, opt in enumerate(run.s.optimizers):
        t, j = optimizer_state(opt, f"optim{i}")
        tensors.update(t)
        info["optimizers"].append(j)
    for rank, (t, j) in enumerate(run.dist.gather(rng_state("rng"))):
        tensors.update({k.replace("rng.", f"rng{rank}.", 1): v for k, v in t.items()})
        info["rng"].append(j)
    info.update(step=run.step, epoch=run.epoch, batch=run.batch, meter=run.meter.state(),
                history=run.history, best=run.best, last_finite=run.last_finite,
                world_size=run.dist.world_size, schedule={"kind": run.schedule.kind, "step": run.step})
    if run.dist.is_main:
        meta = _meta(run, finished=finished)
        save_checkpoint(run.out, "last", model=run.model, meta=meta, state_tensors=tensors, state_info=info)
        if best:
            save_checkpoint(run.out, "best", model=run.model, meta=meta)
        rd.write_metrics(run.out, run.history)
        due = finished or stopping or time.monotonic() - run.last_plot >= PLOT_EVERY_S
        if run.history and due:
            from ..viz.curves import plot_curves

            plot_curves(run.history, run.out / "curves.png", title=f"{meta['model']} on {run.s.bundle.name}")
            run.last_plot = time.monotonic()
    run.dist.barrier()  # no rank runs ahead of a checkpoint it might need to resume from


def restore_state(run: _Run) -> None:
    out = run.out
    if not (out / "last.json").is_file():
        raise CheckpointError(f"--resume {out}: the run has no checkpoint yet (it stopped before its "
                              f"first); start it again with --overwrite")
    meta, tensors, info = load_training_state(out, "last")
    if meta.get("finished"):
        acc = meta.get("metrics", {}).get("test_acc")
        shown = f", test accuracy {acc:.4f}" if isinstance(acc, float) else ""
        raise ValueError(f"--resume {out}: the run already finished ({meta['epoch']} epoch(s){shown}); "
                         f"start a new run to train longer")
    if info["world_size"] != run.dist.world_size:
        raise ValueError(f"--resume {out}: the run used {info['world_size']} process(es), this one "
                         f"{run.dist.world_size}; exact resume needs the same number")
    weights, wmeta = read_tensors(out / "last.safetensors")
    if wmeta.get("token") != meta.get("token"):
        raise CheckpointError(f"{out}/last: weights and sidecar come from different saves")
    load_weights(run.model, weights, source=str(out / "last.safetensors"))
    if len(info["optimizers"]) != len(run.s.optimizers):
        raise CheckpointError(f"{out}/last: expected {len(run.s.optimizers)} optimizer state(s), "
                              f"got {len(info['optimizers'])}")
    for i, (opt, j) in enumerate(zip(run.s.optimizers, info["optimizers"])):
        load_optimizer_state(opt, f"optim{i}", tensors, j)
    rank = run.dist.rank
    load_rng_state(f"rng{rank}", tensors, info["rng"][rank])
    run.step, run.epoch, run.batch = info["step"], info["epoch"], info["batch"]
    run.meter = Meter(info["meter"])
    run.history, run.best, run.last_finite = info["history"], info["best"], info["last_finite"]
