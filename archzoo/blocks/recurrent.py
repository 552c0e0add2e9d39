"""Recurrent cells and layers of seed 003: RNN, GRU and LSTM, and the ways they are stacked.

Cells are written out from the seed's equations (row-vector form y_t^T = f(x_t^T H + y_{t-1}^T G + v^T);
here H = weight_ih^T, G = weight_hh^T, as PyTorch stores them):
- RNN (Elman 1990): y_t = tanh(x_t H + y_{t-1} G + v).
- GRU (Cho et al. 2014, "Learning Phrase Representations using RNN Encoder-Decoder", arXiv:1406.1078):
  update u, reset r, y_t = u * y_{t-1} + (1 - u) * tanh(x_t H_y + r * (y_{t-1} G_y + v_hy) + v_y).
- LSTM (Hochreiter & Schmidhuber 1997; forget gate of Gers et al. 2000): forget f, input i, output o,
  c_t = f * c_{t-1} + i * tanh(x_t H_c + y_{t-1} G_c + v_c), y_t = o * tanh(c_t).
Departures: the GRU applies the reset gate *after* the recurrent matmul (r * (y G + v)), as cuDNN and
`nn.GRU` do, so written-out and fused layers agree; the seed's (and Cho's) r * y before the matmul is
`GRUCell(reset_after=False)`. Every cell carries two bias vectors (v_ih, v_hh) like PyTorch, so an
LSTM layer has 4 * (H * (I + H) + 2H) parameters.

`RecurrentLayer` owns one `nn.RNN/GRU/LSTM` (one level, one or two directions) and runs it with the
fused kernel (`impl="fused"`, default) or with the written-out cells on the *same* parameters
(`impl="cells"`), so checkpoints move freely between the two. `RecurrentStack` builds seed 003's
topologies: stacked, stacked with residual connections (Wu et al. 2016, GNMT, arXiv:1609.08144),
bidirectional with concatenated or added directions (Schuster & Paliwal 1997), pyramidal (Chan et al.
2015, "Listen, Attend and Spell", arXiv:1508.01211: each level concatenates pairs of time steps,
halving the length) and a sparsely gated mixture of experts between levels (`blocks.moe`).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

GATES = {"rnn": 1, "gru": 3, "lstm": 4}
_TORCH = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


def rnn_step(x: Tensor, h: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor) -> Tensor:
    return torch.tanh(F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh))  # B H


def gru_step(x: Tensor, h: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor,
             reset_after: bool = True) -> Tensor:
    xr, xu, xn = F.linear(x, w_ih, b_ih).chunk(3, dim=-1)  # 3 x (B, H); PyTorch's order r, z(u), n
    hs = h.shape[-1]
    hr, hu = F.linear(h, w_hh[: 2 * hs], b_hh[: 2 * hs]).chunk(2, dim=-1)
    r, u = torch.sigmoid(xr + hr), torch.sigmoid(xu + hu)
    if reset_after:
        n = torch.tanh(xn + r * F.linear(h, w_hh[2 * hs:], b_hh[2 * hs:]))
    else:
        n = torch.tanh(xn + F.linear(r * h, w_hh[2 * hs:], b_hh[2 * hs:]))
    return u * h + (1 - u) * n


def lstm_step(x: Tensor, state: tuple[Tensor, Tensor], w_ih: Tensor, w_hh: Tensor, b_ih: Tensor,
              b_hh: Tensor) -> tuple[Tensor, Tensor]:
    h, c = state
    i, f, g, o = (F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh)).chunk(4, dim=-1)  # PyTorch's order
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


class _Cell(nn.Module):
    mode = "rnn"

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        g = GATES[self.mode]
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(g * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(g * hidden_size, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(g * hidden_size))
        self.bias_hh = nn.Parameter(torch.empty(g * hidden_size))
        bound = hidden_size ** -0.5  # PyTorch's initialisation, U(-1/sqrt(H), 1/sqrt(H))
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _weights(self) -> tuple[Tensor, ...]:
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh


class RNNCell(_Cell):
    """y_t = tanh(x_t H + y_{t-1} G + v): one step, (B, I), (B, H) -> (B, H)."""
    mode = "rnn"

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        return rnn_step(x, h, *self._weights())


class GRUCell(_Cell):
    """Update and reset gates; `reset_after=False` is the seed's r * y_{t-1} before G_y."""
    mode = "gru"

    def __init__(self, input_size: int, hidden_size: int, *, reset_after: bool = True) -> None:
        super().__init__(input_size, hidden_size)
        self.reset_after = reset_after

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        return gru_step(x, h, *self._weights(), reset_after=self.reset_after)


