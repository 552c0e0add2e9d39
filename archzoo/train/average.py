"""Checkpoint averaging: one model whose parameters are the mean of a run's last N checkpoints.

Vaswani et al. 2017, "Attention Is All You Need" (arXiv:1706.03762), section 6.1: the base models
are "a single model obtained by averaging the last 5 checkpoints, which were written at 10-minute
intervals", the big models average the last 20. Late in training the weights wander around a
minimum; their mean sits nearer its centre than any one of them.

`archzoo avg-checkpoints RUN_DIR --last N [--out NAME]` writes NAME.safetensors and NAME.json into
the run directory, a weights-only checkpoint that `archzoo eval`, `translate` and `generate` load
with `--checkpoint NAME`.

Departures and choices:
- The checkpoints are the weights at the end of each epoch, kept by `archzoo train
  --keep-checkpoints K`, not snapshots at fixed wall-clock intervals (a shared CPU's clock says
  little about progress).
- Floating tensors (parameters and buffers such as BatchNorm's running statistics) are summed in
  float64, divided by N and rounded once to their stored dtype: the correctly rounded mean.
  Integer and boolean buffers (BatchNorm's num_batches_tracked) are counts, not estimates: they
  are copied from the newest checkpoint.
- The sidecar is the newest checkpoint's, with its per-epoch metrics dropped (they do not describe
  the average) and the averaged tags listed under "averaged_from".
Everything is read and checked before anything is written, and each file is written atomically,
weights first and sidecar last, so a failure leaves the run directory as it was.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import torch

from . import run_dir as rd
from .checkpoint import CheckpointError, read_sidecar, read_tensors, save_weights

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
RESERVED = ("last", "best")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("avg-checkpoints", help="average the weights of a run's last N epoch checkpoints",
                       description="Average the parameters of the last N epoch checkpoints of RUN_DIR "
                                   "(kept by `archzoo train --keep-checkpoints K`) into a new checkpoint "
                                   "NAME in RUN_DIR; evaluate it with --checkpoint NAME.")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--last", type=int, required=True, metavar="N",
                   help="how many of the newest epoch checkpoints to average (the paper: 5, or 20 for big)")
    p.add_argument("--out", metavar="NAME", help="checkpoint name in RUN_DIR (default: avg-lastN)")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    tag, sources = average_checkpoints(args.run_dir, last=args.last, out=args.out)
    directory = Path(args.run_dir).expanduser()
    print(f"averaged {len(sources)} checkpoint(s) ({sources[0]} .. {sources[-1]}): {directory / tag}.safetensors")
    return 0


def average_checkpoints(run_dir: str | Path, *, last: int, out: str | None = None) -> tuple[str, list[str]]:
    """Average the newest `last` epoch checkpoints of `run_dir` into checkpoint `out` there.
    Returns (the written tag, the averaged tags oldest first)."""
    directory = Path(run_dir).expanduser()
    if not rd.is_run(directory):
        raise ValueError(f"{directory}: expected a run directory written by `archzoo train`, got "
                         + ("a directory without its config.json" if directory.is_dir() else "no such directory"))
    if last < 1:
        raise ValueError(f"--last: expected a number of checkpoints >= 1, got {last}")
    kept = [tag for _, tag in rd.kept_checkpoints(directory)]
    if not kept:
        raise ValueError(f"{directory}: expected epoch checkpoints to average, got none (train with "
                         f"--keep-checkpoints K to keep the last K epochs)")
    if last > len(kept):
        raise ValueError(f"--last {last}: expected at most {len(kept)}, the epoch checkpoints kept in "
                         f"{directory} ({kept[0]} .. {kept[-1]})")
    tag = out if out is not None else f"avg-last{last}"
    _check_name(directory, tag)
    sources = kept[-last:]
    weights, meta = _mean(directory, sources)
    meta = {k: v for k, v in meta.items() if k not in ("format", "token")}
    meta.update(metrics={}, averaged_from=sources)
    save_weights(directory, tag, weights=weights, meta=meta)
    return tag, sources


def _check_name(directory: Path, tag: str) -> None:
    if not NAME.fullmatch(tag) or tag.endswith(".state"):
        raise ValueError(f"--out: expected a checkpoint name of letters, digits, '_', '-' and '.', got {tag!r}")
    if tag in RESERVED or rd.EPOCH_TAG.fullmatch(tag):
        raise ValueError(f"--out: expected a new name, got {tag!r}, which `archzoo train` writes itself")
    sidecar = directory / f"{tag}.json"
    if sidecar.exists():  # an earlier average of the same name may be replaced; nothing else may
        try:
            previous = read_sidecar(sidecar)
        except CheckpointError:
            previous = {}
        if "averaged_from" not in previous:
            raise ValueError(f"--out {tag}: {sidecar} exists and is not an averaged checkpoint; choose another name")


def _mean(directory: Path, tags: list[str]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(averaged weights, newest sidecar); every checkpoint checked to be whole and of one model."""
    sums: dict[str, torch.Tensor] = {}
    reference: dict[str, torch.Tensor] = {}
    newest: dict[str, torch.Tensor] = {}
    meta: dict[str, Any] = {}
    for i, tag in enumerate(tags):
        meta_i = read_sidecar(directory / f"{tag}.json")
        tensors, tmeta = read_tensors(directory / f"{tag}.safetensors")
        if tmeta.get("token") != meta_i.get("token"):
            raise CheckpointError(f"{directory / tag}: weights and sidecar come from different saves")
        if i == 0:
            meta, reference = meta_i, tensors
            sums = {k: torch.zeros(v.shape, dtype=torch.float64) for k, v in tensors.items()
                    if v.is_floating_point()}
        else:
            _same_model(directory, tags[0], meta, reference, tag, meta_i, tensors)
        for k, acc in sums.items():
            acc += tensors[k].double()
        newest, meta = tensors, meta_i
    n = len(tags)
    averaged = {k: (sums[k] / n).to(v.dtype) if k in sums else v for k, v in newest.items()}
    return averaged, meta


def _same_model(directory: Path, first: str, meta0: dict[str, Any], ref: dict[str, torch.Tensor],
                tag: str, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    where = f"{directory / tag}"
    for key in ("model", "model_args"):
        if meta.get(key) != meta0.get(key):
            raise CheckpointError(f"{where}: expected the {key} of {first} ({meta0.get(key)!r}), got {meta.get(key)!r}")
    if set(tensors) != set(ref):
        odd = sorted(set(tensors) ^ set(ref))
        raise CheckpointError(f"{where}: expected the tensors of {first}, got {len(odd)} different (e.g. {odd[0]})")
    for k, v in tensors.items():
        if v.shape != ref[k].shape or v.dtype != ref[k].dtype:
            raise CheckpointError(f"{where}: {k} expected {tuple(ref[k].shape)} {ref[k].dtype} like {first}, "
                                  f"got {tuple(v.shape)} {v.dtype}")
