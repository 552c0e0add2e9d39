"""Sequence tasks for the trainer: language modelling and seq2seq, on the `Task` protocol of tasks.py.

`LanguageModelTask` takes (x, y) token batches (B, T) from `data.text.LMBatches`: cross-entropy per
token, reported as loss (nats), bits per character (loss / ln 2) and perplexity (e^loss); a model's
`aux_loss` (the mixture of experts' balancing losses) is added to the loss it back-propagates.
`Seq2SeqTask` takes (src, src_len, tgt_in, tgt_out) from `data.text.PairBatches`: cross-entropy over
real target tokens (padding ignored), token accuracy and exact match of whole sequences under
teacher forcing (decoding accuracy is measured with `archzoo.generate`).
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from .tasks import StepOutput

PAD_ID = 0


def _aux(model: nn.Module) -> torch.Tensor | float:
    inner = getattr(model, "module", model)  # DistributedDataParallel wraps the model
    aux = getattr(inner, "aux_loss", None)
    return aux if isinstance(aux, torch.Tensor) and inner.training else 0.0


class LanguageModelTask:
    best_metric = "bpc"
    higher_is_better = False

    def step(self, model: nn.Module, batch: Any) -> StepOutput:
        x, y = batch
        logits = model(x)  # B T V
        loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        n = y.numel()
        return StepOutput(loss=loss + _aux(model), count=n, sums={"nll": loss.item() * n})

    def summarize(self, *, loss_sum: float, count: int, sums: dict[str, float]) -> dict[str, float]:
        if count == 0:
            return {"loss": math.nan, "bpc": math.nan, "ppl": math.nan}
        nll = sums.get("nll", loss_sum) / count
        return {"loss": loss_sum / count, "bpc": nll / math.log(2), "ppl": math.exp(min(nll, 700))}


class Seq2SeqTask:
    best_metric = "exact"
    higher_is_better = True

    def __init__(self, *, label_smoothing: float = 0.0) -> None:
        self.label_smoothing = label_smoothing

    def step(self, model: nn.Module, batch: Any) -> StepOutput:
        src, src_len, tgt_in, tgt_out = batch
        logits = model(src, src_len, tgt_in)  # B T V
        real = tgt_out != PAD_ID  # B T
        loss = F.cross_entropy(logits.float().flatten(0, 1), tgt_out.flatten(), ignore_index=PAD_ID,
                               label_smoothing=self.label_smoothing)
        hit = (logits.argmax(-1) == tgt_out) | ~real
        n_tok = int(real.sum())
        return StepOutput(loss=loss, count=n_tok, sums={
            "correct_tokens": float((hit & real).sum()), "exact": float(hit.all(1).sum()),
            "sequences": float(src.shape[0])})

    def summarize(self, *, loss_sum: float, count: int, sums: dict[str, float]) -> dict[str, float]:
        if count == 0:
            return {"loss": math.nan, "token_acc": math.nan, "exact": math.nan}
        return {"loss": loss_sum / count, "token_acc": sums.get("correct_tokens", 0.0) / count,
                "exact": sums.get("exact", 0.0) / max(sums.get("sequences", 0.0), 1.0)}


@torch.no_grad()
def run_task(task: Any, model: nn.Module, batches: Any) -> dict[str, float]:
    """Evaluate `task` over `batches` (no gradients, eval mode): the summarized metrics."""
    was = model.training
    model.eval()
    loss_sum, count, sums = 0.0, 0, {}
    try:
        for batch in batches:
            out = task.step(model, batch)
            loss_sum += float(out.loss) * out.count
            count += out.count
            for k, v in out.sums.items():
                sums[k] = sums.get(k, 0.0) + v
    finally:
        model.train(was)
    return task.summarize(loss_sum=loss_sum, count=count, sums=sums)


def decode_exact_match(model: nn.Module, pairs: list[tuple[str, str]], src_vocab: Any, tgt_vocab: Any, *,
                       batch_size: int = 256, **options: Any) -> float:
    """Share of sources whose decoded output (greedy by default; num_beams for beam search) equals
    the target exactly."""
    hits = 0
    for i in range(0, len(pairs), batch_size):
        chunk = pairs[i: i + batch_size]
        outs = model.generate([src_vocab.encode(s) for s, _ in chunk], **options)  # type: ignore[operator]
        hits += sum(tgt_vocab.decode(o) == t for o, (_, t) in zip(outs, chunk))
    return hits / max(len(pairs), 1)
