"""Hand-written blocks against PyTorch's own modules and the papers' formulas."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from archzoo.blocks import (BasicBlock, Bottleneck, ClassifierHead, ConvNormAct, LocalResponseNorm,
                            Maxout, VectorizeHead, ZeroPadShortcut, get_act_layer)


@pytest.mark.parametrize("size", [3, 5, 4])
def test_lrn_matches_pytorch_with_alpha_scaled(size):
    x = torch.randn(2, 11, 6, 6, dtype=torch.float64, requires_grad=True)
    ours = LocalResponseNorm(size=size, alpha=1e-2, beta=0.75, k=2.0)
    ref = nn.LocalResponseNorm(size, alpha=1e-2 * size, beta=0.75, k=2.0)
    torch.testing.assert_close(ours(x), ref(x))
    g1, = torch.autograd.grad(ours(x).sum(), x)
    g2, = torch.autograd.grad(ref(x).sum(), x)
    torch.testing.assert_close(g1, g2)


def test_lrn_is_the_paper_formula():
    x = torch.randn(1, 7, 2, 2, dtype=torch.float64)
    lrn = LocalResponseNorm(size=5, alpha=1e-1, beta=0.75, k=2.0)
    c = 3  # window 1..5
    expect = x[:, c] / (2.0 + 1e-1 * x[:, 1:6].pow(2).sum(1)).pow(0.75)
    torch.testing.assert_close(lrn(x)[:, c], expect)


def test_maxout_is_max_of_affine_pieces():
    layer = Maxout(4, 3, pieces=2)
    x = torch.randn(5, 4)
    w, b = layer.linear.weight.view(3, 2, 4), layer.linear.bias.view(3, 2)
    expect = torch.maximum(x @ w[:, 0].T + b[:, 0], x @ w[:, 1].T + b[:, 1])
    torch.testing.assert_close(layer(x), expect)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "leaky_relu", "elu"])
def test_seed_activations_by_name(name):
    assert isinstance(get_act_layer(name)(), nn.Module)


def test_unknown_activation_lists_choices():
    with pytest.raises(ValueError, match="maxout"):
        get_act_layer("swishy")


def test_conv_norm_act_layout_and_bias():
    block = ConvNormAct(3, 8, kernel_size=3, stride=2)
    assert [n for n, _ in block.named_children()] == ["conv", "norm", "act"]
    assert block.conv.bias is None and block.conv.padding == (1, 1)
    plain = ConvNormAct(3, 8, kernel_size=5, norm_layer=None)
    assert plain.conv.bias is not None and plain.conv.padding == (2, 2)
    assert block(torch.randn(1, 3, 9, 9)).shape == (1, 8, 5, 5)


def test_zero_pad_shortcut_subsamples_and_pads():
    x = torch.arange(2 * 4 * 4, dtype=torch.float32).view(1, 2, 4, 4)
    y = ZeroPadShortcut(in_chs=2, out_chs=5, stride=2)(x)
    assert y.shape == (1, 5, 2, 2)
    torch.testing.assert_close(y[:, :2], x[:, :, ::2, ::2])
    assert y[:, 2:].abs().sum() == 0


def test_basic_block_is_relu_of_residual_plus_identity():
    block = BasicBlock(4, 4).eval()
    x = torch.randn(2, 4, 5, 5)
    expect = torch.relu(block.conv2(block.conv1(x)) + x)
    torch.testing.assert_close(block(x), expect)


@pytest.mark.parametrize("stride_in_3x3", [False, True])
def test_bottleneck_stride_placement(stride_in_3x3):
    block = Bottleneck(8, 16, mid_chs=4, stride=2, stride_in_3x3=stride_in_3x3)
    assert block.conv1.conv.stride == ((1, 1) if stride_in_3x3 else (2, 2))
    assert block.conv2.conv.stride == ((2, 2) if stride_in_3x3 else (1, 1))
    assert block(torch.randn(1, 8, 8, 8)).shape == (1, 16, 4, 4)


def test_heads_pre_logits_and_reset():
    gap = ClassifierHead(8, 3)
    x = torch.randn(2, 8, 4, 4)
    torch.testing.assert_close(gap(x, pre_logits=True), x.mean((2, 3)))
    gap.reset(5)
    assert gap(x).shape == (2, 5)
    vec = VectorizeHead(8 * 4 * 4, 3, hidden=(6,), drop_rate=0.5)
    assert vec(x, pre_logits=True).shape == (2, 6)
    vec.reset(0)  # a feature extractor
    assert vec(x).shape == (2, 6)
