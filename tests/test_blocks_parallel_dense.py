"""Parallel (Inception, fire) and dense blocks against their papers' tables and definitions."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

import archzoo
from archzoo.blocks.dense import DenseBlock, DenseLayer, Transition
from archzoo.blocks.fire import Fire
from archzoo.blocks.inception import (InceptionV1, InceptionV3A, InceptionV3B, InceptionV3C,
                                      InceptionV3D, InceptionV3E)


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# --- dense -----------------------------------------------------------------------------------

def test_dense_block_appends_k_channels_per_layer():
    block = DenseBlock(16, num_layers=5, growth_rate=12).eval()
    x = torch.randn(2, 16, 7, 7)
    y = block(x)
    assert y.shape == (2, 16 + 5 * 12, 7, 7) and block.out_chs == 76
    # the input passes through untouched, and layer i reads exactly the maps before it
    torch.testing.assert_close(y[:, :16], x)
    for i, layer in enumerate(block.values()):
        c = 16 + i * 12
        torch.testing.assert_close(y[:, c:c + 12], layer(y[:, :c]))


@pytest.mark.parametrize("bn_size", [4, None])
def test_dense_layer_bottleneck(bn_size):
    layer = DenseLayer(40, growth_rate=8, bn_size=bn_size)
    convs = [m for m in layer.modules() if isinstance(m, nn.Conv2d)]
    if bn_size:  # DenseNet-B: BN-ReLU-1x1 (4k) then BN-ReLU-3x3 (k), no biases
        assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == \
            [(40, 32, (1, 1)), (32, 8, (3, 3))]
    else:
        assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [(40, 8, (3, 3))]
    assert all(c.bias is None for c in convs)
    assert layer(torch.randn(1, 40, 5, 5)).shape == (1, 8, 5, 5)


def test_transition_compresses_and_halves():
    t = Transition(64, 32)
    assert t(torch.randn(2, 64, 8, 8)).shape == (2, 32, 4, 4)
    assert [n for n, _ in t.reduce.named_children()] == ["norm", "act", "conv"]


def test_densenet_bc_100_has_three_blocks_of_16():
    with torch.device("meta"):
        model = archzoo.create_model("densenet_bc_100_k12")
    blocks = [m for m in model.modules() if isinstance(m, DenseBlock)]
    assert [len(b) for b in blocks] == [16, 16, 16]
    # compression 0.5: 24 + 16*12 = 216 -> 108; 108 + 192 = 300 -> 150; 150 + 192 = 342
    assert [b.out_chs for b in blocks] == [216, 300, 342]


# --- Inception v1 ----------------------------------------------------------------------------

# GoogLeNet Table 1: module -> output depth
_V1_DEPTHS = {"3a": 256, "3b": 480, "4a": 512, "4b": 512, "4c": 512, "4d": 528, "4e": 832,
              "5a": 832, "5b": 1024}


def test_inception_v1_concatenates_the_four_branches():
    m = InceptionV1(192, c1x1=64, c3x3_reduce=96, c3x3=128, c5x5_reduce=16, c5x5=32, pool_proj=32)
    assert m(torch.randn(1, 192, 9, 9)).shape == (1, 256, 9, 9) and m.out_chs == 256
    # 3a's weights (Table 1 rounds them to 159K) plus one bias per output channel of each conv
    weights = 192 * 64 + 192 * 96 + 96 * 128 * 9 + 192 * 16 + 16 * 32 * 25 + 192 * 32
    assert _count(m) == weights + (64 + 96 + 128 + 16 + 32 + 32)
    ref = InceptionV1(192, c1x1=64, c3x3_reduce=96, c3x3=128, c5x5_reduce=16, c5x5=32,
                      pool_proj=32, kernel_5x5=3)
    assert _count(m) - _count(ref) == 16 * 32 * (25 - 9)


def test_googlenet_modules_match_table_1_depths():
    with torch.device("meta"):
        model = archzoo.create_model("googlenet")
    depths = {n: m.out_chs for stage in model.body for n, m in stage.named_children()
              if isinstance(m, InceptionV1)}
    assert depths == _V1_DEPTHS


# --- Inception v3 ----------------------------------------------------------------------------

@pytest.mark.parametrize("make,in_chs,side,out_chs,out_side", [
    (lambda: InceptionV3A(192, pool_proj=32), 192, 35, 256, 35),
    (lambda: InceptionV3B(288), 288, 35, 768, 17),
    (lambda: InceptionV3C(768, mid_chs=128), 768, 17, 768, 17),
    (lambda: InceptionV3D(768), 768, 17, 1280, 8),
    (lambda: InceptionV3E(1280), 1280, 8, 2048, 8),
])
def test_inception_v3_module_channels_and_grids(make, in_chs, side, out_chs, out_side):
    with torch.device("meta"):
        m = make()
        y = m(torch.empty(1, in_chs, side, side))
    assert y.shape == (1, out_chs, out_side, out_side) and m.out_chs == out_chs


def test_factorized_1x7_7x1_sees_a_7x7_window():
    # linear convs (no norm, identity activation) so the gradient support is the receptive field
    m = InceptionV3C(4, mid_chs=3, norm_layer=None, act_layer=nn.Identity)
    branch = m[1]  # 1x1 -> 1x7 -> 7x1
    assert [c.conv.kernel_size for c in branch] == [(1, 1), (1, 7), (7, 1)]
    x = torch.randn(1, 4, 15, 15, requires_grad=True)
    branch(x)[0, 0, 7, 7].backward()
    support = x.grad[0].abs().sum(0) > 0
    assert support.sum() == 49 and support[4:11, 4:11].all()


def test_inception_v3e_splits_into_1x3_and_3x1():
    m = InceptionV3E(1280)
    kernels = [c.kernel_size for c in m[1][1].modules() if isinstance(c, nn.Conv2d)]
    assert kernels == [(1, 3), (3, 1)]


# --- fire ------------------------------------------------------------------------------------

def test_fire_concatenates_expand_1x1_and_3x3():
    fire = Fire(96, squeeze_chs=16, expand1x1_chs=64, expand3x3_chs=64)
    assert fire(torch.randn(2, 96, 13, 13)).shape == (2, 128, 13, 13) and fire.out_chs == 128
    with pytest.raises(ValueError, match="squeeze_chs"):
        Fire(96, squeeze_chs=128, expand1x1_chs=64, expand3x3_chs=64)


def test_squeezenet1_0_matches_table_1_per_layer():
    # SqueezeNet Table 1, "#parameter before pruning"
    table = {"fire2": 11_920, "fire3": 12_432, "fire4": 45_344, "fire5": 49_440,
             "fire6": 104_880, "fire7": 111_024, "fire8": 188_992, "fire9": 197_184}
    with torch.device("meta"):
        model = archzoo.create_model("squeezenet1_0")
    counts = {n: _count(m) for stage in model.body for n, m in stage.named_children()
              if isinstance(m, Fire)}
    assert counts == table
    assert _count(model.tail) == 14_208 and _count(model.head) == 513_000


def test_positionwise_head_equals_conv1x1_relu_avgpool():
    from archzoo.models.squeezenet import PositionwiseHead

    head = PositionwiseHead(8, 5).eval()
    conv = nn.Conv2d(8, 5, 1)
    conv.weight.data = head.fc.weight.data.view(5, 8, 1, 1).clone()
    conv.bias.data = head.fc.bias.data.clone()
    x = torch.randn(2, 8, 6, 6)
    torch.testing.assert_close(head(x), torch.relu(conv(x)).mean((2, 3)))
    torch.testing.assert_close(head(x, pre_logits=True), x.mean((2, 3)))


# --- auxiliary classifiers -------------------------------------------------------------------

@pytest.mark.parametrize("name,params,n_aux,side", [
    ("googlenet_bn", 13_004_888, 2, 64),  # the reference implementation's count with aux heads
    ("inception_v3", 27_161_264, 1, 75),
    ("googlenet", None, 2, 48),
])
def test_aux_heads(name, params, n_aux, side):
    torch.manual_seed(0)
    model = archzoo.create_model(name, aux_logits=True, num_classes=10)
    if params is not None:
        with torch.device("meta"):
            assert _count(archzoo.create_model(name, aux_logits=True)) == params
    x = torch.randn(2, 3, side, side)
    model.train()
    out = model(x)
    assert out.shape == (2, 10)  # forward keeps the contract: main logits only
    logits, aux = model.forward_with_aux(x)
    assert logits.shape == (2, 10) and len(aux) == n_aux
    assert all(a.shape == (2, 10) for a in aux)
    (logits.square().mean() + sum(a.square().mean() for a in aux)).backward()
    assert all(p.grad is not None for p in model.parameters())
    model.reset_head(7)
    logits, aux = model.forward_with_aux(x)
    assert logits.shape == (2, 7) and all(a.shape == (2, 7) for a in aux)


def test_no_aux_by_default():
    with torch.device("meta"):
        model = archzoo.create_model("googlenet")
    _, aux = model.forward_with_aux(torch.empty(1, 3, 64, 64, device="meta"))
    assert aux == () and len(model.aux_heads) == 0
