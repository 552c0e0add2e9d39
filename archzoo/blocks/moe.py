"""Sparsely gated mixture of experts: Shazeer et al. 2017, "Outrageously Large Neural Networks: The
Sparsely-Gated Mixture-of-Experts Layer" (arXiv:1701.06538), seed 003's layer between stacked RNNs.

Noisy top-k gating (section 2.1): H(x) = x W_g + N(0, 1) * softplus(x W_noise) (noise in training
only), G(x) = softmax(KeepTopK(H(x), k)); y = sum_i G(x)_i E_i(x) over the k chosen experts only.
Balancing losses (section 4, appendix A): importance = sum over the batch of G(x), load = sum of
P(x, i) = Phi(((x W_g)_i - kth_excluding(H(x), k, i)) / softplus((x W_noise)_i)), the smooth count of
examples routed to expert i; each adds w * CV(.)^2 (squared coefficient of variation) to the loss.
Departures: experts are two-layer ReLU feed-forward nets (the paper's LM used one hidden layer of
ReLUs too); the gate weights start at zero as in the paper, so routing starts uniform-by-noise.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def cv_squared(x: Tensor) -> Tensor:
    """Squared coefficient of variation, 0 for a single expert."""
    if x.numel() <= 1:
        return x.new_zeros(())
    return x.float().var() / (x.float().mean() ** 2 + 1e-10)


class SparseMoE(nn.Module):
    """x (..., D) -> (..., D) mixture of `num_experts` FFNs, `k` per token; `self.aux_loss` holds
    w_importance * CV(importance)^2 + w_load * CV(load)^2 of the last forward."""

    def __init__(self, dim: int, *, num_experts: int = 4, k: int = 2, hidden: int | None = None,
                 w_importance: float = 0.1, w_load: float = 0.1, noisy: bool = True,
                 act_layer: type[nn.Module] = nn.ReLU) -> None:
        super().__init__()
        if not 1 <= k <= num_experts:
            raise ValueError(f"expected 1 <= k <= num_experts, got k={k}, num_experts={num_experts}")
        hidden = hidden or 2 * dim
        self.k, self.num_experts, self.noisy = k, num_experts, noisy
        self.w_importance, self.w_load = w_importance, w_load
        self.w_gate = nn.Parameter(torch.zeros(dim, num_experts))
        self.w_noise = nn.Parameter(torch.zeros(dim, num_experts))
        self.experts = nn.ModuleList(
            nn.Sequential(nn.Linear(dim, hidden), act_layer(), nn.Linear(hidden, dim)) for _ in range(num_experts))
        self.aux_loss = torch.zeros(())
        self.last_gates: Tensor | None = None  # (N, E) of the last forward, for inspection

    def gate(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x (N, D) -> gates (N, E) with k non-zeros per row, and the load per expert (E,)."""
        clean = x @ self.w_gate  # N E
        use_noise = self.noisy and self.training
        if use_noise:
            noise_std = F.softplus(x @ self.w_noise) + 1e-2  # N E; the floor keeps Phi's argument finite
            logits = clean + torch.randn_like(clean) * noise_std
        else:
            logits = clean
        top = logits.topk(min(self.k + 1, self.num_experts), dim=-1)  # k+1 for kth_excluding
        top_logits, top_idx = top.values[:, : self.k], top.indices[:, : self.k]  # N k
        gates = torch.zeros_like(logits).scatter(-1, top_idx, top_logits.softmax(dim=-1))  # N E
        if use_noise and self.k < self.num_experts:
            # kth_excluding(H, k, i): the (k+1)-th value for experts now in the top k, the k-th otherwise
            in_top = gates > 0
            thr_in = top.values[:, self.k: self.k + 1]  # N 1
            thr_out = top.values[:, self.k - 1: self.k]  # N 1
            normal = torch.distributions.Normal(0.0, 1.0)
            p_in = normal.cdf((clean - thr_in) / noise_std)
            p_out = normal.cdf((clean - thr_out) / noise_std)
            load = torch.where(in_top, p_in, p_out).sum(0)  # E
        else:
            load = (gates > 0).float().sum(0)
        return gates, load

    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape
        x = x.reshape(-1, shape[-1])  # N D, N = every token
        gates, load = self.gate(x)
        self.last_gates = gates.detach()
        self.aux_loss = self.w_importance * cv_squared(gates.sum(0)) + self.w_load * cv_squared(load)
        y = torch.zeros_like(x)
        for e, expert in enumerate(self.experts):
            rows = torch.nonzero(gates[:, e] > 0).flatten()
            if rows.numel():  # only the tokens routed to expert e run through it
                y = y.index_add(0, rows, gates[rows, e: e + 1] * expert(x[rows]))
        return y.reshape(shape)
