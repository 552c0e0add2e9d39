"""Inverted residual blocks: MBConv and Fused-MBConv.

- Inverted residual with linear bottleneck: Sandler et al. 2018, "MobileNetV2: Inverted Residuals
  and Linear Bottlenecks" (arXiv:1801.04381), Table 1: 1x1 expand -> act -> k x k depthwise -> act
  -> 1x1 project with *no* activation, the identity added when stride is 1 and the width is kept.
  MnasNet (arXiv:1807.11626) named it MBConv and added squeeze-and-excitation after the depthwise
  conv, as MobileNetV3 (arXiv:1905.02244) and EfficientNet (Tan and Le 2019, arXiv:1905.11946) do.
- Fused-MBConv: Tan and Le 2021, "EfficientNetV2: Smaller Models and Faster Training"
  (arXiv:2104.00298), Figure 2: one regular k x k conv replaces expand + depthwise, which runs
  faster on accelerators in the early, high-resolution stages.

`mid_chs` is the expanded width (MobileNetV3 lists it per layer instead of a ratio); when it equals
`in_chs` there is no expansion layer (expand ratio 1), as in every reference implementation.
Stochastic depth (`drop_path`) applies to the branch of blocks that have the identity shortcut.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .conv_norm_act import ConvNormAct
from .squeeze_excite import SqueezeExcite
from .stochastic_depth import DropPath


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a width-multiplied channel count to a multiple of `divisor`, at most 10% below
    `value` (the rounding rule of the MobileNetV2 and EfficientNet reference code)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class _Residual(nn.Module):
    """Adds the identity (through stochastic depth) when the block keeps shape."""

    def _init_residual(self, in_chs: int, out_chs: int, stride: int, drop_path: float) -> None:
        self.has_residual = stride == 1 and in_chs == out_chs
        self.drop_path = DropPath(p=drop_path) if self.has_residual and drop_path > 0 else nn.Identity()

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.branch(x)
        return x + self.drop_path(y) if self.has_residual else y


class MBConv(_Residual):
    """[1x1 expand -> norm -> act] -> k x k depthwise -> norm -> act -> [SE] -> 1x1 project -> norm."""

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        *,
        mid_chs: int,
        kernel_size: int = 3,
        stride: int = 1,
        se_chs: int = 0,
        norm_layer: type[nn.Module] = nn.BatchNorm2d,
        act_layer: type[nn.Module] = nn.ReLU6,
        se_act_layer: type[nn.Module] = nn.ReLU,
        se_gate_layer: type[nn.Module] = nn.Sigmoid,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        self.expand = nn.Identity() if mid_chs == in_chs else ConvNormAct(
            in_chs, mid_chs, kernel_size=1, padding=0, norm_layer=norm_layer, act_layer=act_layer)
        self.depthwise = ConvNormAct(mid_chs, mid_chs, kernel_size=kernel_size, stride=stride,
                                     groups=mid_chs, norm_layer=norm_layer, act_layer=act_layer)
        self.se = SqueezeExcite(mid_chs, rd_chs=se_chs, act_layer=se_act_layer,
                                gate_layer=se_gate_layer) if se_chs else nn.Identity()
        # the linear bottleneck: no activation after the projection (MobileNetV2, section 3.2)
        self.project = ConvNormAct(mid_chs, out_chs, kernel_size=1, padding=0,
                                   norm_layer=norm_layer, act_layer=None)
        self._init_residual(in_chs, out_chs, stride, drop_path)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(self.se(self.depthwise(self.expand(x))))


InvertedResidual = MBConv  # MobileNetV2's name for the same block (without SE)


class FusedMBConv(_Residual):
    """k x k conv (expand) -> norm -> act -> [SE] -> 1x1 project -> norm; with no expansion
    (`mid_chs == in_chs`) the k x k conv goes straight to `out_chs` and keeps its activation."""

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        *,
        mid_chs: int,
        kernel_size: int = 3,
        stride: int = 1,
        se_chs: int = 0,
        norm_layer: type[nn.Module] = nn.BatchNorm2d,
        act_layer: type[nn.Module] = nn.SiLU,
        se_act_layer: type[nn.Module] = nn.SiLU,
        se_gate_layer: type[nn.Module] = nn.Sigmoid,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        expands = mid_chs != in_chs
        width = mid_chs if expands else out_chs
        self.fused = ConvNormAct(in_chs, width, kernel_size=kernel_size, stride=stride,
                                 norm_layer=norm_layer, act_layer=act_layer)
        self.se = SqueezeExcite(width, rd_chs=se_chs, act_layer=se_act_layer,
                                gate_layer=se_gate_layer) if se_chs else nn.Identity()
        self.project = ConvNormAct(mid_chs, out_chs, kernel_size=1, padding=0, norm_layer=norm_layer,
                                   act_layer=None) if expands else nn.Identity()
        self._init_residual(in_chs, out_chs, stride, drop_path)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(self.se(self.fused(x)))
