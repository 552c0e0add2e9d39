"""Recurrent networks in seed 003's mappings: char-level language models (one-to-many generation
from a seed), a many-to-one sequence classifier and a many-to-many aligned tagger.

- `rnn_lm`, `gru_lm`, `lstm_lm`: embedding -> stacked RNN / GRU / LSTM -> linear over the vocabulary,
  trained with teacher forcing and sampled from the softmax (seed 000; Karpathy, Johnson, Fei-Fei
  2015, "Visualizing and Understanding Recurrent Networks", arXiv:1506.02078). Cells: Elman 1990
  ("Finding Structure in Time"), Cho et al. 2014 (arXiv:1406.1078), Hochreiter & Schmidhuber 1997.
  `moe_lstm_lm` puts a sparsely gated mixture of experts between its LSTM levels (Shazeer et al.
  2017, arXiv:1701.06538).
- `rnn_classifier`: many-to-one; the final state (both directions when bidirectional) -> linear.
  Images (B, C, H, W) are read row by row as H steps of C*W features (Fashion-MNIST rows: 28 steps
  of 28), so it follows the image-classifier contract and trains on any image dataset.
- `rnn_tagger`: many-to-many aligned; a bidirectional LSTM labels every token (Graves & Schmidhuber
  2005's framewise BLSTM).
Departures: tokens enter through a learned embedding rather than Karpathy's one-hot vectors.
Parameter counts follow from the cells: a level has gates * (H * (I + H) + 2H) (two bias vectors, as
PyTorch keeps); MACs count the recurrent matmuls per step times T, plus the output layer.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
from torch import Tensor

from ..blocks.recurrent import GATES, RecurrentStack
from ._base import FeatureInfo, ImageClassifier, InputShapeError
from ._registry import ModelCard, Paper, register_variants

PAPERS = {
    "rnn": Paper("Finding Structure in Time", 1990, None, "Elman"),
    "gru": Paper("Learning Phrase Representations using RNN Encoder-Decoder for Statistical Machine "
                 "Translation", 2014, "1406.1078", "Cho et al."),
    "lstm": Paper("Long Short-Term Memory", 1997, None, "Hochreiter, Schmidhuber"),
    "moe": Paper("Outrageously Large Neural Networks: The Sparsely-Gated Mixture-of-Experts Layer",
                 2017, "1701.06538", "Shazeer et al."),
    "tagger": Paper("Framewise Phoneme Classification with Bidirectional LSTM and Other Neural Network "
                    "Architectures", 2005, None, "Graves, Schmidhuber"),
}


def level_params(mode: str, i: int, h: int) -> int:
    return GATES[mode] * (h * (i + h) + 2 * h)


def level_macs(mode: str, i: int, h: int) -> int:
    return GATES[mode] * h * (i + h)  # per step


def _reorder(state: Any, index: Tensor) -> Any:
    """RNN states keep the batch on dim 1: (dirs, B, H)."""
    if isinstance(state, Tensor):
        return state.index_select(1, index)
    return type(state)(_reorder(s, index) for s in state)


@dataclass(frozen=True)
class RNNLMConfig:
    mode: str = "lstm"
    vocab_size: int = 100
    embed_dim: int = 64
    hidden_size: int = 256
    num_layers: int = 2
    dropout: float = 0.0
    residual: bool = False
    impl: str = "fused"  # "fused" (PyTorch's kernels) or "cells" (the written-out equations)
    moe_experts: int = 0
    moe_k: int = 2
    seq_len: int = 128  # the card's input length


class CharRNNLM(nn.Module):
    """tokens (B, T) -> next-token logits (B, T, V); a `StepDecoder` for `archzoo.generate`."""

    def __init__(self, cfg: RNNLMConfig) -> None:
        super().__init__()
        self.cfg, self.num_classes = cfg, cfg.vocab_size
        self.embed = nn.Embedding(cfg.vocab_size, cfg.embed_dim)
        self.rnn = RecurrentStack(cfg.embed_dim, cfg.hidden_size, mode=cfg.mode, num_layers=cfg.num_layers,
                                  residual=cfg.residual, dropout=cfg.dropout, impl=cfg.impl,
                                  moe_experts=cfg.moe_experts, moe_k=cfg.moe_k)
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden_size, cfg.vocab_size)

    @property
    def aux_loss(self) -> Tensor:
        return self.rnn.aux_loss

    def check_input(self, x: Tensor) -> None:
        if x.ndim != 2 or x.dtype not in (torch.long, torch.int32, torch.int64):
            raise InputShapeError(f"{type(self).__name__} expects token ids (B, T) as integers; "
                                  f"got {x.dtype} {tuple(x.shape)}")

    def forward_with_state(self, x: Tensor, state: Any = None, lengths: Tensor | None = None):
        self.check_input(x)
        y, state, _ = self.rnn(self.embed(x), state, lengths)  # B T H
        return self.head(self.drop(y)), state  # B T V

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_with_state(x)[0]

    def example_inputs(self, batch_size: int = 2) -> tuple[Tensor]:
        return (torch.zeros(batch_size, self.cfg.seq_len, dtype=torch.long),)

    # the StepDecoder protocol (archzoo.generate)
    def start(self, prompt: Tensor, lengths: Tensor) -> tuple[Tensor, Any]:
        logits, state = self.forward_with_state(prompt, lengths=lengths)
        last = (lengths.to(logits.device) - 1).view(-1, 1, 1).expand(-1, 1, logits.shape[-1])
        return logits.gather(1, last).squeeze(1), state  # B V

    def step(self, tokens: Tensor, state: Any) -> tuple[Tensor, Any]:
        logits, state = self.forward_with_state(tokens.unsqueeze(1), state)
        return logits[:, 0], state

    def reorder_state(self, state: list[Any], index: Tensor) -> list[Any]:
        return [_reorder(s, index) for s in state]

    def generate(self, prompts: Any, **options: Any) -> list[list[int]]:
        from ..generate import generate
        return generate(self, prompts, **options)


def _lm_counts(cfg: RNNLMConfig) -> tuple[int, int]:
    params, macs, width = cfg.vocab_size * cfg.embed_dim, 0, cfg.embed_dim
    for _ in range(cfg.num_layers):
        params += level_params(cfg.mode, width, cfg.hidden_size)
        macs += level_macs(cfg.mode, width, cfg.hidden_size)
        width = cfg.hidden_size
    if cfg.moe_experts:  # gate + noise (D x E each) and E experts D -> 2D -> D
        d = cfg.hidden_size
        params += 2 * d * cfg.moe_experts + cfg.moe_experts * (d * 2 * d + 2 * d + 2 * d * d + d)
        macs += 2 * d * cfg.moe_experts + cfg.moe_k * 4 * d * d
    params += cfg.hidden_size * cfg.vocab_size + cfg.vocab_size
    macs += cfg.hidden_size * cfg.vocab_size
    return params, macs * cfg.seq_len


LM_VARIANTS = {
    "rnn_lm": RNNLMConfig(mode="rnn"),
    "gru_lm": RNNLMConfig(mode="gru"),
    "lstm_lm": RNNLMConfig(mode="lstm"),
    "moe_lstm_lm": RNNLMConfig(mode="lstm", moe_experts=8, moe_k=2),
}


def _lm_card(name: str, cfg: RNNLMConfig) -> ModelCard:
    params, macs = _lm_counts(cfg)
    cell = f"{GATES[cfg.mode]} * (H * (I + H) + 2H) per level"
    return ModelCard(
        name=name, family="rnn", task="language-modelling",
        paper=PAPERS["moe" if cfg.moe_experts else cfg.mode], input_size=(cfg.seq_len,),
        num_classes=cfg.vocab_size, params=params, macs=macs,
        source=f"formula: V*E embedding + {cell} + H*V + V output layer"
               + (" + MoE gates 2*D*E and experts E*(4D^2 + 3D)" if cfg.moe_experts else ""),
        macs_convention=f"recurrent and output matmuls per step x T={cfg.seq_len}, no bias, no gate pointwise ops",
        small_input_size=(8,),
        notes=("learned embedding instead of one-hot input", "vocab_size is set from the corpus"),
    )


register_variants("rnn", LM_VARIANTS, CharRNNLM, _lm_card)


# ---- many-to-one: sequence classifier ---------------------------------------------------------

@dataclass(frozen=True)
class RNNClassifierConfig:
    mode: str = "gru"
    in_chans: int = 1
    row_size: int = 28  # features per step = in_chans * row_size (an image row)
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = False
    num_classes: int = 10
    dropout: float = 0.0
    impl: str = "fused"


class _LastState(nn.Module):
    """(B, T, D) -> (B, dirs * H): the final state of the last level, both directions."""

    def __init__(self, rnn: RecurrentStack) -> None:
        super().__init__()
        self.rnn = rnn

    def forward(self, x: Tensor) -> Tensor:
        _, states, _ = self.rnn(x)
        h = states[-1][0] if isinstance(states[-1], tuple) else states[-1]  # dirs B H
        return h.transpose(0, 1).flatten(1)  # B dirs*H


class _Rows(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        if x.ndim == 4:  # B C H W -> B H C*W: each image row is one step
            return x.permute(0, 2, 1, 3).flatten(2)
        return x  # B T D


class _LinearHead(nn.Module):
    def __init__(self, in_features: int, num_classes: int, drop_rate: float) -> None:
        super().__init__()
        self.in_features, self.drop = in_features, nn.Dropout(drop_rate)
        self.fc = nn.Linear(in_features, num_classes) if num_classes > 0 else nn.Identity()

    def forward(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.drop(x)
        return x if pre_logits else self.fc(x)

    def reset(self, num_classes: int) -> None:
        self.fc = nn.Linear(self.in_features, num_classes) if num_classes > 0 else nn.Identity()


class RNNClassifier(ImageClassifier):
    """Many-to-one: sequences (B, T, D) or images (B, C, H, W) read as H rows of C*W features."""

    def check_input(self, x: Tensor) -> None:
        name = getattr(self, "model_name", type(self).__name__)
        d = self.in_chans * self.row_size
        if x.ndim == 4 and x.shape[1] == self.in_chans and x.shape[1] * x.shape[3] == d:
            return
        if x.ndim == 3 and x.shape[-1] == d:
            return
        raise InputShapeError(f"{name} expects sequences (B, T, {d}) or images (B, {self.in_chans}, H, "
                              f"{self.row_size}) (build with row_size=W for other widths); got {tuple(x.shape)}")


def build_rnn_classifier(cfg: RNNClassifierConfig) -> RNNClassifier:
    rnn = RecurrentStack(cfg.in_chans * cfg.row_size, cfg.hidden_size, mode=cfg.mode, num_layers=cfg.num_layers,
                         bidirectional=cfg.bidirectional, dropout=cfg.dropout, impl=cfg.impl)
    width = cfg.hidden_size * (2 if cfg.bidirectional else 1)
    model = RNNClassifier(tail=_Rows(), body=nn.Sequential(_LastState(rnn)),
                          head=_LinearHead(width, cfg.num_classes, cfg.dropout),
                          feature_info=[FeatureInfo("body.0", width, 1)], in_chans=cfg.in_chans,
                          num_classes=cfg.num_classes, num_features=width)
    model.row_size = cfg.row_size
    return model


def _clf_card(name: str, cfg: RNNClassifierConfig) -> ModelCard:
    dirs, d, h = (2 if cfg.bidirectional else 1), cfg.in_chans * cfg.row_size, cfg.hidden_size
    params = macs = 0
    for i in range(cfg.num_layers):
        width = d if i == 0 else dirs * h
        params += dirs * level_params(cfg.mode, width, h)
        macs += dirs * level_macs(cfg.mode, width, h) * cfg.row_size
    params += dirs * h * cfg.num_classes + cfg.num_classes
    macs += dirs * h * cfg.num_classes
    return ModelCard(
        name=name, family="rnn", task="classification", paper=PAPERS[cfg.mode],
        input_size=(cfg.in_chans, cfg.row_size, cfg.row_size), num_classes=cfg.num_classes,
        params=params, macs=macs, source=f"formula: dirs * {GATES[cfg.mode]} * (H * (I + H) + 2H) per level "
                                         "+ linear head",
        macs_convention="recurrent matmuls per step x T rows + head, no bias",
        notes=("many-to-one: final hidden state (both directions) -> linear",
               "images are read row by row: (B, C, H, W) -> H steps of C*W"),
    )


register_variants("rnn", {"rnn_classifier": RNNClassifierConfig(),
                          "rnn_classifier_lstm": RNNClassifierConfig(mode="lstm"),
                          "rnn_classifier_bigru": RNNClassifierConfig(bidirectional=True)},
                  build_rnn_classifier, _clf_card)


# ---- many-to-many aligned: tagger -------------------------------------------------------------

@dataclass(frozen=True)
class RNNTaggerConfig:
    vocab_size: int = 100
    num_classes: int = 17  # e.g. the universal part-of-speech tags
    embed_dim: int = 64
    hidden_size: int = 128
    seq_len: int = 32


class RNNTagger(nn.Module):
    """tokens (B, T) -> tag logits (B, T, num_classes) from a bidirectional LSTM."""

    def __init__(self, cfg: RNNTaggerConfig) -> None:
        super().__init__()
        self.cfg, self.num_classes = cfg, cfg.num_classes
        self.embed = nn.Embedding(cfg.vocab_size, cfg.embed_dim)
        self.rnn = RecurrentStack(cfg.embed_dim, cfg.hidden_size, mode="lstm", bidirectional=True)
        self.head = nn.Linear(2 * cfg.hidden_size, cfg.num_classes)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        y, _, _ = self.rnn(self.embed(x), None, lengths)  # B T 2H
        return self.head(y)

    def example_inputs(self, batch_size: int = 2) -> tuple[Tensor]:
        return (torch.zeros(batch_size, self.cfg.seq_len, dtype=torch.long),)


def _tagger_card(name: str, cfg: RNNTaggerConfig) -> ModelCard:
    h, e = cfg.hidden_size, cfg.embed_dim
    params = cfg.vocab_size * e + 2 * level_params("lstm", e, h) + 2 * h * cfg.num_classes + cfg.num_classes
    macs = (2 * level_macs("lstm", e, h) + 2 * h * cfg.num_classes) * cfg.seq_len
    return ModelCard(name=name, family="rnn", task="tagging", paper=PAPERS["tagger"], input_size=(cfg.seq_len,),
                     num_classes=cfg.num_classes, params=params, macs=macs,
                     source="formula: V*E + 2 directions * 4 * (H * (E + H) + 2H) + 2H*C + C",
                     macs_convention=f"recurrent and output matmuls per step x T={cfg.seq_len}, no bias",
                     small_input_size=(8,), notes=("many-to-many aligned: one tag per token",))


register_variants("rnn", {"rnn_tagger": RNNTaggerConfig()}, RNNTagger, _tagger_card)
