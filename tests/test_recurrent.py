"""Written-out RNN / GRU / LSTM cells and layers against PyTorch's own modules, topologies, MoE."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from archzoo.blocks.moe import SparseMoE
from archzoo.blocks.recurrent import (GRUCell, LSTMCell, RecurrentLayer, RecurrentStack, RNNCell,
                                      pyramid_halve, reverse_padded)

TORCH_CELLS = {"rnn": (RNNCell, nn.RNNCell), "gru": (GRUCell, nn.GRUCell), "lstm": (LSTMCell, nn.LSTMCell)}


def _copy(dst: nn.Module, src: nn.Module) -> None:
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(dst, name).copy_(getattr(src, name))


@pytest.mark.parametrize("mode", ["rnn", "gru", "lstm"])
def test_cell_equals_pytorch_cell_outputs_and_grads(mode):
    torch.manual_seed(0)
    ours_cls, ref_cls = TORCH_CELLS[mode]
    ours, ref = ours_cls(5, 7), ref_cls(5, 7)
    _copy(ours, ref)
    x = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    ours, ref = ours.double(), ref.double()
    h = torch.randn(3, 7, dtype=torch.float64)
    state = (h, torch.randn(3, 7, dtype=torch.float64)) if mode == "lstm" else h
    out_o, out_r = ours(x, state), ref(x, state)
    if mode == "lstm":
        assert all(torch.allclose(a, b, atol=1e-10) for a, b in zip(out_o, out_r))
        loss_o, loss_r = sum(o.square().sum() for o in out_o), sum(o.square().sum() for o in out_r)
    else:
        assert torch.allclose(out_o, out_r, atol=1e-10)
        loss_o, loss_r = out_o.square().sum(), out_r.square().sum()
    g_o = torch.autograd.grad(loss_o, [x, *ours.parameters()])
    g_r = torch.autograd.grad(loss_r, [x, ref.weight_ih, ref.weight_hh, ref.bias_ih, ref.bias_hh])
    for a, b in zip(g_o, g_r):
        assert torch.allclose(a, b, atol=1e-10)


def test_gru_reset_before_is_the_seed_equation():
    torch.manual_seed(0)
    cell = GRUCell(4, 3, reset_after=False)
    x, h = torch.randn(2, 4), torch.randn(2, 3)
    Wi, Wh, bi, bh = cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh
    r = torch.sigmoid(x @ Wi[:3].T + bi[:3] + h @ Wh[:3].T + bh[:3])
    u = torch.sigmoid(x @ Wi[3:6].T + bi[3:6] + h @ Wh[3:6].T + bh[3:6])
    y = u * h + (1 - u) * torch.tanh(x @ Wi[6:].T + bi[6:] + (r * h) @ Wh[6:].T + bh[6:])
    assert torch.allclose(cell(x, h), y, atol=1e-6)


@pytest.mark.parametrize("mode", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("padded", [False, True])
def test_cells_layer_equals_fused_layer(mode, bidirectional, padded):
    """Same parameters, fused kernel vs written-out cells: outputs, final state and gradients."""
    torch.manual_seed(1)
    fused = RecurrentLayer(4, 6, mode=mode, bidirectional=bidirectional)
    cells = RecurrentLayer(4, 6, mode=mode, bidirectional=bidirectional, impl="cells")
    cells.load_state_dict(fused.state_dict())
    x = torch.randn(3, 5, 4)
    lengths = torch.tensor([5, 2, 4]) if padded else None
    results = []
    for layer in (fused, cells):
        xi = x.clone().requires_grad_(True)
        y, s = layer(xi, lengths=lengths)
        h = s[0] if mode == "lstm" else s
        (y.square().sum() + h.sum()).backward()
        results.append((y, h, xi.grad, [p.grad for p in layer.parameters()]))
    (y1, h1, gx1, gp1), (y2, h2, gx2, gp2) = results
    assert y1.shape == (3, 5, 12 if bidirectional else 6)
    assert torch.allclose(y1, y2, atol=1e-5) and torch.allclose(h1, h2, atol=1e-5)
    assert torch.allclose(gx1, gx2, atol=1e-5)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(gp1, gp2))


def test_lstm_layer_params_formula():
    layer = RecurrentLayer(10, 20, mode="lstm")
    assert sum(p.numel() for p in layer.parameters()) == 4 * (20 * (10 + 20) + 2 * 20)


def test_reverse_padded_and_pyramid():
    x = torch.arange(6.).reshape(1, 6, 1).repeat(2, 1, 1)
    r = reverse_padded(x, torch.tensor([6, 3]))
    assert r[0, :, 0].tolist() == [5, 4, 3, 2, 1, 0] and r[1, :, 0].tolist() == [2, 1, 0, 3, 4, 5]
    y, lengths = pyramid_halve(torch.randn(2, 5, 3), torch.tensor([5, 2]))
    assert y.shape == (2, 3, 6) and lengths.tolist() == [3, 1]


def test_stack_topologies():
    x = torch.randn(2, 8, 4)
    stack = RecurrentStack(4, 6, mode="gru", num_layers=3, bidirectional=True, merge="add", residual=True)
    y, states, _ = stack(x)
    assert y.shape == (2, 8, 6) and len(states) == 3 and states[0].shape == (2, 2, 6)
    pyr = RecurrentStack(4, 6, mode="lstm", num_layers=3, pyramidal=True)
    y, _, lengths = pyr(x, lengths=torch.tensor([8, 5]))
    assert y.shape == (2, 2, 6) and lengths.tolist() == [2, 2]
    res = RecurrentStack(4, 4, mode="rnn", num_layers=2, residual=True)
    y_res = res(x)[0]
    res.residual = False
    assert not torch.allclose(y_res, res(x)[0])


def test_moe_routes_k_experts_and_balancing_losses():
    torch.manual_seed(0)
    moe = SparseMoE(8, num_experts=4, k=2)
    nn.init.normal_(moe.w_gate)
    nn.init.normal_(moe.w_noise)
    x = torch.randn(5, 7, 8, requires_grad=True)
    y = moe(x)
    assert y.shape == x.shape
    assert (moe.last_gates > 0).sum(-1).eq(2).all()
    assert torch.allclose(moe.last_gates.sum(-1), torch.ones(35))
    assert moe.aux_loss > 0
    (y.sum() + moe.aux_loss).backward()
    assert moe.w_gate.grad.abs().sum() > 0 and moe.w_noise.grad.abs().sum() > 0
    moe.eval()  # no noise at evaluation: deterministic
    assert torch.equal(moe(x), moe(x))


def test_moe_between_stacked_layers():
    stack = RecurrentStack(4, 8, mode="lstm", num_layers=2, moe_experts=4, moe_k=1)
    y, _, _ = stack(torch.randn(2, 5, 4))
    assert y.shape == (2, 5, 8) and stack.aux_loss.ndim == 0
