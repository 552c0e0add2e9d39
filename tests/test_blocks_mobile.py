"""The mobile-CNN blocks (MobileNet, EfficientNet, ShuffleNet, ConvNeXt) against PyTorch's own
modules and the papers' formulas. Card MACs are checked registry-wide in test_analysis_registry."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from archzoo.blocks.layernorm2d import LayerNorm2d
from archzoo.blocks.mbconv import FusedMBConv, MBConv, make_divisible
from archzoo.blocks.separable import DepthwiseSeparableConv
from archzoo.blocks.shuffle import ChannelShuffle, ShuffleUnitV1, ShuffleUnitV2, channel_shuffle
from archzoo.blocks.squeeze_excite import SqueezeExcite
from archzoo.blocks.stochastic_depth import DropPath, drop_path_rates


def _count(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_layernorm2d_matches_layernorm_on_channels_last():
    x = torch.randn(2, 6, 5, 4, dtype=torch.float64, requires_grad=True)
    ours, ref = LayerNorm2d(6).double(), nn.LayerNorm(6, eps=1e-6).double()
    with torch.no_grad():
        for p in (ours.weight, ours.bias):
            p.normal_()
        ref.load_state_dict(ours.state_dict())
    expect = ref(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    torch.testing.assert_close(ours(x), expect)
    g1, = torch.autograd.grad(ours(x).square().sum(), x)
    g2, = torch.autograd.grad(expect.square().sum(), x)
    torch.testing.assert_close(g1, g2)


def test_channel_shuffle_is_the_transpose_permutation():
    x = torch.arange(12.0).view(1, 12, 1, 1)
    g, n = 3, 4  # channel i*g + j of the output comes from channel j*n + i of the input
    expect = [j * n + i for i in range(n) for j in range(g)]
    assert channel_shuffle(x, g).flatten().tolist() == expect
    # shuffling with C/g groups undoes it; one group leaves the order as it is
    torch.testing.assert_close(channel_shuffle(channel_shuffle(x, g), n), x)
    torch.testing.assert_close(channel_shuffle(x, 1), x)


def test_channel_shuffle_names_bad_group_count():
    with pytest.raises(ValueError, match="divisible by 5; got 12"):
        ChannelShuffle(groups=5)(torch.randn(1, 12, 2, 2))


def test_squeeze_excite_is_the_paper_formula():
    se = SqueezeExcite(8, rd_chs=2).double()
    x = torch.randn(3, 8, 5, 5, dtype=torch.float64)
    w1, b1 = se.reduce.weight.flatten(1), se.reduce.bias
    w2, b2 = se.expand.weight.flatten(1), se.expand.bias
    s = torch.sigmoid(F.linear(F.relu(F.linear(x.mean((2, 3)), w1, b1)), w2, b2))
    torch.testing.assert_close(se(x), x * s[:, :, None, None])
    assert _count(se) == 8 * 2 + 2 + 2 * 8 + 8


def test_drop_path_per_sample_and_identity_in_eval():
    torch.manual_seed(0)
    x = torch.ones(4000, 3, 2, 2)
    layer = DropPath(p=0.25)
    y = layer(x)
    per_sample = y.flatten(1)
    assert ((per_sample == 0).all(1) | (per_sample == 1 / 0.75).all(1)).all()  # whole samples
    assert abs(y.mean().item() - 1.0) < 0.05  # the expectation is kept
    layer.eval()
    assert torch.equal(layer(x), x)
    with pytest.raises(ValueError, match=r"in \[0, 1\)"):
        DropPath(p=1.0)


def test_drop_path_rates_rise_linearly():
    assert drop_path_rates(0.2, 5) == pytest.approx([0.0, 0.05, 0.1, 0.15, 0.2])
    assert drop_path_rates(0.3, 1) == [0.0]


def test_depthwise_separable_cost_is_the_papers_ratio():
    """Section 3.1: depthwise + pointwise costs 1/N + 1/k^2 of the full k x k convolution."""
    m_in, n_out, k, side = 16, 32, 3, 8
    sep = DepthwiseSeparableConv(m_in, n_out, kernel_size=k)
    full = nn.Conv2d(m_in, n_out, k, padding=1, bias=False)
    x = torch.randn(1, m_in, side, side)

    def macs(mod):
        with FlopCounterMode(display=False) as fc:
            mod(x)
        return fc.get_total_flops() // 2

    assert macs(sep) / macs(full) == pytest.approx(1 / n_out + 1 / k**2)
    assert sep.depthwise.conv.groups == m_in and sep(x).shape == (1, n_out, side, side)


def test_make_divisible():
    assert [make_divisible(v) for v in (32 * 0.25, 16 * 1.1, 40 * 1.4, 3.0, 90.0)] == [8, 16, 56, 8, 88]
    assert make_divisible(18.0, 8) == 24  # 16 would be more than 10% below 18


@pytest.mark.parametrize("stride,in_chs,out_chs,residual", [(1, 16, 16, True), (2, 16, 16, False),
                                                             (1, 16, 24, False)])
def test_mbconv_residual_only_when_shape_is_kept(stride, in_chs, out_chs, residual):
    block = MBConv(in_chs, out_chs, mid_chs=in_chs * 6, stride=stride, se_chs=4).eval()
    x = torch.randn(2, in_chs, 8, 8)
    assert block.has_residual is residual
    with torch.no_grad():
        y = block(x)
        assert y.shape == (2, out_chs, 8 // stride, 8 // stride)
        if residual:
            torch.testing.assert_close(y - x, block.branch(x))


def test_mbconv_linear_bottleneck_and_no_expansion_at_ratio_one():
    block = MBConv(8, 8, mid_chs=8)
    assert isinstance(block.expand, nn.Identity)
    assert not hasattr(block.project, "act")  # no activation after the projection
    # parameters: depthwise 3x3 + BN, project 1x1 + BN
    assert _count(block) == 8 * 9 + 16 + 8 * 8 + 16


def test_fused_mbconv_structure():
    fused = FusedMBConv(8, 16, mid_chs=32, stride=2)
    assert _count(fused) == 8 * 32 * 9 + 64 + 32 * 16 + 32
    assert fused(torch.randn(1, 8, 8, 8)).shape == (1, 16, 4, 4)
    single = FusedMBConv(8, 8, mid_chs=8)  # expand ratio 1: one 3x3 conv with its activation
    assert isinstance(single.project, nn.Identity) and hasattr(single.fused, "act")
    assert _count(single) == 8 * 8 * 9 + 16 and single.has_residual


def test_mbconv_drop_path_only_on_residual_blocks():
    assert isinstance(MBConv(8, 8, mid_chs=16, drop_path=0.2).drop_path, DropPath)
    assert isinstance(MBConv(8, 16, mid_chs=16, drop_path=0.2).drop_path, nn.Identity)


def test_shuffle_units_shapes_and_errors():
    x = torch.randn(2, 24, 8, 8)
    assert ShuffleUnitV1(24, 240, groups=3, stride=2, group_first=False)(x).shape == (2, 240, 4, 4)
    assert ShuffleUnitV1(24, 24, groups=3, mid_chs=6)(x).shape == (2, 24, 8, 8)
    assert ShuffleUnitV2(24, 48, stride=2)(x).shape == (2, 48, 4, 4)
    assert ShuffleUnitV2(24, 24)(x).shape == (2, 24, 8, 8)
    with pytest.raises(ValueError, match="stride 1 with in_chs == out_chs"):
        ShuffleUnitV2(24, 48, stride=1)


def test_shuffle_unit_v2_keeps_half_the_channels():
    unit = ShuffleUnitV2(8, 8).eval()
    x = torch.randn(1, 8, 4, 4)
    with torch.no_grad():
        y = channel_shuffle(unit(x), 4)  # undo the 2-group shuffle: [kept half, branch]
    torch.testing.assert_close(y[:, :4], x[:, :4])

