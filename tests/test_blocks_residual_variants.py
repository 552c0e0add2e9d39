"""Blocks of the residual variants: selective kernel, pre-activation, SE, dual path, Xception."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from archzoo.blocks import Bottleneck
from archzoo.blocks.preact import NormActConv, PreActBottleneck
from archzoo.blocks.selective_kernel import SelectiveKernel, SKBottleneck
from archzoo.models.dpn import DualPathBlock
from archzoo.models.senet import SEBottleneck
from archzoo.models.xception import XceptionBlock, separable_bn


def test_sk_weights_sum_to_one_over_paths_and_mix_them():
    torch.manual_seed(0)
    sk = SelectiveKernel(64, 64, groups=8, num_paths=3).eval()
    x = torch.randn(2, 64, 9, 9)
    feats = torch.stack([p(x) for p in sk.paths], dim=1)  # (B, M, C, H, W)
    w = sk.path_weights(feats)
    assert w.shape == (2, 3, 64, 1, 1) and (w > 0).all()
    assert torch.allclose(w.sum(1), torch.ones(2, 64, 1, 1))
    assert torch.allclose(sk(x), (feats * w).sum(1), atol=1e-6)
    # the paths differ only in dilation (3x3, then 3x3 dilated by 2: a 5x5 field)
    assert [p.conv.dilation for p in sk.paths] == [(1, 1), (2, 2), (3, 3)]
    assert sk.fuse.conv.out_channels == 32  # d = max(C / r, L) = max(4, 32)


def test_sk_bottleneck_strides_and_projects():
    block = SKBottleneck(64, 256, mid_chs=128, stride=2)
    assert block(torch.randn(2, 64, 8, 8)).shape == (2, 256, 4, 4)
    assert all(p.conv.stride == (2, 2) for p in block.conv2.paths)


def test_norm_act_conv_order():
    unit = NormActConv(4, 8, kernel_size=3)
    assert [type(m) for m in unit] == [nn.BatchNorm2d, nn.ReLU, nn.Conv2d]


def test_preact_bottleneck_identity_shortcut_and_no_final_activation():
    torch.manual_seed(0)
    block = PreActBottleneck(32, 32, mid_chs=8).eval()
    x = torch.randn(2, 32, 6, 6)
    branch = block.conv3(block.conv2(block.conv1(block.preact(x))))
    assert torch.allclose(block(x), x + branch)  # the raw input passes, nothing after the sum
    assert (block(x) < 0).any()


def test_preact_projection_takes_the_activated_input():
    block = PreActBottleneck(16, 64, mid_chs=16, stride=2).eval()
    seen = []
    block.shortcut.register_forward_hook(lambda m, inp, out: seen.append(inp[0]))
    assert block(torch.randn(2, 16, 8, 8)).shape == (2, 64, 4, 4)
    assert (seen[0] >= 0).all()  # after BN-ReLU


def test_se_bottleneck_with_open_gate_is_the_plain_bottleneck():
    torch.manual_seed(0)
    plain = Bottleneck(64, 64, mid_chs=16).eval()
    se = SEBottleneck(64, 64, mid_chs=16).eval()
    se.load_state_dict(plain.state_dict(), strict=False)
    nn.init.zeros_(se.se.expand.weight)
    nn.init.constant_(se.se.expand.bias, 50.0)  # sigmoid(50) == 1 in float32
    x = torch.randn(2, 64, 5, 5)
    assert torch.allclose(se(x), plain(x), atol=1e-6)
    assert se.se.reduce.out_channels == 4  # r = 16


def test_dual_path_block_adds_to_residual_and_appends_to_dense():
    torch.manual_seed(0)
    first = DualPathBlock(24, mid_chs=16, res_chs=32, inc=8, groups=4, stride=2, project=True)
    first.eval()
    res, dense = first(torch.randn(2, 24, 8, 8))
    assert res.shape == (2, 32, 4, 4) and dense.shape == (2, 8 * 3, 4, 4)
    nxt = DualPathBlock(32 + 24, mid_chs=16, res_chs=32, inc=8, groups=4).eval()
    res2, dense2 = nxt((res, dense))
    out = nxt.conv3(nxt.conv2(nxt.conv1(torch.cat([res, dense], 1))))
    assert torch.allclose(res2, res + out[:, :32])
    assert torch.equal(dense2[:, :24], dense) and dense2.shape[1] == 32


def test_xception_separable_has_nothing_between_depthwise_and_pointwise():
    torch.manual_seed(0)
    sep = separable_bn(8, 16).eval()
    x = torch.randn(1, 8, 7, 7)
    dw, pw = sep[0].depthwise.conv, sep[0].pointwise.conv
    assert dw.bias is None and pw.bias is None
    by_hand = F.conv2d(F.conv2d(x, dw.weight, padding=1, groups=8), pw.weight)  # (B, C, H, W)
    assert torch.allclose(sep(x), sep[1](by_hand), atol=1e-6)


def test_xception_block_shortcut_sees_the_input_before_relu():
    torch.manual_seed(0)
    block = XceptionBlock(8, 8, reps=3).eval()
    x = torch.randn(1, 8, 5, 5)
    assert torch.allclose(block(x), block.units(x) + x)
    assert XceptionBlock(8, 16, reps=2, stride=2)(x).shape == (1, 16, 3, 3)
