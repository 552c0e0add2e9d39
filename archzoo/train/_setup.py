"""Everything a run needs before its first step: data, loaders, model, optimizers.

Built before the run directory is touched, so a bad dataset, model name, override or input size
fails with nothing written.
"""
from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from ..data import BatchLoader, DataBundle, build_transforms, load_dataset, split_train_val
from ..models._registry import create_model_for_data, model_card, model_config
from .config import TrainConfig
from .distributed import Dist
from .optim import build_optimizer
from .tasks import ClassificationTask, Task, has_custom_step

EVAL_BATCH = 256  # no gradients are kept, so evaluation batches can be larger than training's


@dataclass
class Setup:
    bundle: DataBundle  # or a _setup_text.TextBundle
    train_loader: BatchLoader  # or LMBatches / PairBatches: set_epoch, iter_from, len, dataset
    val_loader: BatchLoader | None
    test_loader: BatchLoader
    steps_per_epoch: int
    image_size: tuple[int, ...]  # (H, W); a sequence run's (T,)
    model: nn.Module
    optimizers: list[torch.optim.Optimizer]
    custom_step: bool
    task: Task | None = None  # what a batch means, chosen from the model card's task
    data_sizes: dict[str, int] = field(default_factory=dict)  # config fields the data set (vocab sizes)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def card_task(name: str) -> str:
    """The registered model's task ("classification", "language-modelling", "seq2seq", ...);
    "classification" for a name the registry does not know (a custom model passed to `train`)."""
    try:
        return model_card(name).task
    except KeyError:
        return "classification"


def build(cfg: TrainConfig, *, dist: Dist, model: nn.Module | None = None) -> Setup:
    kind = card_task(cfg.model)
    from ._setup_text import TEXT_SETUPS, build_text

    if kind in TEXT_SETUPS:
        return Setup(**build_text(cfg, dist=dist, kind=kind, model=model, overrides=model_overrides(cfg.model_args)))
    if cfg.batch_size % dist.world_size:
        raise ValueError(f"--batch-size {cfg.batch_size}: expected a multiple of the "
                         f"{dist.world_size} processes (each takes an equal share)")
    bundle = load_dataset(cfg.data, data_dir=cfg.data_dir)
    train_set, val_set = bundle.train, None
    if cfg.val_fraction > 0:
        train_set, val_set = split_train_val(bundle.train, val_fraction=cfg.val_fraction, seed=cfg.seed)
        if len(val_set) == 0 or len(train_set) == 0:
            raise ValueError(f"--val-fraction {cfg.val_fraction}: leaves {len(train_set)} training and "
                             f"{len(val_set)} validation images; expected both non-empty")
    per_rank = cfg.batch_size // dist.world_size
    shard = -(-len(train_set) // dist.world_size)
    train_loader = BatchLoader(
        train_set, batch_size=per_rank, shuffle=True, seed=cfg.seed,
        transform=build_transforms(bundle, train=True, augment=cfg.augment, resize=cfg.resize),
        # A last batch of one image breaks batch norm; a dropped tail is reshuffled in next epoch.
        drop_last=shard >= per_rank, rank=dist.rank, world_size=dist.world_size)
    plain = build_transforms(bundle, train=False, augment=False, resize=cfg.resize)

    def eval_loader(ds: Any) -> BatchLoader:
        return BatchLoader(ds, batch_size=EVAL_BATCH, shuffle=False, seed=cfg.seed, transform=plain)

    steps = len(train_loader)
    if cfg.max_steps_per_epoch:
        steps = min(steps, cfg.max_steps_per_epoch)
    size = (cfg.resize, cfg.resize) if cfg.resize else tuple(bundle.image_size)

    seed_everything(cfg.seed)  # the same initial weights on every rank and every rerun
    if model is None:
        model = _create(cfg, bundle, size)
    check = getattr(model, "check_input", None)
    if callable(check):  # wrong channels or too small an image fail here, not at step 1
        check(torch.empty(1, bundle.in_chans, *size))
    custom = has_custom_step(model)
    if custom and dist.enabled:
        raise ValueError(f"{cfg.model}: models with their own train_step do not run under torchrun yet")
    optimizers = list(model.configure_optimizers(cfg)) if custom else [build_optimizer(model.parameters(), cfg)]
    if dist.rank:
        torch.manual_seed(cfg.seed + dist.rank)  # distinct dropout masks per rank
    return Setup(bundle=bundle, train_loader=train_loader,
                 val_loader=eval_loader(val_set) if val_set is not None else None,
                 test_loader=eval_loader(bundle.test), steps_per_epoch=steps, image_size=size,
                 model=model, optimizers=optimizers, custom_step=custom,
                 task=ClassificationTask(label_smoothing=cfg.label_smoothing))


def model_overrides(args: dict[str, Any]) -> dict[str, Any]:
    """JSON lists back to tuples: family configs are frozen (hashable) dataclasses of tuples."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}


def _create(cfg: TrainConfig, bundle: DataBundle, size: tuple[int, int]) -> nn.Module:
    try:
        model = create_model_for_data(cfg.model, in_chans=bundle.in_chans, num_classes=bundle.num_classes,
                                      image_size=size, **model_overrides(cfg.model_args))
    except TypeError as e:  # an override the family's config does not have, or of the wrong type
        if not cfg.model_args:
            raise
        raise ValueError(f"--model-args {cfg.model_args}: {e}") from None
    if cfg.init:  # transfer learning: reference weights, a fresh head, optionally a frozen body
        from ..models._reference import init_for_transfer

        init_for_transfer(model, cfg.init, source=cfg.source, freeze=cfg.freeze, num_classes=bundle.num_classes)
    return model


def model_facts(cfg: TrainConfig, setup: Setup) -> dict[str, Any]:
    """What config.json records about the model: overrides as given and the full family config."""
    model = setup.model
    facts: dict[str, Any] = {
        "name": getattr(model, "model_name", cfg.model), "overrides": dict(cfg.model_args),
        "params": sum(p.numel() for p in model.parameters()),
    }
    try:
        base = model_config(facts["name"])
    except KeyError:
        base = None
    if dataclasses.is_dataclass(base):
        fields = {f.name for f in dataclasses.fields(base)}
        resolved = {k: v for k, v in {"in_chans": setup.bundle.in_chans, "num_classes": setup.bundle.num_classes,
                                      "img_size": setup.image_size[0], **setup.data_sizes,
                                      **cfg.model_args}.items() if k in fields}
        facts["config"] = {k: v if isinstance(v, (int, float, str, bool, type(None), list, tuple)) else repr(v)
                           for k, v in dataclasses.asdict(dataclasses.replace(base, **resolved)).items()}
    return facts
