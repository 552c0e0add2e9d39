"""The inverse-square-root warm-up schedule of Vaswani et al. 2017, "Attention Is All You Need"
(arXiv:1706.03762) section 5.3, used with Adam (beta1 0.9, beta2 0.98, eps 1e-9):

    lrate = d_model^-0.5 * min(step^-0.5, step * warmup_steps^-1.5)

linear warm-up for `warmup_steps` (4,000 in the paper), then decay with 1/sqrt(step); the peak,
at step = warmup_steps, is (d_model * warmup_steps)^-0.5 (7.0e-4 for the base model). Steps count
from 1 as in the paper; step 0 is given step 1's rate so that a scheduler's first call is not zero.
"""
from __future__ import annotations

import math

import torch

ADAM_BETAS, ADAM_EPS = (0.9, 0.98), 1e-9  # section 5.3


def inverse_sqrt_lr(step: int, *, d_model: int = 512, warmup_steps: int = 4000, scale: float = 1.0) -> float:
    """The learning rate at `step` (the paper's formula, times `scale`)."""
    if warmup_steps < 1 or d_model < 1:
        raise ValueError(f"expected warmup_steps >= 1 and d_model >= 1, got {warmup_steps} and {d_model}")
    s = max(step, 1)
    return scale * d_model ** -0.5 * min(s ** -0.5, s * warmup_steps ** -1.5)


def inverse_sqrt_factor(step: int, *, warmup_steps: int = 4000) -> float:
    """The same curve scaled to peak 1 at `warmup_steps`: a multiplier for a base rate (LambdaLR)."""
    s = max(step, 1)
    return min(s / warmup_steps, math.sqrt(warmup_steps / s))


def transformer_adam(params, *, d_model: int = 512, warmup_steps: int = 4000, scale: float = 1.0
                     ) -> tuple[torch.optim.Adam, torch.optim.lr_scheduler.LambdaLR]:
    """Adam with the paper's betas and epsilon, and a scheduler that sets the paper's rate per step
    (call `scheduler.step()` after each optimizer step)."""
    opt = torch.optim.Adam(params, lr=1.0, betas=ADAM_BETAS, eps=ADAM_EPS)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: inverse_sqrt_lr(i + 1, d_model=d_model, warmup_steps=warmup_steps, scale=scale))
    return opt, sched
