"""Checkpoints without pickle: safetensors for tensors, JSON for everything else.

A checkpoint `<tag>` in a run directory is up to four files:
  <tag>.safetensors        model weights (loading never runs code, unlike torch.load of a pickle)
  <tag>.json               the sidecar: model name and overrides, classes, input shape, mean/std,
                           epoch, step, metrics; enough to rebuild the model with no other file
  <tag>.state.safetensors  optimizer tensors and RNG states (only for checkpoints one resumes from)
  <tag>.state.json         optimizer hyper-parameters, scheduler, loop position, metric history
Each file is written atomically and the sidecar last; all of them carry one random token, so a
crash between two writes is caught on load instead of resuming from a mixed checkpoint.
"""
from __future__ import annotations

import json
import random
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from safetensors import safe_open
from safetensors.torch import save_file

from . import _io

FORMAT = "archzoo-checkpoint"


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, inconsistent or does not fit the model (one line)."""


def new_token() -> str:
    return uuid.uuid4().hex[:12]


# ---- tensors <-> files -----------------------------------------------------------------------


def write_tensors(path: Path, tensors: dict[str, torch.Tensor], *, token: str) -> None:
    # Clones break any storage sharing (tied weights), which safetensors refuses to write.
    flat = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
    _io.write_with(path, lambda tmp: save_file(flat, str(tmp), metadata={"token": token}))


def read_tensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """All tensors and the metadata of a safetensors file; any failure is a one-line error."""
    if not path.is_file():
        raise CheckpointError(f"{path}: expected a checkpoint file, got none")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            return {k: f.get_tensor(k) for k in f.keys()}, meta
    except Exception as e:  # safetensors raises its own error types for truncated/garbled files
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"{path}: corrupt or truncated safetensors file ({reason})") from None


def read_sidecar(path: Path) -> dict[str, Any]:
    try:
        meta = _io.read_json(path)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: expected a checkpoint sidecar, got none") from None
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path}: corrupt checkpoint sidecar ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: expected an archzoo checkpoint sidecar, got another JSON file")
    return meta


# ---- optimizer and RNG state as (tensors, JSON) ----------------------------------------------


def optimizer_state(opt: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, slots in sd["state"].items():
        for name, value in slots.items():
            if torch.is_tensor(value):
                tensors[f"{prefix}.{pid}.{name}"] = value
            else:
                scalars.setdefault(str(pid), {})[name] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def load_optimizer_state(opt: torch.optim.Optimizer, prefix: str, tensors: dict[str, torch.Tensor],
                         info: dict) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith(prefix + "."):
            pid, name = key[len(prefix) + 1:].split(".", 1)
            state.setdefault(int(pid), {})[name] = value
    for pid, slots in info["scalars"].items():
        state.setdefault(int(pid), {}).update(slots)
    opt.load_state_dict({"state": state, "param_groups": info["param_groups"]})


def rng_state(prefix: str) -> tuple[dict[str, torch.Tensor], dict]:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    tensors = {f"{prefix}.torch": torch.get_rng_state(),
               f"{prefix}.numpy": torch.from_numpy(np.asarray(keys, dtype=np.int64))}
    return tensors, {"numpy": [name, int(pos), int(has_gauss), float(cached)],
                     "python": json.loads(json.dumps(random.getstate()))}


def load_rng_state(prefix: str, tensors: dict[str, torch.Tensor], info: dict) -> None:
    torch.set_rng_state(tensors[f"{prefix}.torch"])
    name, pos, has_gauss, cached = info["numpy"]
    np.random.set_state((name, tensors[f"{prefix}.numpy"].numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = info["python"]
    random.setstate((version, tuple(internal), gauss))


# ---- weights into a model --------------------------------------------------------------------


def load_weights(model: nn.Module, weights: dict[str, torch.Tensor], *, source: str) -> None:
    """Load `weights` strictly; a misfit names the tensors (expected vs got shapes, first few)."""
    own = model.state_dict()
    missing = [k for k in own if k not in weights]
    unexpected = [k for k in weights if k not in own]
    shapes = [f"{k} expected {tuple(own[k].shape)} got {tuple(weights[k].shape)}"
              for k in own if k in weights and own[k].shape != weights[k].shape]
    problems = []
    for label, items in (("shape mismatch", shapes), ("missing", missing), ("unexpected", unexpected)):
        if items:
            more = f" (+{len(items) - 3} more)" if len(items) > 3 else ""
            problems.append(f"{label} {len(items)}: {', '.join(items[:3])}{more}")
    if problems:
        name = getattr(model, "model_name", type(model).__name__)
        raise CheckpointError(f"{source} does not fit {name}: {'; '.join(problems)}")
    model.load_state_dict(weights)


def resolve(path_or_run_dir: str | Path, *, tag: str = "best") -> tuple[Path, str]:
    """(directory, tag) of a checkpoint given as a run directory, `<tag>.safetensors`,
    `<tag>.json` or a bare `<dir>/<tag>`; a run directory prefers `best`, else `last`, and any
    other tag asked for by name (an epoch or averaged checkpoint) must be there."""
    p = Path(path_or_run_dir).expanduser()
    if p.is_dir():
        for t in (tag, "last") if tag == "best" else (tag,):
            if (p / f"{t}.json").is_file():
                return p, t
        if tag != "best":
            raise CheckpointError(f"{p}: expected a checkpoint {tag}.json in the run directory, got none")
        raise CheckpointError(f"{p}: expected a run directory with {tag}.json or last.json, got neither")
    stem = p.name
    for suffix in (".safetensors", ".json"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    if not (p.parent / f"{stem}.json").is_file():
        raise CheckpointError(f"{p}: expected a checkpoint (RUN_DIR, TAG.safetensors or TAG.json), got no such file")
    return p.parent, stem


def load_checkpoint(path_or_run_dir: str | Path, *, model: nn.Module | None = None,
                    tag: str = "best") -> tuple[nn.Module, dict[str, Any]]:
    """(model in eval mode, sidecar meta). The model is rebuilt from the sidecar unless given."""
    from ..models._registry import create_model_for_data
    from ._setup import model_overrides

    directory, tag = resolve(path_or_run_dir, tag=tag)
    meta = read_sidecar(directory / f"{tag}.json")
    weights, wmeta = read_tensors(directory / f"{tag}.safetensors")
    if wmeta.get("token") != meta.get("token"):
        raise CheckpointError(f"{directory / tag}: weights and sidecar come from different saves")
    if model is None and _task(meta.get("model", "")) != "classification":
        model = _sequence_model(directory)
    if model is None:
        try:
            model = create_model_for_data(meta["model"], in_chans=meta["in_chans"],
                                          num_classes=meta["num_classes"],
                                          image_size=tuple(meta["image_size"]), **model_overrides(meta["model_args"]))
        except KeyError as e:
            raise CheckpointError(f"{directory / tag}.json: missing or unknown entry {e}") from None
    load_weights(model, weights, source=f"{directory / tag}.safetensors (a {meta.get('model')} checkpoint)")
    return model.eval(), meta


def _task(name: str) -> str:
    from ._setup import card_task

    return card_task(name)


def _sequence_model(directory: Path) -> nn.Module:
    """A sequence model's sizes come from its data (vocabularies, lengths): config.json of the run
    records the family config it was built with, so the model is rebuilt from that."""
    from ..models._registry import create_model
    from . import run_dir as rd
    from ._setup import model_overrides

    if not rd.is_run(directory):
        raise CheckpointError(f"{directory}: a sequence model's checkpoint is rebuilt from its run's "
                              f"config.json, and this folder has none; pass model=")
    _, doc = rd.read_config(directory)
    return create_model(doc["model"]["name"], **model_overrides(doc["model"]["config"]))


def load_task_run(run_dir: str | Path, *, task: str, vocab: str, what: str | None = None,
                  tag: str = "best") -> tuple[nn.Module, dict[str, Any]]:
    """(model in eval mode, config.json) of a run whose card task is `task` and whose data recorded
    the vocabulary `vocab`: what `generate`, `translate`, `caption` and the word queries open."""
    from ..models._registry import model_card
    from . import run_dir as rd

    directory = Path(run_dir).expanduser()
    if not rd.is_run(directory):
        raise ValueError(f"{directory}: expected a run directory written by `archzoo train`, got "
                         + ("a directory without its config.json" if directory.is_dir() else "no such directory"))
    _, doc = rd.read_config(directory)
    name = doc["model"]["name"]
    found = model_card(name).task
    if found != task or vocab not in doc["data"].get("vocabs", {}):
        raise ValueError(f"{directory}: expected {what or 'a ' + task} run, got {name} ({found})")
    model, _ = load_checkpoint(directory, tag=tag)
    return model, doc


def save_checkpoint(directory: Path, tag: str, *, model: nn.Module, meta: dict[str, Any],
                    state_tensors: dict[str, torch.Tensor] | None = None,
                    state_info: dict[str, Any] | None = None) -> None:
    """Write weights (and training state when given) first, the sidecar last."""
    token = new_token()
    write_tensors(directory / f"{tag}.safetensors", model.state_dict(), token=token)
    if state_tensors is not None:
        write_tensors(directory / f"{tag}.state.safetensors", state_tensors, token=token)
        _io.write_json(directory / f"{tag}.state.json", {**(state_info or {}), "token": token})
    _io.write_json(directory / f"{tag}.json", {"format": FORMAT, **meta, "token": token})


def save_weights(directory: Path, tag: str, *, weights: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """A weights-only checkpoint from tensors (an average of checkpoints): weights first, sidecar last."""
    token = new_token()
    write_tensors(directory / f"{tag}.safetensors", weights, token=token)
    try:
        _io.write_json(directory / f"{tag}.json", {"format": FORMAT, **meta, "token": token})
    except BaseException:  # weights without a sidecar are no checkpoint: leave no such debris
        (directory / f"{tag}.safetensors").unlink(missing_ok=True)
        raise


def load_training_state(directory: Path, tag: str = "last") -> tuple[dict, dict[str, torch.Tensor], dict]:
    """(sidecar, state tensors, state JSON) of a resumable checkpoint, checked to be one save."""
    meta = read_sidecar(directory / f"{tag}.json")
    tensors, tmeta = read_tensors(directory / f"{tag}.state.safetensors")
    try:
        info = _io.read_json(directory / f"{tag}.state.json")
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{directory / tag}.state.json: missing or corrupt ({e})") from None
    if not (meta.get("token") == tmeta.get("token") == info.get("token")):
        raise CheckpointError(f"{directory / tag}: checkpoint files come from different saves")
    return meta, tensors, info
