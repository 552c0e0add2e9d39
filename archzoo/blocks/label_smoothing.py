"""Label smoothing: training against a softened target instead of a one-hot one.

Szegedy et al. 2016, "Rethinking the Inception Architecture for Computer Vision" (arXiv:1512.00567)
section 7; Vaswani et al. 2017 (arXiv:1706.03762) section 5.4 use eps = 0.1 ("this hurts
perplexity ... but improves accuracy and BLEU"). Two forms are in use, and they differ:
- `form="uniform"`: q = (1 - eps) one_hot(y) + eps / V, the true class gets 1 - eps + eps/V
  (Szegedy's formula; `F.cross_entropy(label_smoothing=eps)` computes exactly this).
- `form="wrong_classes"`: the true class gets 1 - eps and each of the V - 1 others eps / (V - 1)
  (fairseq's `label_smoothed_cross_entropy`).
Both return the cross-entropy H(q, p) = -sum_k q_k log p_k, averaged over the tokens that are not
`ignore_index` (or summed, or per token). Shapes: logits (N V), target (N).
"""
from __future__ import annotations

import torch
import torch.nn as nn

FORMS = ("uniform", "wrong_classes")


def label_smoothed_cross_entropy(logits: torch.Tensor, target: torch.Tensor, *, smoothing: float = 0.1,
                                 form: str = "uniform", ignore_index: int = -100,
                                 reduction: str = "mean") -> torch.Tensor:
    if form not in FORMS:
        raise ValueError(f"unknown label smoothing form {form!r}; expected one of {', '.join(FORMS)}")
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"expected smoothing in [0, 1), got {smoothing}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"unknown reduction {reduction!r}; expected 'mean', 'sum' or 'none'")
    v = logits.shape[-1]
    logp = logits.float().log_softmax(dim=-1)  # (N V)
    keep = target != ignore_index  # (N)
    nll = -logp.gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)  # -log p_y
    total = -logp.sum(dim=-1)  # sum over all classes of -log p_k
    if form == "uniform":
        loss = (1.0 - smoothing) * nll + smoothing / v * total
    else:  # eps/(V-1) on every wrong class: (1-eps) nll + eps/(V-1) (total - nll)
        off = smoothing / (v - 1)
        loss = (1.0 - smoothing - off) * nll + off * total
    loss = loss.masked_fill(~keep, 0.0)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / keep.sum().clamp(min=1)


class LabelSmoothingLoss(nn.Module):
    """The loss above as a module: forward(logits (N V) or (B T V), target (N) or (B T))."""

    def __init__(self, *, smoothing: float = 0.1, form: str = "uniform", ignore_index: int = -100,
                 reduction: str = "mean") -> None:
        super().__init__()
        if form not in FORMS:
            raise ValueError(f"unknown label smoothing form {form!r}; expected one of {', '.join(FORMS)}")
        self.smoothing, self.form, self.ignore_index, self.reduction = smoothing, form, ignore_index, reduction

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        out = label_smoothed_cross_entropy(logits.flatten(0, -2), target.flatten(), smoothing=self.smoothing,
                                           form=self.form, ignore_index=self.ignore_index,
                                           reduction=self.reduction)
        return out.view(target.shape) if self.reduction == "none" else out
