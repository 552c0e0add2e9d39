"""Shift layers: spatial mixing without spatial convolution.

`GroupedShift` is the shift of Wu et al. 2018, "Shift: A Zero FLOP, Zero Parameter Alternative to
Spatial Convolutions" (arXiv:1711.08141), section 3: the channels are split evenly into k*k groups
and each group moves its maps by one of the k*k offsets of a k x k window (zero fill at the
border); the channels left over by the even split stay in place (offset 0, 0). It has no
parameters and no multiply-adds: only indexing. A following 1x1 convolution mixes the moved maps,
which together act like a k x k convolution factored into per-channel moves and a channel mix.

`ActiveShift` is the active shift layer of Jeon and Kim 2018, "Constructing Fast Network through
Deconstruction of Convolution" (arXiv:1806.07370): each channel has its own learnable real
offset (alpha, beta), applied by bilinear interpolation between the four integer shifts around
it, so the offset is trained by back-propagation. Departures: offsets are clamped to
+-`max_shift` pixels (the paper leaves them unbounded; a bound keeps the padded copy small) and
initialized uniformly in [-1, 1] (the paper does not fix an initialization here).

`CSC` is the paper's conv-shift-conv module (Figure 3): 1x1 conv (expansion x input channels),
BN, ReLU -> shift (stride here: shift, then keep every stride-th pixel) -> 1x1 conv, BN; plus the
input when the shapes agree; ReLU.

Offsets move content: a channel with offset (dy, dx) gives out[..., i, j] = x[..., i - dy, j - dx].
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .conv_norm_act import ConvNormAct


def shift_offsets(chs: int, kernel_size: int) -> list[tuple[int, int]]:
    """The (dy, dx) offset of each of `chs` channels: k*k equal groups in row-major window order,
    the remainder (and every channel when there are fewer channels than offsets) unmoved."""
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"shift kernel_size must be odd and positive; got {kernel_size}")
    p = kernel_size // 2
    window = [(dy, dx) for dy in range(-p, p + 1) for dx in range(-p, p + 1)]
    size = chs // len(window)
    if size == 0:
        return [(0, 0)] * chs
    return [window[c // size] if c < size * len(window) else (0, 0) for c in range(chs)]


class GroupedShift(nn.Module):
    """Zero-parameter, zero-MAC shift of channel groups (Wu et al. 2018)."""

    def __init__(self, chs: int, *, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__()
        self.chs, self.kernel_size, self.stride = chs, kernel_size, stride
        offsets = shift_offsets(chs, kernel_size)
        # runs of consecutive channels sharing an offset: one slice each
        self.runs: list[tuple[int, int, int, int]] = []  # (start, stop, dy, dx)
        for c, (dy, dx) in enumerate(offsets):
            if self.runs and self.runs[-1][2:] == (dy, dx) and self.runs[-1][1] == c:
                self.runs[-1] = (self.runs[-1][0], c + 1, dy, dx)
            else:
                self.runs.append((c, c + 1, dy, dx))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.chs:
            raise ValueError(f"GroupedShift expects {self.chs} channels; got {x.shape[1]}")
        h, w = x.shape[-2:]
        p = self.kernel_size // 2
        xp = F.pad(x, (p, p, p, p))  # (B, C, H + 2p, W + 2p), zeros around
        out = torch.cat([xp[:, a:b, p - dy:p - dy + h, p - dx:p - dx + w]
                         for a, b, dy, dx in self.runs], 1)  # (B, C, H, W)
        return out[..., ::self.stride, ::self.stride] if self.stride > 1 else out

    def extra_repr(self) -> str:
        return f"{self.chs}, kernel_size={self.kernel_size}, stride={self.stride}"


class ActiveShift(nn.Module):
    """Learnable real per-channel shift by bilinear interpolation (Jeon and Kim 2018)."""

    def __init__(self, chs: int, *, stride: int = 1, max_shift: int = 4) -> None:
        super().__init__()
        self.chs, self.stride, self.max_shift = chs, stride, max_shift
        self.shift = nn.Parameter(torch.empty(chs, 2))  # (dy, dx) of each channel, in pixels
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.uniform_(self.shift, -1.0, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.chs:
            raise ValueError(f"ActiveShift expects {self.chs} channels; got {x.shape[1]}")
        b, c, h, w = x.shape
        m = self.max_shift
        shift = self.shift.clamp(-m, m)
        # integer part (floor, from a truncating cast: the analyzer knows casts and compares);
        # the gradient flows through the fractions, as the paper's interpolation gradient does
        base = shift.detach().long()
        base = base - (base > shift.detach()).long()
        frac = shift - base  # (C, 2) in [0, 1)
        p = m + 1
        xp = F.pad(x, (p, p, p, p))  # (B, C, H + 2p, W + 2p)
        ch = torch.arange(c, device=x.device)[:, None, None]
        rows = torch.arange(h, device=x.device)[None, :] + p - base[:, :1]  # (C, H): i - dy
        cols = torch.arange(w, device=x.device)[None, :] + p - base[:, 1:]  # (C, W): j - dx

        def moved(ry: int, rx: int) -> torch.Tensor:  # integer shift by base + (ry, rx)
            return xp[:, ch, (rows - ry)[:, :, None], (cols - rx)[:, None, :]]  # (B, C, H, W)

        fy = frac[:, 0].view(1, c, 1, 1)
        fx = frac[:, 1].view(1, c, 1, 1)
        out = ((1 - fy) * ((1 - fx) * moved(0, 0) + fx * moved(0, 1))
               + fy * ((1 - fx) * moved(1, 0) + fx * moved(1, 1)))  # (B, C, H, W)
        return out[..., ::self.stride, ::self.stride] if self.stride > 1 else out

    def extra_repr(self) -> str:
        return f"{self.chs}, stride={self.stride}, max_shift={self.max_shift}"


class CSC(nn.Module):
    """Conv-shift-conv (Wu et al. 2018, Figure 3), residual when input and output shapes agree."""

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        *,
        expansion: float,
        kernel_size: int = 3,
        stride: int = 1,
        active: bool = False,
        norm_layer: type[nn.Module] = nn.BatchNorm2d,
        act_layer: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        mid = int(in_chs * expansion)
        self.conv1 = ConvNormAct(in_chs, mid, kernel_size=1, norm_layer=norm_layer,
                                 act_layer=act_layer)
        self.shift = ActiveShift(mid, stride=stride) if active else \
            GroupedShift(mid, kernel_size=kernel_size, stride=stride)
        self.conv2 = ConvNormAct(mid, out_chs, kernel_size=1, norm_layer=norm_layer,
                                 act_layer=None)
        self.residual = stride == 1 and in_chs == out_chs
        self.act = act_layer()
        self.out_chs = out_chs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.shift(self.conv1(x)))  # (B, out_chs, H / stride, W / stride)
        return self.act(y + x if self.residual else y)
