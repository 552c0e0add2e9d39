"""Optimizers and per-step learning-rate schedules.

Schedules are pure functions of the global step rather than stateful torch schedulers: the
learning rate at step s is `lr * factor(s)`, so resuming needs only the step count (saved as JSON),
and a schedule can be plotted or tested without an optimizer.

- step: lr * gamma ** (epoch // step_size), the ResNet paper's divide-by-10 recipe.
- cosine: SGDR's half cosine from lr to 0 (Loshchilov & Hutter 2017, arXiv:1608.03983), without
  restarts.
- onecycle: Smith & Topin 2019 (arXiv:1708.07120): linear warm-up from lr/25 to lr over the
  warm-up (30% of the run unless --warmup-epochs is set), then cosine annealing to lr/1e4.
  Departure: momentum is not cycled inversely to the learning rate.
Every schedule but one-cycle takes an optional linear warm-up from 0 to lr (Goyal et al. 2017,
arXiv:1706.02677), after which the main schedule runs over the remaining steps.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import torch

from .config import TrainConfig
from .warmup import inverse_sqrt_factor

ONECYCLE_DEFAULT_WARMUP = 0.3
ONECYCLE_START_DIV = 25.0
ONECYCLE_FINAL_DIV = 1e4


def build_optimizer(params: Iterable[torch.nn.Parameter], cfg: TrainConfig) -> torch.optim.Optimizer:
    lr, wd = cfg.resolved_lr(), cfg.weight_decay
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, nesterov=cfg.nesterov, weight_decay=wd)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=cfg.momentum, weight_decay=wd)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}; expected sgd, adam, adamw or rmsprop")


@dataclass(frozen=True)
class Schedule:
    """The learning-rate multiplier as a function of the global step (0-based)."""

    kind: str
    total_steps: int
    steps_per_epoch: int
    warmup_steps: int = 0
    step_size: int = 30  # epochs, for kind="step"
    gamma: float = 0.1
    floor: float = 0.0  # kind="cosine": the final multiplier, min_lr / lr

    @classmethod
    def from_config(cls, cfg: TrainConfig, *, steps_per_epoch: int) -> Schedule:
        total = cfg.epochs * steps_per_epoch
        warmup = cfg.warmup_epochs
        if cfg.schedule == "onecycle" and warmup == 0:
            warmup = ONECYCLE_DEFAULT_WARMUP * cfg.epochs
        return cls(kind=cfg.schedule, total_steps=total, steps_per_epoch=steps_per_epoch,
                   warmup_steps=min(total, round(warmup * steps_per_epoch)),
                   step_size=cfg.step_size, gamma=cfg.gamma, floor=cfg.min_lr / cfg.resolved_lr())

    def factor(self, step: int) -> float:
        w = self.warmup_steps
        if self.kind == "onecycle":
            start = 1 / ONECYCLE_START_DIV
            if step < w:
                return start + (1 - start) * step / w
            return _cosine(step - w, self.total_steps - w, floor=1 / ONECYCLE_FINAL_DIV)
        if step < w and self.kind != "inverse-sqrt":
            return (step + 1) / w  # reaches exactly 1 on the last warm-up step
        if self.kind == "constant":
            return 1.0
        if self.kind == "step":
            return self.gamma ** (step // self.steps_per_epoch // self.step_size)
        if self.kind == "cosine":
            return _cosine(step - w, self.total_steps - w, floor=self.floor)
        if self.kind == "inverse-sqrt":  # Vaswani et al. 2017, section 5.3, scaled to peak at 1
            return inverse_sqrt_factor(step + 1, warmup_steps=max(w, 1))
        raise ValueError(f"unknown schedule {self.kind!r}; expected constant, step, cosine, onecycle or inverse-sqrt")

    def apply(self, optimizers: list[torch.optim.Optimizer], step: int) -> float:
        """Set every group's lr for `step` from its base lr; return the first group's."""
        f = self.factor(step)
        for opt in optimizers:
            for group in opt.param_groups:
                group.setdefault("base_lr", group["lr"])
                group["lr"] = group["base_lr"] * f
        return optimizers[0].param_groups[0]["lr"]


def _cosine(t: int, span: int, *, floor: float) -> float:
    if span <= 0:
        return 1.0
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(t, span) / span))
