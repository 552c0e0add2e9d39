"""What a training step computes, kept apart from the loop that runs it.

The trainer knows batches, optimizers, schedules and checkpoints; a `Task` knows what a batch means:
how to get a loss from a model and a batch, and which metrics to sum. Classification is the first
task; language modelling (loss per token, perplexity) and seq2seq plug in by implementing the same
three members. Models that need full control of their step (GANs: two optimizers, alternating
updates) define `configure_optimizers(cfg)` and `train_step(batch, optimizers)`; see
`has_custom_step`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class StepOutput:
    loss: torch.Tensor  # the mean loss to back-propagate
    count: int  # how many examples (or tokens) the mean is over
    sums: dict[str, float] = field(default_factory=dict)  # metric numerators over `count`


class Task(Protocol):
    best_metric: str  # the validation metric that picks the `best` checkpoint
    higher_is_better: bool

    def step(self, model: nn.Module, batch: Any) -> StepOutput: ...

    def summarize(self, *, loss_sum: float, count: int, sums: dict[str, float]) -> dict[str, float]:
        """Turn summed loss and metric numerators into metrics: {"loss": ..., "acc": ...}."""
        ...


class ClassificationTask:
    """Cross-entropy (with optional label smoothing) on (images, labels) batches; accuracy."""

    best_metric = "acc"
    higher_is_better = True

    def __init__(self, *, label_smoothing: float = 0.0) -> None:
        self.label_smoothing = label_smoothing

    def step(self, model: nn.Module, batch: Any) -> StepOutput:
        x, y = batch
        logits = model(x)  # B num_classes
        # Smoothing regularizes training; evaluation reports the plain cross-entropy.
        smoothing = self.label_smoothing if model.training else 0.0
        loss = F.cross_entropy(logits.float(), y, label_smoothing=smoothing)
        correct = (logits.argmax(dim=1) == y).sum().item()
        return StepOutput(loss=loss, count=y.shape[0], sums={"correct": float(correct)})

    def summarize(self, *, loss_sum: float, count: int, sums: dict[str, float]) -> dict[str, float]:
        if count == 0:
            return {"loss": math.nan, "acc": math.nan}
        return {"loss": loss_sum / count, "acc": sums.get("correct", 0.0) / count}


def has_custom_step(model: nn.Module) -> bool:
    """True for models that bring their own optimizers and training step (GANs)."""
    return callable(getattr(model, "train_step", None)) and callable(
        getattr(model, "configure_optimizers", None))


class Meter:
    """Running sums over an epoch; kept in the training state so a mid-epoch resume continues
    the same averages."""

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        state = state or {}
        self.loss_sum = float(state.get("loss_sum", 0.0))
        self.count = int(state.get("count", 0))
        self.sums: dict[str, float] = dict(state.get("sums", {}))
        self.seconds = float(state.get("seconds", 0.0))  # time spent in steps, for samples/s

    def add(self, *, loss: float, count: int, sums: dict[str, float]) -> None:
        self.loss_sum += loss * count
        self.count += count
        for k, v in sums.items():
            self.sums[k] = self.sums.get(k, 0.0) + v

    def state(self) -> dict[str, Any]:
        return {"loss_sum": self.loss_sum, "count": self.count, "sums": dict(self.sums),
                "seconds": self.seconds}
