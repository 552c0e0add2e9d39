"""The structured self-attentive sentence embedding: Lin et al. 2017, "A Structured Self-attentive
Sentence Embedding" (ICLR 2017, arXiv:1703.03130), the self-attention of seed 000 with its Yelp
heat-map figure.

tokens -> embeddings -> BiLSTM, H (B, T, 2u) -> r hops of attention over the tokens,
A = softmax(W_s2 tanh(W_s1 H^T)) (B, r, T) -> M = A H (B, r, 2u) -> flattened -> MLP (one ReLU
hidden layer) -> class logits. Training adds the penalty P = ||A A^T - I||_F^2 (mean over the
batch) times `penalty`, exposed as `aux_loss` for the trainer's task to add to the loss: it pushes
the r hops to attend to different places, each to few tokens.

Variants:
- `self_attentive_classifier`: the paper's Yelp setting as we read it: 100-d word embeddings
  (word2vec-initialised there), a one-level BiLSTM of 300 units per direction, d_a = 350, r = 30,
  an MLP of 3000 hidden units, 5 classes (stars), penalty coefficient 1.0. The paper gives no
  vocabulary size; the card assumes 50,000 words, which with the 30 x 600 -> 3000 MLP matrix (54M)
  makes 60,203,305 parameters.
- `self_attentive_classifier_small`: characters on a CPU: 32-d embeddings, 64 units per direction,
  d_a = 64, r = 4, MLP 256; vocabulary and classes come from the data (`shakespeare-plays`).
Departures: padding is masked out of the softmax (the paper batches equal lengths); embeddings are
learned from scratch, not word2vec; dropout (0 by default) acts before the MLP's layers; the penalty is
computed in training only (it is a training loss); `pooling="max"` or `"mean"` swaps the attention
for the paper's baselines (BiLSTM with max or mean pooling over time), giving an MLP input of 2u.
The BiLSTM is two one-direction `RecurrentLayer`s, the backward one reading each text reversed within
its length: the same function as a packed bidirectional `nn.LSTM` (tested), several times faster on a
CPU than packing.
MACs at T tokens: the BiLSTM's recurrent matmuls, W_s1 and W_s2 per token, M = A H, and the MLP.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..blocks.recurrent import RecurrentLayer, reverse_padded
from ._base import InputShapeError
from ._registry import ModelCard, Paper, register_variants
from .rnn import level_macs, level_params

PAPER = Paper("A Structured Self-attentive Sentence Embedding", 2017, "1703.03130",
              "Lin, Feng, dos Santos, Yu, Xiang, Zhou, Bengio")
POOLINGS = ("attention", "max", "mean")


@dataclass(frozen=True)
class SelfAttentiveConfig:
    vocab_size: int = 100
    num_classes: int = 8
    embed_dim: int = 32
    hidden_size: int = 64  # u, per direction
    attention_dim: int = 64  # d_a
    hops: int = 4  # r
    mlp_dim: int = 256
    penalty: float = 1.0  # coefficient of ||A A^T - I||_F^2
    dropout: float = 0.0
    pooling: str = "attention"
    seq_len: int = 128  # the card's input length


class StructuredSelfAttention(nn.Module):
    """H (B, T, D) -> A (B, r, T) = softmax over T of W_s2 tanh(W_s1 H^T); padding gets no weight."""

    def __init__(self, *, dim: int, attention_dim: int, hops: int) -> None:
        super().__init__()
        self.w_s1 = nn.Linear(dim, attention_dim, bias=False)
        self.w_s2 = nn.Linear(attention_dim, hops, bias=False)

    def forward(self, h: Tensor, mask: Tensor | None = None) -> Tensor:
        scores = self.w_s2(torch.tanh(self.w_s1(h))).transpose(1, 2)  # B r T
        if mask is not None:
            scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
        return scores.softmax(dim=-1)  # B r T


def attention_penalty(a: Tensor) -> Tensor:
    """||A A^T - I||_F^2 for each example: A (B, r, T) -> (B,)."""
    eye = torch.eye(a.shape[1], device=a.device, dtype=a.dtype)
    return (a @ a.transpose(1, 2) - eye).square().sum(dim=(1, 2))  # B r r -> B


class SelfAttentiveClassifier(nn.Module):
    """tokens (B, T), lengths (B,) -> class logits (B, num_classes); `attend` also returns A."""

    def __init__(self, cfg: SelfAttentiveConfig) -> None:
        super().__init__()
        if cfg.pooling not in POOLINGS:
            raise ValueError(f"expected pooling one of {', '.join(POOLINGS)}, got {cfg.pooling!r}")
        self.cfg, self.num_classes = cfg, cfg.num_classes
        self.embed = nn.Embedding(cfg.vocab_size, cfg.embed_dim)
        self.forward_rnn = RecurrentLayer(cfg.embed_dim, cfg.hidden_size, mode="lstm")
        self.backward_rnn = RecurrentLayer(cfg.embed_dim, cfg.hidden_size, mode="lstm")
        width = 2 * cfg.hidden_size
        self.attention = StructuredSelfAttention(dim=width, attention_dim=cfg.attention_dim, hops=cfg.hops) \
            if cfg.pooling == "attention" else None
        flat = width * cfg.hops if self.attention is not None else width
        self.drop = nn.Dropout(cfg.dropout)
        self.hidden = nn.Linear(flat, cfg.mlp_dim)
        self.head = nn.Linear(cfg.mlp_dim, cfg.num_classes)
        self.aux_loss = torch.zeros(())

    def check_input(self, ids: Tensor, lengths: Tensor | None) -> None:
        name = getattr(self, "model_name", type(self).__name__)
        if ids.ndim != 2 or ids.dtype not in (torch.long, torch.int32, torch.int64):
            raise InputShapeError(f"{name} expects token ids (B, T) as integers; got {ids.dtype} {tuple(ids.shape)}")
        if lengths is not None and (lengths.shape != ids.shape[:1] or int(lengths.min()) < 1
                                    or int(lengths.max()) > ids.shape[1]):
            raise InputShapeError(f"{name} expects lengths (B,) = ({ids.shape[0]},) within 1..{ids.shape[1]}; "
                                  f"got {tuple(lengths.shape)} {lengths.tolist()[:8]}")

    def encode(self, x: Tensor, lengths: Tensor | None) -> Tensor:
        """BiLSTM x (B, T, E) -> H (B, T, 2u). Padding sits at the end, so the forward direction
        needs no lengths, and the backward one reads each sequence reversed within its length: exact
        at every real position, without packing (which costs several times more on a CPU)."""
        y_fwd, _ = self.forward_rnn(x)  # B T u
        if lengths is None:
            y_bwd, _ = self.backward_rnn(x.flip(1))
            return torch.cat([y_fwd, y_bwd.flip(1)], dim=-1)  # B T 2u
        lengths = lengths.to(x.device)
        y_bwd, _ = self.backward_rnn(reverse_padded(x, lengths))
        return torch.cat([y_fwd, reverse_padded(y_bwd, lengths)], dim=-1)  # B T 2u

    def attend(self, ids: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """(logits (B, K), attention A (B, r, T) or None for max / mean pooling)."""
        if ids.device.type != "meta":
            self.check_input(ids, lengths)
        B, T = ids.shape
        h = self.encode(self.embed(ids), lengths)  # B T 2u
        mask = None if lengths is None else \
            torch.arange(T, device=ids.device)[None, :] < lengths.to(ids.device)[:, None]  # B T
        a = None
        if self.attention is not None:
            a = self.attention(h, mask)  # B r T
            m = (a @ h).flatten(1)  # B r 2u -> B r*2u
            if self.training:
                self.aux_loss = self.cfg.penalty * attention_penalty(a).mean()
        elif self.cfg.pooling == "max":
            m = h if mask is None else h.masked_fill(~mask[..., None], float("-inf"))
            m = m.amax(dim=1)  # B 2u
        else:
            m = h.sum(1) / T if mask is None else \
                (h * mask[..., None]).sum(1) / lengths.to(h.device)[:, None]  # B 2u
        logits = self.head(self.drop(F.relu(self.hidden(self.drop(m)))))  # B K
        return logits, a

    def forward(self, ids: Tensor, lengths: Tensor | None = None) -> Tensor:
        return self.attend(ids, lengths)[0]

    def example_inputs(self, batch_size: int = 2) -> tuple[Tensor]:
        return (torch.zeros(batch_size, self.cfg.seq_len, dtype=torch.long),)


def _counts(cfg: SelfAttentiveConfig) -> tuple[int, int]:
    e, u, t = cfg.embed_dim, cfg.hidden_size, cfg.seq_len
    attention = cfg.pooling == "attention"
    flat = 2 * u * cfg.hops if attention else 2 * u
    params = cfg.vocab_size * e + 2 * level_params("lstm", e, u)
    params += (2 * u * cfg.attention_dim + cfg.attention_dim * cfg.hops) if attention else 0
    params += flat * cfg.mlp_dim + cfg.mlp_dim + cfg.mlp_dim * cfg.num_classes + cfg.num_classes
    macs = 2 * level_macs("lstm", e, u) * t
    if attention:  # W_s1 and W_s2 per token, then M = A H
        macs += t * (2 * u * cfg.attention_dim + cfg.attention_dim * cfg.hops) + cfg.hops * t * 2 * u
    macs += flat * cfg.mlp_dim + cfg.mlp_dim * cfg.num_classes
    return params, macs


VARIANTS = {
    "self_attentive_classifier": SelfAttentiveConfig(vocab_size=50_000, num_classes=5, embed_dim=100,
                                                     hidden_size=300, attention_dim=350, hops=30,
                                                     mlp_dim=3000, penalty=1.0, seq_len=200),
    "self_attentive_classifier_small": SelfAttentiveConfig(),
}


def _card(name: str, cfg: SelfAttentiveConfig) -> ModelCard:
    params, macs = _counts(cfg)
    small = name.endswith("_small")
    return ModelCard(
        name=name, family="self_attentive", task="text-classification", paper=PAPER, input_size=(cfg.seq_len,),
        num_classes=cfg.num_classes, params=params, macs=macs,
        source="formula: V*E + 2 directions * 4 * (u * (E + u) + 2u) + 2u*d_a + d_a*r "
               "+ (r*2u)*mlp + mlp + mlp*K + K",
        macs_convention=f"BiLSTM recurrent matmuls x T={cfg.seq_len}, W_s1 and W_s2 per token, A H, MLP; "
                        "no bias, no softmax, no penalty (training only)",
        small_input_size=(8,),
        notes=(("characters: vocab_size and num_classes are set from the data" if small else
                f"vocabulary of {cfg.vocab_size:,} words assumed (the paper states none); "
                "embeddings learned, not word2vec-initialised"),
               "padding masked out of the attention softmax"),
    )


register_variants("self_attentive", VARIANTS, SelfAttentiveClassifier, _card)