class LSTMCell(_Cell):
    """Forget, input, output gates and a separate cell state: (B, I), (h, c) -> (h, c)."""
    mode = "lstm"

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        return lstm_step(x, state, *self._weights())


_STEP = {"rnn": rnn_step, "gru": gru_step, "lstm": lstm_step}


def reverse_padded(x: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each sequence of x (B, T, D) within its length; padding stays at the end."""
    T = x.shape[1]
    t = torch.arange(T, device=x.device).unsqueeze(0)  # 1 T
    idx = torch.where(t < lengths.unsqueeze(1), lengths.unsqueeze(1) - 1 - t, t)  # B T
    return x.gather(1, idx.unsqueeze(-1).expand_as(x))


class RecurrentLayer(nn.Module):
    """One level of a recurrent net, batch first: x (B, T, I) -> y (B, T, H or 2H), state.

    state is h (dirs, B, H), or (h, c) for the LSTM, as PyTorch's modules use. With `lengths` (B,),
    padded steps neither change the state nor produce output (zeros), so the returned state is each
    sequence's own last state. `merge` combines two directions: "concat" (2H) or "add" (H).
    """

    def __init__(self, input_size: int, hidden_size: int, *, mode: str = "lstm", bidirectional: bool = False,
                 merge: str = "concat", impl: str = "fused") -> None:
        super().__init__()
        if mode not in GATES:
            raise ValueError(f"unknown recurrent mode {mode!r}; expected one of {', '.join(GATES)}")
        if merge not in ("concat", "add") or impl not in ("fused", "cells"):
            raise ValueError(f"expected merge 'concat'|'add' and impl 'fused'|'cells'; got {merge!r}, {impl!r}")
        self.mode, self.impl, self.merge, self.bidirectional = mode, impl, merge, bidirectional
        self.input_size, self.hidden_size = input_size, hidden_size
        self.rnn = _TORCH[mode](input_size, hidden_size, batch_first=True, bidirectional=bidirectional)
        self.output_size = hidden_size * (2 if bidirectional and merge == "concat" else 1)

    def forward(self, x: Tensor, state: Any = None, lengths: Tensor | None = None) -> tuple[Tensor, Any]:
        if self.impl == "fused":
            y, state = self._fused(x, state, lengths)
        else:
            y, state = self._cells(x, state, lengths)
        if self.bidirectional and self.merge == "add":
            y = y[..., : self.hidden_size] + y[..., self.hidden_size:]  # B T H
        return y, state

    def _fused(self, x: Tensor, state: Any, lengths: Tensor | None) -> tuple[Tensor, Any]:
        if lengths is None:
            return self.rnn(x, state)
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        y, state = self.rnn(packed, state)
        y, _ = nn.utils.rnn.pad_packed_sequence(y, batch_first=True, total_length=x.shape[1])
        return y, state

    def _cells(self, x: Tensor, state: Any, lengths: Tensor | None) -> tuple[Tensor, Any]:
        B, T, _ = x.shape
        dirs = 2 if self.bidirectional else 1
        if state is None:
            zeros = x.new_zeros(dirs, B, self.hidden_size)
            state = (zeros, zeros) if self.mode == "lstm" else zeros
        outs, finals = [], []
        for d in range(dirs):
            sfx = "_reverse" if d else ""
            w = [getattr(self.rnn, f"{n}_l0{sfx}") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            xs = x if d == 0 else (x.flip(1) if lengths is None else reverse_padded(x, lengths))
            s = (state[0][d], state[1][d]) if self.mode == "lstm" else state[d]
            ys = []
            for t in range(T):
                new = _STEP[self.mode](xs[:, t], s, *w)
                if lengths is not None:  # padded steps keep the state
                    keep = (t < lengths).to(x.device).unsqueeze(1)  # B 1
                    new = tuple(torch.where(keep, n, o) for n, o in zip(new, s)) if self.mode == "lstm" \
                        else torch.where(keep, new, s)
                s = new
                ys.append(s[0] if self.mode == "lstm" else s)
            y = torch.stack(ys, dim=1)  # B T H
            if lengths is not None:
                y = y * (torch.arange(T, device=x.device) < lengths.to(x.device).unsqueeze(1)).unsqueeze(-1)
            outs.append(y if d == 0 else (y.flip(1) if lengths is None else reverse_padded(y, lengths)))
            finals.append(s)
        y = torch.cat(outs, dim=-1)  # B T dirs*H
        if self.mode == "lstm":
            return y, (torch.stack([f[0] for f in finals]), torch.stack([f[1] for f in finals]))
        return y, torch.stack(finals)


def pyramid_halve(x: Tensor, lengths: Tensor | None) -> tuple[Tensor, Tensor | None]:
    """(B, T, D) -> (B, ceil(T/2), 2D): concatenate neighbouring steps (Listen, Attend and Spell)."""
    B, T, D = x.shape
    if T % 2:
        x = F.pad(x, (0, 0, 0, 1))  # B T+1 D; the odd last step pairs with zeros
    x = x.reshape(B, (T + 1) // 2, 2 * D)  # B T/2 2D
    return x, None if lengths is None else (lengths + 1) // 2


class RecurrentStack(nn.Module):
    """Levels of `RecurrentLayer`s: x (B, T, I) -> y (B, T', D), [state of each level], lengths.

    residual adds each level's input to its output where the widths agree (levels 2..n); pyramidal
    halves T before every level after the first; `moe_experts` > 0 puts a sparsely gated mixture of
    experts after the first level (its auxiliary loss is `self.aux_loss`); dropout acts between levels.
    """

    def __init__(self, input_size: int, hidden_size: int, *, mode: str = "lstm", num_layers: int = 1,
                 bidirectional: bool = False, merge: str = "concat", residual: bool = False,
                 pyramidal: bool = False, dropout: float = 0.0, impl: str = "fused", moe_experts: int = 0,
                 moe_k: int = 2) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"expected num_layers >= 1, got {num_layers}")
        self.residual, self.pyramidal = residual, pyramidal
        self.layers = nn.ModuleList()
        width = input_size
        for i in range(num_layers):
            layer_in = width * 2 if pyramidal and i > 0 else width
            layer = RecurrentLayer(layer_in, hidden_size, mode=mode, bidirectional=bidirectional,
                                   merge=merge, impl=impl)
            self.layers.append(layer)
            width = layer.output_size
        self.output_size = width
        self.drop = nn.Dropout(dropout)
        self.moe = None
        if moe_experts > 0:
            from .moe import SparseMoE
            self.moe = SparseMoE(self.layers[0].output_size, num_experts=moe_experts, k=moe_k)
        self.aux_loss = torch.zeros(())

    def forward(self, x: Tensor, state: list[Any] | None = None,
                lengths: Tensor | None = None) -> tuple[Tensor, list[Any], Tensor | None]:
        states = []
        for i, layer in enumerate(self.layers):
            if i > 0:
                x = self.drop(x)
                if self.pyramidal:
                    x, lengths = pyramid_halve(x, lengths)
            y, s = layer(x, None if state is None else state[i], lengths)
            if self.residual and i > 0 and y.shape == x.shape:
                y = y + x
            if i == 0 and self.moe is not None:
                y = y + self.moe(y)  # a residual around the mixture (our choice): experts start random
                self.aux_loss = self.moe.aux_loss
            states.append(s)
            x = y
        return x, states, lengths
