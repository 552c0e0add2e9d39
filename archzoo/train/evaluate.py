"""Classifier evaluation: accuracy, per-class accuracy and the confusion matrix.

Per-class accuracy and the confusion matrix show what one accuracy number hides: on
Fashion-MNIST most errors are shirts taken for T-shirts, pullovers and coats.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class EvalResult:
    loss: float
    accuracy: float
    per_class_accuracy: list[float]  # NaN for a class with no examples
    confusion: torch.Tensor  # int64 [num_classes, num_classes]: rows true, columns predicted
    count: int

    def to_dict(self, classes: list[str] | None = None) -> dict:
        names = classes or [str(i) for i in range(len(self.per_class_accuracy))]
        return {"loss": self.loss, "accuracy": self.accuracy, "count": self.count,
                "per_class_accuracy": dict(zip(names, self.per_class_accuracy)),
                "confusion": self.confusion.tolist()}


def autocast(bf16: bool) -> contextlib.AbstractContextManager:
    return torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable, *, num_classes: int | None = None,
             bf16: bool = False) -> EvalResult:
    """Run `model` over `loader`'s (x, y) batches in eval mode; restores the model's mode."""
    was_training = model.training
    model.eval()
    n = num_classes or getattr(model, "num_classes", None)
    if not n:
        raise ValueError("evaluate: expected num_classes (the model does not say)")
    confusion = torch.zeros(n, n, dtype=torch.int64)
    loss_sum, count = 0.0, 0
    try:
        for x, y in loader:
            with autocast(bf16):
                logits = model(x)  # B n
            logits = logits.float()
            if logits.shape[-1] != n:
                raise ValueError(f"evaluate: expected {n} logits per example, got {logits.shape[-1]}")
            loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
            count += y.shape[0]
            confusion += torch.bincount(y * n + logits.argmax(dim=1), minlength=n * n).view(n, n)
    finally:
        model.train(was_training)
    per_class = confusion.diag().double() / confusion.sum(dim=1).double()  # NaN where no examples
    accuracy = confusion.diag().sum().item() / count if count else float("nan")
    return EvalResult(loss=loss_sum / count if count else float("nan"), accuracy=accuracy,
                      per_class_accuracy=per_class.tolist(), confusion=confusion, count=count)
