"""The activations of seed 001 (sigmoid, tanh, ReLU, leaky ReLU, ELU, maxout), by name.

PyTorch provides all but maxout (Goodfellow et al. 2013, "Maxout Networks", arXiv:1302.4389), which
is a layer with its own weights rather than a pointwise function: max_k(W_k x + b_k).
"""
from __future__ import annotations

import torch
import torch.nn as nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
}


def get_act_layer(name: str) -> type[nn.Module]:
    try:
        return ACTIVATIONS[name]
    except KeyError:
        known = ", ".join([*ACTIVATIONS, "maxout"])
        raise ValueError(f"unknown activation {name!r}; expected one of: {known}") from None


class Maxout(nn.Module):
    """A fully connected maxout layer: `pieces` affine maps, element-wise max over them."""

    def __init__(self, in_features: int, out_features: int, *, pieces: int = 2) -> None:
        super().__init__()
        self.pieces = pieces
        self.out_features = out_features
        self.linear = nn.Linear(in_features, out_features * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.linear(x)  # (B, out * pieces)
        return z.view(*z.shape[:-1], self.out_features, self.pieces).amax(-1)  # (B, out)
