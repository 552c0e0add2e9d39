"""Check a block's analytic gradients against finite differences (seed 001's debugging advice).

`check_block(name)` builds a small instance of a named block in double precision and runs
`torch.autograd.gradcheck` on it, with respect to its input and every parameter. Inputs are random
normals, so ReLU kinks and max ties fall on a finite-difference step with negligible probability;
batch normalization stays in training mode (a function of the whole batch, which gradcheck handles).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn
from torch.func import functional_call


def _blocks() -> dict[str, Callable[[], tuple[nn.Module, torch.Tensor]]]:
    from ..blocks import (BasicBlock, Bottleneck, ConvNormAct, LocalResponseNorm, Maxout)
    from ..blocks.attention import MultiHeadAttention
    from ..blocks.fpn import FeaturePyramid
    from ..blocks.heads import PositionwiseHead, SpatialWeightHead
    from ..blocks.layernorm2d import LayerNorm2d
    from ..blocks.mbconv import MBConv
    from ..blocks.separable import DepthwiseSeparableConv
    from ..blocks.squeeze_excite import SqueezeExcite

    def img(c: int, s: int = 5) -> torch.Tensor:
        return torch.randn(2, c, s, s)

    class _FPNSum(nn.Module):  # gradcheck takes one tensor out: the pyramid's levels, flattened
        def __init__(self) -> None:
            super().__init__()
            self.fpn = FeaturePyramid([3, 4], out_chs=2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            coarse = x[:, :, ::2, ::2].repeat(1, 2, 1, 1)[:, :4]  # (B, 4, H/2, W/2)
            return torch.cat([p.flatten(1) for p in self.fpn([x, coarse])], 1)

    return {
        "lrn": lambda: (LocalResponseNorm(size=3, alpha=0.1), img(5, 3)),
        "maxout": lambda: (Maxout(6, 4, pieces=3), torch.randn(3, 6)),
        "conv_norm_act": lambda: (ConvNormAct(3, 4), img(3)),
        "basic_block": lambda: (BasicBlock(3, 4, stride=2), img(3)),
        "bottleneck": lambda: (Bottleneck(4, 6, mid_chs=2), img(4, 4)),
        "separable": lambda: (DepthwiseSeparableConv(3, 4), img(3)),
        "squeeze_excite": lambda: (SqueezeExcite(4, rd_chs=2), img(4)),
        "mbconv": lambda: (MBConv(3, 3, mid_chs=6, se_chs=2), img(3)),
        "layernorm2d": lambda: (LayerNorm2d(4), img(4, 3)),
        "attention": lambda: (MultiHeadAttention(8, 2), torch.randn(2, 3, 8)),
        "vote_head": lambda: (PositionwiseHead(4, 3, drop_rate=0.0, vote="softmax"), img(4, 3)),
        "spatial_head": lambda: (SpatialWeightHead(4, 3, grid=2), img(4, 3)),
        "fpn": lambda: (_FPNSum(), img(3, 4)),
    }


BLOCK_NAMES = tuple(_blocks())


@dataclass(frozen=True)
class GradcheckResult:
    name: str
    ok: bool
    inputs: int  # tensors checked: the input and every parameter
    elements: int
    seconds: float
    error: str = ""

    def line(self) -> str:
        verdict = "ok" if self.ok else f"FAILED ({self.error})"
        return (f"{self.name:15s} {verdict}: {self.inputs} tensors, {self.elements} elements, "
                f"{self.seconds:.2f} s")


def check_block(name: str, *, seed: int = 0) -> GradcheckResult:
    """gradcheck of block `name` (one of BLOCK_NAMES) in float64, input and parameters together."""
    blocks = _blocks()
    if name not in blocks:
        raise ValueError(f"unknown block {name!r}; expected one of: {', '.join(blocks)}")
    torch.manual_seed(seed)
    module, x = blocks[name]()
    module = module.double()
    names = [n for n, p in module.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in module.parameters()]
    x = x.double().requires_grad_()

    def fn(inp: torch.Tensor, *ps: torch.Tensor) -> torch.Tensor:
        return functional_call(module, dict(zip(names, ps)), (inp,))

    start = time.perf_counter()
    try:
        ok = torch.autograd.gradcheck(fn, (x, *params), eps=1e-6, atol=1e-5, rtol=1e-3)
        error = ""
    except RuntimeError as e:  # gradcheck raises with the mismatching Jacobians
        ok, error = False, str(e).splitlines()[0]
    return GradcheckResult(name, ok, 1 + len(params), x.numel() + sum(p.numel() for p in params),
                           time.perf_counter() - start, error)
