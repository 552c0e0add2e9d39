"""Sequence to sequence with attention: seed 000's encoder-decoder (many-to-many, unaligned).

Sutskever, Vinyals, Le 2014, "Sequence to Sequence Learning with Neural Networks" (arXiv:1409.3215)
with the attention of Bahdanau et al. 2015 (arXiv:1409.0473): a bidirectional recurrent encoder
reads the source (B, S); at each target step the decoder state s_{i-1} scores every encoder output
h_j, the weights a_ij (saved in `last_attention`, (B, T, S), for heat maps) form the context c_i,
and s_i = cell([embed(y_{i-1}); c_i], s_{i-1}); the output layer sees [s_i; c_i]. `attention` is
one of blocks.seq_attention's score functions, or "none" (Sutskever et al.: the encoder's final state
alone seeds the decoder). Training uses teacher forcing; `teacher_forcing` < 1 feeds the model's own
previous prediction with probability 1 - ratio (scheduled-sampling style, Bengio et al. 2015).
Decoding: greedy or beam search through archzoo.generate (this model is a `StepDecoder`).
Departures: the decoder starts from tanh(W [h_fwd; h_bwd]) of the encoder's final states (Bahdanau's
choice uses the backward state only); the output layer is linear, not Bahdanau's maxout.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
from torch import Tensor

from ..blocks.recurrent import GATES, RecurrentStack
from ..blocks.seq_attention import SeqAttention
from ._base import InputShapeError
from ._registry import ModelCard, Paper, register_variants

PAPER = Paper("Neural Machine Translation by Jointly Learning to Align and Translate", 2015, "1409.0473",
              "Bahdanau, Cho, Bengio")
PAPER_NONE = Paper("Sequence to Sequence Learning with Neural Networks", 2014, "1409.3215",
                   "Sutskever, Vinyals, Le")
BOS_ID, EOS_ID, PAD_ID = 1, 2, 0  # archzoo.data.tokenize's special ids


@dataclass(frozen=True)
class Seq2SeqConfig:
    attention: str = "additive"  # none | additive | dot | multiplicative | scaled | key_value | location
    mode: str = "gru"  # gru | lstm | rnn
    src_vocab: int = 71
    tgt_vocab: int = 15
    embed_dim: int = 32
    hidden_size: int = 128
    bidirectional: bool = True
    teacher_forcing: float = 1.0
    max_src_len: int = 64  # the positions location attention can score
    src_len: int = 24  # the card's input lengths
    tgt_len: int = 11


def _index0(state: Any, index: Tensor) -> Any:
    if isinstance(state, Tensor):
        return state.index_select(0, index)
    if state is None:
        return None
    return type(state)(_index0(s, index) for s in state)


class Seq2Seq(nn.Module):
    """forward(src (B, S), src_len (B,), tgt_in (B, T)) -> logits (B, T, V_tgt)."""

    def __init__(self, cfg: Seq2SeqConfig) -> None:
        super().__init__()
        if not 0 <= cfg.teacher_forcing <= 1:
            raise ValueError(f"expected teacher_forcing in [0, 1], got {cfg.teacher_forcing}")
        self.cfg, self.num_classes = cfg, cfg.tgt_vocab
        h, dirs = cfg.hidden_size, 2 if cfg.bidirectional else 1
        self.src_embed = nn.Embedding(cfg.src_vocab, cfg.embed_dim, padding_idx=PAD_ID)
        self.encoder = RecurrentStack(cfg.embed_dim, h, mode=cfg.mode, bidirectional=cfg.bidirectional)
        self.bridge = nn.Linear(dirs * h, h)
        self.tgt_embed = nn.Embedding(cfg.tgt_vocab, cfg.embed_dim, padding_idx=PAD_ID)
        ctx = 0
        self.attn = None
        if cfg.attention != "none":
            self.attn = SeqAttention(cfg.attention, query_size=h, key_size=dirs * h, max_len=cfg.max_src_len)
            ctx = self.attn.value_size
        cells = {"gru": nn.GRUCell, "lstm": nn.LSTMCell, "rnn": nn.RNNCell}
        if cfg.mode not in cells:
            raise ValueError(f"unknown recurrent mode {cfg.mode!r}; expected one of {', '.join(cells)}")
        self.cell = cells[cfg.mode](cfg.embed_dim + ctx, h)
        self.out = nn.Linear(h + ctx, cfg.tgt_vocab)
        self.last_attention: Tensor | None = None

    def example_inputs(self, batch_size: int = 2) -> tuple[Tensor, Tensor, Tensor]:
        c = self.cfg
        return (torch.ones(batch_size, c.src_len, dtype=torch.long),
                torch.full((batch_size,), c.src_len, dtype=torch.long),
                torch.ones(batch_size, c.tgt_len, dtype=torch.long))

    def encode(self, src: Tensor, src_len: Tensor) -> tuple[Any, Tensor, Tensor | None, Tensor]:
        if src.ndim != 2 or src.dtype != torch.long:
            raise InputShapeError(f"seq2seq expects source token ids (B, S) as int64; got {src.dtype} "
                                  f"{tuple(src.shape)}")
        memory, states, _ = self.encoder(self.src_embed(src), None, src_len)  # B S dirs*H
        h = states[-1][0] if isinstance(states[-1], tuple) else states[-1]  # dirs B H
        s = torch.tanh(self.bridge(h.transpose(0, 1).flatten(1)))  # B H
        state = (s, torch.zeros_like(s)) if self.cfg.mode == "lstm" else s
        mask = torch.arange(src.shape[1], device=src.device) < src_len.to(src.device).unsqueeze(1)  # B S
        keys = self.attn.precompute(memory) if self.attn is not None else None
        return state, memory, keys, mask

    def decode_step(self, y_prev: Tensor, state: Any, memory: Tensor, keys: Tensor | None,
                    mask: Tensor) -> tuple[Tensor, Any, Tensor | None]:
        e = self.tgt_embed(y_prev)  # B E
        s = state[0] if isinstance(state, tuple) else state  # B H, s_{i-1}
        weights = None
        if self.attn is not None:
            ctx, weights = self.attn(s, memory, mask, keys)  # B Dv, B S
            state = self.cell(torch.cat([e, ctx], dim=-1), state)
            s = state[0] if isinstance(state, tuple) else state
            return self.out(torch.cat([s, ctx], dim=-1)), state, weights
        state = self.cell(e, state)
        s = state[0] if isinstance(state, tuple) else state
        return self.out(s), state, weights

    def forward(self, src: Tensor, src_len: Tensor, tgt_in: Tensor, teacher_forcing: float | None = None) -> Tensor:
        ratio = self.cfg.teacher_forcing if teacher_forcing is None else teacher_forcing
        state, memory, keys, mask = self.encode(src, src_len)
        logits, maps = [], []
        y = tgt_in[:, 0]
        for t in range(tgt_in.shape[1]):
            if t > 0:
                y = tgt_in[:, t]
                if self.training and ratio < 1:  # feed back the model's own guess where the coin says so
                    own = logits[-1].argmax(-1)
                    y = torch.where(torch.rand(y.shape, device=y.device) < ratio, y, own)
            out, state, w = self.decode_step(y, state, memory, keys, mask)
            logits.append(out)
            if w is not None:
                maps.append(w)
        self.last_attention = torch.stack(maps, 1).detach() if maps else None  # B T S
        return torch.stack(logits, dim=1)  # B T V

    # the StepDecoder protocol (archzoo.generate)
    def start(self, prompt: Tensor, lengths: Tensor) -> tuple[Tensor, Any]:
        state, memory, keys, mask = self.encode(prompt, lengths)
        bos = torch.full((prompt.shape[0],), BOS_ID, dtype=torch.long, device=prompt.device)
        logits, state, _ = self.decode_step(bos, state, memory, keys, mask)
        return logits, (state, memory, keys, mask)

    def step(self, tokens: Tensor, state: Any) -> tuple[Tensor, Any]:
        s, memory, keys, mask = state
        logits, s, _ = self.decode_step(tokens, s, memory, keys, mask)
        return logits, (s, memory, keys, mask)

    def reorder_state(self, state: Any, index: Tensor) -> Any:
        return _index0(state, index)

    def generate(self, prompts: Any, **options: Any) -> list[list[int]]:
        from ..generate import generate
        options.setdefault("eos_id", EOS_ID)
        options.setdefault("temperature", 0.0)
        options.setdefault("max_new_tokens", 2 * self.cfg.tgt_len)
        return generate(self, prompts, **options)


def _counts(cfg: Seq2SeqConfig) -> tuple[int, int]:
    g, e, h, dirs = GATES[cfg.mode], cfg.embed_dim, cfg.hidden_size, 2 if cfg.bidirectional else 1
    k = dirs * h
    a = cfg.attention
    ctx = 0 if a == "none" else (k // 2 if a == "key_value" else k)
    attn_p = {"none": 0, "dot": 0, "additive": h * h + k * h + h + h, "key_value": h * h + (k // 2) * h + h + h,
              "multiplicative": k * h, "scaled": k * h, "location": h * cfg.max_src_len + cfg.max_src_len}[a]
    params = (cfg.src_vocab * e + dirs * g * (h * (e + h) + 2 * h) + k * h + h + cfg.tgt_vocab * e + attn_p
              + g * (h * (e + ctx + h) + 2 * h) + (h + ctx) * cfg.tgt_vocab + cfg.tgt_vocab)
    S, T = cfg.src_len, cfg.tgt_len
    attn_once = {"additive": S * k * h, "key_value": S * (k // 2) * h, "multiplicative": S * k * h,
                 "scaled": S * k * h}.get(a, 0)
    attn_step = {"none": 0, "location": h * cfg.max_src_len + S * ctx}.get(
        a, (h * h + S * h if a in ("additive", "key_value") else S * h) + S * ctx)
    macs = (S * dirs * g * h * (e + h) + k * h + attn_once
            + T * (attn_step + g * h * (e + ctx + h) + (h + ctx) * cfg.tgt_vocab))
    return params, macs


def _card(name: str, cfg: Seq2SeqConfig) -> ModelCard:
    params, macs = _counts(cfg)
    return ModelCard(
        name=name, family="seq2seq", task="seq2seq", paper=PAPER_NONE if cfg.attention == "none" else PAPER,
        input_size=(cfg.src_len,), num_classes=cfg.tgt_vocab, params=params, macs=macs,
        source="formula: embeddings + encoder dirs * gates * (H(E+H) + 2H) + bridge + attention + decoder "
               "cell gates * (H(E+ctx+H) + 2H) + output (H+ctx)*V + V",
        macs_convention=f"matmuls: encoder S={cfg.src_len} steps, decoder T={cfg.tgt_len} steps with "
                        "attention scores and context, no bias, no pointwise ops",
        small_input_size=(6,),
        notes=("decoder starts from tanh(W [h_fwd; h_bwd])", "linear output layer instead of maxout",
               "vocab sizes are set from the task's vocabularies"),
    )


VARIANTS = {"seq2seq": Seq2SeqConfig()}
VARIANTS.update({f"seq2seq_{a}": Seq2SeqConfig(attention=a)
                 for a in ("none", "multiplicative", "scaled", "key_value", "location")})
register_variants("seq2seq", VARIANTS, Seq2Seq, _card)
