"""The run directory: one training run's config, metrics, plots and checkpoints.

  config.json    the resolved TrainConfig, model overrides, data facts, archzoo version
  metrics.csv    one row per epoch (rewritten whole from the checkpointed history, so it always
                 agrees with `last`, even after a crash between two writes)
  curves.png     loss and accuracy per epoch
  last.*, best.* checkpoints (see checkpoint.py)
  epoch-NNNN.*   with --keep-checkpoints K, the weights (and sidecar) of each of the last K epochs,
                 copied from `last` when the epoch ends; older ones are deleted
  <name>.*       weights-only checkpoints written by `archzoo avg-checkpoints` (their sidecar
                 lists the epoch checkpoints averaged, under "averaged_from")

A directory that already holds something is never written into unless the user says --overwrite,
and the check happens before anything is created or changed.
"""
from __future__ import annotations

import csv
import io
import re
import shutil
import time
from pathlib import Path
from typing import Any

from .. import __version__
from .._config import from_dict, to_dict
from . import _io
from .checkpoint import FORMAT, CheckpointError
from .config import TrainConfig

RUN_KIND = "archzoo-train-run"
# Files a run writes; --overwrite removes these and leaves anything else the user keeps there.
RUN_FILES = ("config.json", "metrics.csv", "curves.png", "confusion.png",
             *(f"{tag}{ext}" for tag in ("last", "best")
               for ext in (".safetensors", ".json", ".state.safetensors", ".state.json")))
BASE_COLUMNS = ("epoch", "step", "train_loss", "train_acc", "val_loss", "val_acc", "lr",
                "seconds", "samples_per_s")


EPOCH_TAG = re.compile(r"epoch-(\d+)")


def epoch_tag(epoch: int) -> str:
    return f"epoch-{epoch:04d}"


def kept_checkpoints(path: Path) -> list[tuple[int, str]]:
    """(epoch, tag) of the epoch checkpoints in a run directory, oldest first; one counts once its
    sidecar is there (the sidecar is written last and deleted first)."""
    found = []
    for sidecar in Path(path).glob("epoch-*.json"):
        m = EPOCH_TAG.fullmatch(sidecar.stem)
        if m and (sidecar.parent / f"{sidecar.stem}.safetensors").is_file():
            found.append((int(m.group(1)), sidecar.stem))
    return sorted(found)


def keep_epoch_checkpoint(path: Path, *, epoch: int, keep: int) -> None:
    """Copy `last` (weights, then sidecar; each atomically) to epoch-NNNN, and delete all but the
    `keep` most recent epoch checkpoints. A copy keeps the save's token, so weights and sidecar
    still prove they belong together."""
    tag = epoch_tag(epoch)
    for ext in (".safetensors", ".json"):
        _io.write_with(path / f"{tag}{ext}", lambda tmp, ext=ext: shutil.copyfile(path / f"last{ext}", tmp))
    for _, old in kept_checkpoints(path)[:-keep]:
        for ext in (".json", ".safetensors"):
            (path / f"{old}{ext}").unlink(missing_ok=True)


def _derived_checkpoints(path: Path) -> list[str]:
    """Files of epoch and averaged checkpoints: a run's own products, which --overwrite removes."""
    names = []
    for sidecar in path.glob("*.json"):
        try:
            doc = _io.read_json(sidecar)
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and doc.get("format") == FORMAT and (
                EPOCH_TAG.fullmatch(sidecar.stem) or "averaged_from" in doc):
            names += [sidecar.name, f"{sidecar.stem}.safetensors"]
    return names


def default_out(cfg: TrainConfig) -> Path:
    data = Path(cfg.data).name or "data"
    return Path("runs") / f"{cfg.model}-{data}-{time.strftime('%Y%m%d-%H%M%S')}"


def is_run(path: Path) -> bool:
    try:
        return _io.read_json(path / "config.json").get("kind") == RUN_KIND
    except (OSError, ValueError, AttributeError):
        return False


def check_out(path: Path, *, overwrite: bool) -> None:
    """Refuse a directory that holds a run or other files, unless `overwrite`. Writes nothing."""
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"--out {path}: expected a directory, got an existing file")
    if not path.is_dir() or overwrite:
        return
    entries = [p.name for p in path.iterdir()]
    if not entries:
        return
    if is_run(path):
        raise FileExistsError(f"--out {path} already holds a run; pass --overwrite to replace it "
                              f"or --resume {path} to continue it")
    raise FileExistsError(f"--out {path} is not empty ({len(entries)} entries, e.g. {entries[0]}); "
                          f"pass --overwrite to write the run there anyway")


def claim(path: Path, *, overwrite: bool) -> None:
    """Create the directory; with `overwrite`, remove a previous run's files first."""
    path.mkdir(parents=True, exist_ok=True)
    if overwrite:
        for name in (*_derived_checkpoints(path), *RUN_FILES):
            (path / name).unlink(missing_ok=True)


def write_config(path: Path, cfg: TrainConfig, *, facts: dict[str, Any]) -> dict[str, Any]:
    doc = {"kind": RUN_KIND, "archzoo_version": __version__, "config": to_dict(cfg), **facts}
    _io.write_json(path / "config.json", doc)
    return doc


def read_config(path: Path) -> tuple[TrainConfig, dict[str, Any]]:
    """The run's TrainConfig and config.json; a directory that is no archzoo run is an error."""
    path = Path(path).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"--resume {path}: expected a run directory, got no such directory")
    if not is_run(path):
        raise CheckpointError(f"--resume {path}: not an archzoo run (expected config.json written "
                              f"by `archzoo train`)")
    doc = _io.read_json(path / "config.json")
    return from_dict(TrainConfig, doc["config"]), doc


def write_metrics(path: Path, rows: list[dict[str, Any]]) -> None:
    columns = list(BASE_COLUMNS) + sorted({k for r in rows for k in r} - set(BASE_COLUMNS))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _fmt(row.get(k)) for k in columns})
    _io.write_text(path / "metrics.csv", buf.getvalue())


def _fmt(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else value


def read_metrics(path: Path) -> list[dict[str, str]]:
    with open(path / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))
