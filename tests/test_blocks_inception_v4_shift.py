"""Inception-v4 / Inception-ResNet modules against the paper's figures, and the shift layers."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from archzoo.blocks.inception_v4 import (InceptionResNetA, InceptionResNetB, InceptionResNetC,
                                         InceptionResNetV1Stem, InceptionV4A, InceptionV4B,
                                         InceptionV4C, InceptionV4Stem, ReductionA,
                                         ReductionResNetB, ReductionV4B)
from archzoo.blocks.shift import CSC, ActiveShift, GroupedShift, shift_offsets


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _moved(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """x moved dy rows down and dx columns right, zeros where nothing moved in (reference)."""
    out = torch.zeros_like(x)
    h, w = x.shape[-2:]
    out[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        x[..., max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


# --- Inception-v4 ----------------------------------------------------------------------------

def test_v4_stems_give_the_papers_35x35_grids():
    with torch.device("meta"):
        x = torch.empty(1, 3, 299, 299)
        assert InceptionV4Stem(3)(x).shape == (1, 384, 35, 35)  # Figure 3
        assert InceptionResNetV1Stem(3)(x).shape == (1, 256, 35, 35)  # Figure 14


@pytest.mark.parametrize("block, in_chs, grid, out_chs, out_grid", [
    (lambda: InceptionV4A(384), 384, 35, 384, 35),
    (lambda: ReductionA(384, k=192, l=224, m=256, n=384), 384, 35, 1024, 17),  # Table 1, v4
    (lambda: InceptionV4B(1024), 1024, 17, 1024, 17),
    (lambda: ReductionV4B(1024), 1024, 17, 1536, 8),
    (lambda: InceptionV4C(1536), 1536, 8, 1536, 8),
    (lambda: ReductionA(256, k=192, l=192, m=256, n=384), 256, 35, 896, 17),  # Table 1, ResNet-v1
    (lambda: ReductionResNetB(896, widths=(256, 384, 256, 256, 256)), 896, 17, 1792, 8),
], ids=["A", "reduction_a_v4", "B", "reduction_b_v4", "C", "reduction_a_resnet_v1",
        "reduction_b_resnet_v1"])
def test_v4_modules_widths_and_grids(block, in_chs, grid, out_chs, out_grid):
    with torch.device("meta"):
        module = block()
        y = module(torch.empty(1, in_chs, grid, grid))
    assert module.out_chs == out_chs and y.shape == (1, out_chs, out_grid, out_grid)


def test_inception_resnet_block_is_a_scaled_residual():
    torch.manual_seed(0)
    block = InceptionResNetA(32, widths=(8, 8, 8, 8, 8, 8), scale=0.17, act=False).eval()
    x = torch.randn(2, 32, 9, 9)
    with torch.no_grad():
        branch = block.proj(block.branches(x))
        torch.testing.assert_close(block(x), x + 0.17 * branch)
        # the projection is linear with a bias and no BN; zero it and the block is the identity
        assert block.proj.bias is not None
        nn.init.zeros_(block.proj.weight)
        nn.init.zeros_(block.proj.bias)
        torch.testing.assert_close(block(x), x)
        block.act = nn.ReLU()
        torch.testing.assert_close(block(x), x.relu())


@pytest.mark.parametrize("cls, widths, chs", [
    (InceptionResNetB, (128, 128, 128, 128), 896), (InceptionResNetC, (192, 192, 224, 256), 2080)])
def test_inception_resnet_bc_keep_shape(cls, widths, chs):
    with torch.device("meta"):
        block = cls(chs, widths=widths, scale=0.1)
        assert block(torch.empty(1, chs, 8, 8)).shape == (1, chs, 8, 8)


# --- shift ------------------------------------------------------------------------------------

def test_shift_offsets_split_channels_evenly():
    offsets = shift_offsets(20, 3)  # 9 groups of 2, 2 left over in the centre
    assert offsets[:2] == [(-1, -1)] * 2 and offsets[16:18] == [(1, 1)] * 2
    assert offsets[18:] == [(0, 0)] * 2
    assert sorted(set(offsets)) == [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    assert shift_offsets(4, 5) == [(0, 0)] * 4
    with pytest.raises(ValueError, match="odd"):
        shift_offsets(8, 2)


@pytest.mark.parametrize("kernel_size", [3, 5])
def test_grouped_shift_moves_each_group_with_zero_fill(kernel_size):
    chs = 2 * kernel_size ** 2 + 1
    shift = GroupedShift(chs, kernel_size=kernel_size)
    x = torch.randn(2, chs, 7, 6)
    y = shift(x)
    for c, (dy, dx) in enumerate(shift_offsets(chs, kernel_size)):
        torch.testing.assert_close(y[:, c], _moved(x[:, c], dy, dx))
    # the zeros really come in: the (-p, -p) group has an empty last p rows and columns
    p = kernel_size // 2
    assert (y[:, 0, -p:] == 0).all() and (y[:, 0, :, -p:] == 0).all()


def test_grouped_shift_has_no_parameters_and_no_macs():
    shift = GroupedShift(18, kernel_size=3, stride=2)
    assert _count(shift) == 0
    x = torch.randn(1, 18, 8, 8)
    with FlopCounterMode(display=False) as counter:
        y = shift(x)
    assert counter.get_total_flops() == 0
    torch.testing.assert_close(y, GroupedShift(18, kernel_size=3)(x)[..., ::2, ::2])


def test_active_shift_integer_offsets_equal_grouped_shift_and_learn():
    chs = 9
    active = ActiveShift(chs)
    offsets = shift_offsets(chs, 3)
    with torch.no_grad():
        active.shift.copy_(torch.tensor(offsets, dtype=torch.float))
    x = torch.randn(2, chs, 6, 6)
    torch.testing.assert_close(active(x), GroupedShift(chs, kernel_size=3)(x))
    assert _count(active) == 2 * chs  # one (dy, dx) per channel
    active(x).square().sum().backward()
    assert active.shift.grad is not None and active.shift.grad.abs().sum() > 0


def test_active_shift_fractional_offset_is_bilinear():
    active = ActiveShift(1)
    dy, dx = -1.5, 0.25
    with torch.no_grad():
        active.shift.copy_(torch.tensor([[dy, dx]]))
    h, w = 6, 7
    x = torch.randn(2, 1, h, w)
    rows, cols = torch.meshgrid(torch.arange(h) - dy, torch.arange(w) - dx, indexing="ij")
    grid = torch.stack([cols / (w - 1) * 2 - 1, rows / (h - 1) * 2 - 1], -1).expand(2, h, w, 2)
    ref = F.grid_sample(x, grid.float(), mode="bilinear", padding_mode="zeros", align_corners=True)
    torch.testing.assert_close(active(x), ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("active", [False, True])
def test_csc_module(active):
    block = CSC(16, 16, expansion=2, kernel_size=3, active=active)
    # 1x1 (16 -> 32) + BN, 1x1 (32 -> 16) + BN, no biases; active shifts add 2 per channel
    assert _count(block) == 16 * 32 + 2 * 32 + 32 * 16 + 2 * 16 + (2 * 32 if active else 0)
    assert block.residual and block(torch.randn(2, 16, 8, 8)).shape == (2, 16, 8, 8)
    down = CSC(16, 24, expansion=2, kernel_size=5, stride=2, active=active)
    assert not down.residual and down(torch.randn(2, 16, 8, 8)).shape == (2, 24, 4, 4)
