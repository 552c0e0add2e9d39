"""Local response normalization as AlexNet defines it (Krizhevsky et al. 2012, section 3.3).

    b[c] = a[c] / (k + alpha * sum_{c' in window(c)} a[c']^2) ** beta

PyTorch's `nn.LocalResponseNorm` (like Caffe) divides alpha by the window size n. The paper does
not, so its alpha = 1e-4 means alpha / n in PyTorch's terms; this block takes the paper's constants
as printed and is tested against PyTorch's module with alpha scaled by n.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class LocalResponseNorm(nn.Module):
    def __init__(self, *, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sq = x.pow(2).unsqueeze(1)  # (B, 1, C, H, W)
        half = self.size // 2
        # a window of `size` channels centred on c, clipped at the edges (zero padding)
        sq = F.pad(sq, (0, 0, 0, 0, half, (self.size - 1) - half))
        window_sum = F.avg_pool3d(sq, (self.size, 1, 1), stride=1).squeeze(1) * self.size
        return x / (self.k + self.alpha * window_sum).pow(self.beta)

    def extra_repr(self) -> str:
        return f"size={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
