"""The setup of a labelled-text run: sentence classification and per-token tagging.

Cards with task "text-classification" train on `shakespeare-plays` (or any set
`data.text_classify.load_text_classification` knows), cards with task "tagging" on `pystdlib-tokens`.
Models are called as model(ids (B, T), lengths (B,)) and return class logits (B, K) or tag logits
(B, T, K). The data decides the vocabulary and the number of classes, so the model is built after it;
batches shuffle by seed and epoch (`LabelledBatches`), so a resumed run sees the same ones.

`TextClassificationTask`: cross-entropy (label smoothing while training, if asked) plus the model's
`aux_loss` while training (the self-attentive classifier's penalty ||A A^T - I||_F^2), accuracy.
`TaggingTask`: cross-entropy over real tokens (padding ignored), per-token accuracy.
"""
from __future__ import annotations

import math
from typing import Any

import torch.nn as nn
import torch.nn.functional as F

from ..data.readers import DataError
from ..data.text_classify import (IGNORE_INDEX, KNOWN_LABELLED, LabelledBatches, LabelledText,
                                  load_text_classification, load_token_tagging)
from .config import TrainConfig
from .tasks import StepOutput
from .tasks_seq import _aux
from ._setup_text import EVAL_BATCH, TextBundle

CLASSIFY_SETS = ("shakespeare-plays",)
TAGGING_SETS = ("pystdlib-tokens",)


class TextClassificationTask:
    best_metric = "acc"
    higher_is_better = True

    def __init__(self, *, label_smoothing: float = 0.0) -> None:
        self.label_smoothing = label_smoothing

    def step(self, model: nn.Module, batch: Any) -> StepOutput:
        ids, lengths, labels = batch
        logits = model(ids, lengths)  # B K
        smoothing = self.label_smoothing if model.training else 0.0
        loss = F.cross_entropy(logits.float(), labels, label_smoothing=smoothing)
        correct = float((logits.argmax(-1) == labels).sum())
        n = labels.shape[0]
        return StepOutput(loss=loss + _aux(model), count=n, sums={"nll": loss.item() * n, "correct": correct})

    def summarize(self, *, loss_sum: float, count: int, sums: dict[str, float]) -> dict[str, float]:
        if count == 0:
            return {"loss": math.nan, "nll": math.nan, "acc": math.nan}
        return {"loss": loss_sum / count, "nll": sums.get("nll", loss_sum) / count,
                "acc": sums.get("correct", 0.0) / count}


class TaggingTask:
    best_metric = "acc"
    higher_is_better = True

    def step(self, model: nn.Module, batch: Any) -> StepOutput:
        ids, lengths, tags = batch
        logits = model(ids, lengths)  # B T K
        if logits.ndim != 3 or logits.shape[:2] != tags.shape:
            raise ValueError(f"a tagger must give one row of logits per token: expected (B, T) = "
                             f"{tuple(tags.shape)} leading, got {tuple(logits.shape)}")
        real = tags != IGNORE_INDEX  # B T
        loss = F.cross_entropy(logits.float().flatten(0, 1), tags.flatten(), ignore_index=IGNORE_INDEX)
        n = int(real.sum())
        correct = float(((logits.argmax(-1) == tags) & real).sum())
        return StepOutput(loss=loss + _aux(model), count=n, sums={"correct": correct})

    def summarize(self, *, loss_sum: float, count: int, sums: dict[str, float]) -> dict[str, float]:
        if count == 0:
            return {"loss": math.nan, "acc": math.nan}
        return {"loss": loss_sum / count, "acc": sums.get("correct", 0.0) / count}


def _labelled_data(cfg: TrainConfig, data: LabelledText, *, unit: str) -> tuple[TextBundle, Any, Any, Any, dict]:
    for split, examples in (("train", data.train), ("test", data.test)):
        if not examples:
            raise DataError(f"{data.name}: the {split} split is empty; expected a larger corpus or source tree")
    train = LabelledBatches(data.train, data.vocab, batch_size=cfg.batch_size, seed=cfg.seed)

    def batches(examples: list) -> LabelledBatches:
        return LabelledBatches(examples, data.vocab, batch_size=EVAL_BATCH, shuffle=False)

    val = batches(data.val) if cfg.val_fraction > 0 and data.val else None
    longest = max(len(text) for split in (data.train, data.val, data.test) for text, _ in split)
    bundle = TextBundle(data.name, data.train, data.test, data.classes, {"vocab": data.vocab.to_json()}, unit,
                        image_size=(longest,))
    return bundle, train, val, batches(data.test), {"vocab_size": len(data.vocab), "num_classes": len(data.classes)}


def _expect(cfg: TrainConfig, known: tuple[str, ...], what: str) -> None:
    if cfg.data not in known:
        others = ", ".join(k for k in KNOWN_LABELLED if k not in known)
        raise DataError(f"--data {cfg.data}: {cfg.model} is a {what} model and expects {', '.join(known)}, "
                        f"got another name (labelled sets of other tasks: {others})")


def _classify_setup(cfg: TrainConfig, overrides: dict[str, Any]) -> tuple:
    _expect(cfg, CLASSIFY_SETS, "text-classification")
    data = load_text_classification(cfg.data, data_dir=cfg.data_dir)
    return (*_labelled_data(cfg, data, unit="sentences"),
            TextClassificationTask(label_smoothing=cfg.label_smoothing))


def _tagging_setup(cfg: TrainConfig, overrides: dict[str, Any]) -> tuple:
    _expect(cfg, TAGGING_SETS, "tagging")
    data = load_token_tagging(cfg.data, root=cfg.data_dir)
    return (*_labelled_data(cfg, data, unit="lines"), TaggingTask())
