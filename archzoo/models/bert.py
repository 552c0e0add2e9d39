"""BERT: Devlin et al. 2019, "BERT: Pre-training of Deep Bidirectional Transformers for Language
Understanding" (arXiv:1810.04805).

An encoder-only Transformer: token + learned position + segment (token type) embeddings, summed and
layer-normed; L post-LN encoder blocks with GELU; a pooler (linear + tanh on the [CLS] token,
the first one). Pre-training heads (`pretraining_heads=True`): masked language modelling (linear +
GELU + LayerNorm, then an output layer tied to the token embedding, with its own bias) and
next-sentence prediction (linear, 2 classes, on the pooled output). `mask_tokens` makes the MLM
inputs: 15% of the tokens are chosen; 80% of those become [MASK], 10% a random token, 10% stay.

`forward(idx (B, T), token_type_ids=None, padding_mask=None)` returns the MLM logits (B, T, V)
with the heads and the hidden states (B, T, D) without them; `encode` returns (hidden, pooled) and
`pretraining_logits` (MLM (B, T, V), NSP (B, 2)). `padding_mask` is True at padding tokens.
`archzoo train bert_mini_char --data shakespeare` pre-trains with both (train/_setup_mlm.py).

`BertClassifier` (`bert_mini_char_classifier`, task "text-classification") is the fine-tuning model
of section 4.1: `forward(ids (B, T), lengths (B,))` wraps the text as `[CLS] text [SEP]`, and the
pooled [CLS] vector goes through dropout and a linear layer over the classes. Its parameter names are
the encoder's, so `--init PRETRAIN_RUN/best.safetensors` loads a masked-lm run's encoder into it (the
MLM and NSP heads are dropped, the classifier head is new; `--freeze body` trains the head alone).

Counts: the card's figure is the backbone with the pooler, as Hugging Face's `BertModel` counts it
(109,482,240 for bert_base); the two heads add V + 2D^2 + 5D + 2 (`BertForPreTraining`).
Departures: GELU is the exact (erf) one, as the reference code; `bert_mini_char` is archzoo's small
character-level config (not Google's BERT-Mini). Shape letters: B batch, T sequence, D model dim.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn as nn
from torch import Tensor

from ..blocks.transformer import EncoderBlock
from ._base import InputShapeError, check_tokens, init_normal_
from ._registry import ModelCard, Paper, register_variants

PAPER = Paper("BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding", 2019,
              "1810.04805", "Devlin, Chang, Lee, Toutanova")


@dataclass(frozen=True)
class BertConfig:
    vocab_size: int = 30522
    seq_len: int = 512  # learned positions
    type_vocab_size: int = 2
    num_layers: int = 12
    num_heads: int = 12
    dim: int = 768
    mlp_dim: int = 3072
    dropout: float = 0.1
    pretraining_heads: bool = False  # MLM + NSP heads (BertForPreTraining)
    attn_impl: str = "sdpa"

    @property
    def next_sentence(self) -> bool:
        """Masked-lm training (train/_setup_mlm.py) also trains next-sentence prediction: BERT's with
        its pre-training heads. Configs derived from this one say for themselves (BigBird-RoBERTa's
        has no next-sentence head), so a subclass is MLM only unless it overrides this."""
        return self.pretraining_heads and type(self) is BertConfig


class Bert(nn.Module):
    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.cfg, self.num_classes = cfg, cfg.vocab_size
        d, norm = cfg.dim, partial(nn.LayerNorm, eps=1e-12)
        self.word_embed = nn.Embedding(cfg.vocab_size, d)
        self.pos_embed = nn.Embedding(cfg.seq_len, d)
        self.type_embed = nn.Embedding(cfg.type_vocab_size, d)
        self.embed_norm = norm(d)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(
            EncoderBlock(d, cfg.num_heads, mlp_dim=cfg.mlp_dim, norm_first=False, act_layer=nn.GELU,
                         norm_layer=norm, dropout=cfg.dropout, attn_dropout=cfg.dropout,
                         attn_impl=cfg.attn_impl)
            for _ in range(cfg.num_layers))
        self.pooler = nn.Sequential(nn.Linear(d, d), nn.Tanh())
        if cfg.pretraining_heads:
            self.mlm_transform = nn.Sequential(nn.Linear(d, d), nn.GELU(), norm(d))
            self.mlm_out = nn.Linear(d, cfg.vocab_size)
            self.mlm_out.weight = self.word_embed.weight
            self.nsp = nn.Linear(d, 2)
        self._init()

    @torch.no_grad()
    def _init(self) -> None:
        """The reference's: N(0, 0.02) weights, zero biases (LayerNorm: ones and zeros)."""
        init_normal_(self)

    def example_inputs(self, batch_size: int = 2) -> tuple[Tensor]:
        return (torch.zeros(batch_size, self.cfg.seq_len, dtype=torch.long),)

    def encode(self, idx: Tensor, *, token_type_ids: Tensor | None = None,
               padding_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """-> hidden states (B T D) and the pooled [CLS] vector (B D)."""
        name = getattr(self, "model_name", "bert")
        check_tokens(idx, self.cfg.vocab_size, name)
        b, t = idx.shape
        if t > self.cfg.seq_len:
            raise InputShapeError(f"{name}: a sequence of {t} tokens exceeds the {self.cfg.seq_len} "
                                  f"learned positions (seq_len)")
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(idx)
        pos = torch.arange(t, device=idx.device)[None]
        x = self.word_embed(idx) + self.pos_embed(pos) + self.type_embed(token_type_ids)
        x = self.drop(self.embed_norm(x))  # (B T D)
        for block in self.blocks:
            x = block(x, key_padding_mask=padding_mask)
        return x, self.pooler(x[:, 0])

    def pretraining_logits(self, idx: Tensor, **kwargs) -> tuple[Tensor, Tensor]:
        """-> MLM logits (B T V) and next-sentence logits (B 2): is segment B the real successor?"""
        if not self.cfg.pretraining_heads:
            raise ValueError("this BERT has no pre-training heads: build it with pretraining_heads=True")
        hidden, pooled = self.encode(idx, **kwargs)
        return self.mlm_out(self.mlm_transform(hidden)), self.nsp(pooled)

    def forward(self, idx: Tensor, *, token_type_ids: Tensor | None = None,
                padding_mask: Tensor | None = None) -> Tensor:
        hidden, _ = self.encode(idx, token_type_ids=token_type_ids, padding_mask=padding_mask)
        return self.mlm_out(self.mlm_transform(hidden)) if self.cfg.pretraining_heads else hidden


@dataclass(frozen=True)
class BertClassifierConfig(BertConfig):
    """`vocab_size` is the text's vocabulary (what a data setup sets); the embedding has three more
    rows after it, [CLS] [SEP] [MASK], laid out as masked-lm pre-training (train/_setup_mlm.py) has
    them, so that run's encoder weights load unchanged."""

    vocab_size: int = 67
    num_classes: int = 2


SPECIAL_TOKENS = 3  # [CLS] = vocab_size, [SEP] = vocab_size + 1, [MASK] = vocab_size + 2


class BertClassifier(Bert):
    """BERT fine-tuned for sequence classification (section 4.1): `[CLS] text [SEP]` through the
    encoder, the pooled [CLS] vector -> dropout -> linear over the classes.

    `forward(ids (B, T), lengths (B,) = None)`: ids of the text alone, padded after `lengths`
    (any id there); the model adds [CLS] and [SEP] itself and masks the padding."""

    def __init__(self, cfg: BertClassifierConfig) -> None:
        if cfg.pretraining_heads:
            raise ValueError("a BERT classifier has no pre-training heads: expected pretraining_heads=False")
        if cfg.num_classes < 1:
            raise ValueError(f"expected num_classes >= 1, got {cfg.num_classes}")
        super().__init__(dataclasses.replace(cfg, vocab_size=cfg.vocab_size + SPECIAL_TOKENS))
        self.text_vocab_size, self.num_classes = cfg.vocab_size, cfg.num_classes
        self.cls_id, self.sep_id = cfg.vocab_size, cfg.vocab_size + 1
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(cfg.dim, cfg.num_classes))
        nn.init.normal_(self.head[1].weight, std=0.02)
        nn.init.zeros_(self.head[1].bias)

    def example_inputs(self, batch_size: int = 2) -> tuple[Tensor, Tensor]:
        t = self.cfg.seq_len - 2
        return torch.zeros(batch_size, t, dtype=torch.long), torch.full((batch_size,), t, dtype=torch.long)

    def reset_head(self, num_classes: int) -> None:
        self.head[1] = nn.Linear(self.cfg.dim, num_classes)
        self.num_classes = num_classes

    def forward(self, ids: Tensor, lengths: Tensor | None = None) -> Tensor:  # type: ignore[override]
        name = getattr(self, "model_name", "bert classifier")
        check_tokens(ids, self.text_vocab_size, name)
        b, t = ids.shape
        if lengths is None:
            lengths = torch.full((b,), t, dtype=torch.long, device=ids.device)
        if lengths.shape != (b,):
            raise InputShapeError(f"{name}: expected lengths ({b},) for ids {tuple(ids.shape)}; "
                                  f"got {tuple(lengths.shape)}")
        if ids.device.type != "meta" and b and (lengths.min() < 1 or lengths.max() > t):
            raise ValueError(f"{name}: lengths must lie in [1, {t}]; got {int(lengths.min())} to {int(lengths.max())}")
        pos = torch.arange(t + 2, device=ids.device)[None]  # 1 T+2
        end = lengths.to(ids.device)[:, None] + 1  # B 1: where [SEP] goes
        x = torch.cat([torch.full((b, 1), self.cls_id, dtype=ids.dtype, device=ids.device), ids,
                       torch.zeros(b, 1, dtype=ids.dtype, device=ids.device)], 1)  # B T+2
        x = torch.where(pos == end, self.sep_id, torch.where(pos > end, 0, x))
        _, pooled = self.encode(x, padding_mask=pos > end)  # B D
        return self.head(pooled)


def mask_tokens(ids: Tensor, *, mask_id: int, vocab_size: int, prob: float = 0.15,
                special: Tensor | None = None, generator: torch.Generator | None = None, low: int = 0
                ) -> tuple[Tensor, Tensor]:
    """BERT's MLM corruption (section 3.1): -> (inputs, labels), labels -100 where not chosen.
    `special` (same shape, bool) marks tokens never chosen ([CLS], [SEP], padding); random
    replacements are drawn from [low, vocab_size), so special ids can be kept out of them."""
    chosen = torch.rand(ids.shape, generator=generator) < prob
    if special is not None:
        chosen &= ~special
    labels = ids.masked_fill(~chosen, -100)
    roll = torch.rand(ids.shape, generator=generator)
    inputs = ids.masked_fill(chosen & (roll < 0.8), mask_id)
    rand = chosen & (roll >= 0.8) & (roll < 0.9)
    random_ids = torch.randint(low, vocab_size, ids.shape, generator=generator)
    return torch.where(rand, random_ids, inputs), labels


def bert_params(cfg: BertConfig) -> int:
    """Closed form: embeddings + LN, L x (12 D^2 + 13 D) with an MLP of 4D, pooler, heads."""
    d, f = cfg.dim, cfg.mlp_dim
    layer = 4 * d * d + 4 * d + 2 * d * f + f + d + 4 * d
    heads = cfg.vocab_size + d * d + 3 * d + 2 * d + 2 if cfg.pretraining_heads else 0
    return (cfg.vocab_size + cfg.seq_len + cfg.type_vocab_size + 2) * d + cfg.num_layers * layer \
        + d * d + d + heads


VARIANTS: dict[str, BertConfig] = {
    "bert_base": BertConfig(),
    "bert_large": BertConfig(num_layers=24, num_heads=16, dim=1024, mlp_dim=4096),
    "bert_mini_char": BertConfig(vocab_size=70, seq_len=128, num_layers=4, num_heads=4, dim=128,
                                 mlp_dim=512, pretraining_heads=True),
}
_HF = "Hugging Face transformers BertModel's num_parameters() (backbone + pooler)"
_FIGURES = {"bert_base": (109_482_240, _HF, "110M"), "bert_large": (335_141_888, _HF, "340M")}


def _card(name: str, cfg: BertConfig) -> ModelCard:
    params, source, paper = _FIGURES.get(name, (bert_params(cfg), "closed form bert_params", None))
    notes = []
    if not cfg.pretraining_heads:
        with_heads = bert_params(dataclasses.replace(cfg, pretraining_heads=True))
        notes.append(f"with pretraining_heads=True (MLM + NSP, as BertForPreTraining): {with_heads:,}")
    if paper:
        notes.append(f"the paper's section 3 says {paper}")
    else:
        notes.append("archzoo's small character-level config, with the pre-training heads")
    return ModelCard(name=name, family="bert", task="masked-lm", paper=PAPER, input_size=(cfg.seq_len,),
                     num_classes=cfg.vocab_size, params=params, source=source, small_input_size=(8,),
                     notes=tuple(notes))


register_variants("bert", VARIANTS, Bert, _card)

CLASSIFIER_VARIANTS: dict[str, BertClassifierConfig] = {
    "bert_mini_char_classifier": BertClassifierConfig(**{
        **dataclasses.asdict(VARIANTS["bert_mini_char"]), "pretraining_heads": False,
        "vocab_size": VARIANTS["bert_mini_char"].vocab_size - SPECIAL_TOKENS}),
}


def _classifier_card(name: str, cfg: BertClassifierConfig) -> ModelCard:
    encoder = dataclasses.replace(cfg, vocab_size=cfg.vocab_size + SPECIAL_TOKENS)
    return ModelCard(name=name, family="bert", task="text-classification", paper=PAPER,
                     input_size=(cfg.seq_len - 2,), num_classes=cfg.num_classes,
                     params=bert_params(encoder) + cfg.dim * cfg.num_classes + cfg.num_classes,
                     source="closed form bert_params + the linear head", small_input_size=(8,),
                     notes=("pooled [CLS] -> dropout -> linear (section 4.1); the encoder loads a masked-lm "
                            "run's weights with `archzoo train ... --init RUN/best.safetensors`",
                            f"vocab_size is the text's; the embedding has {SPECIAL_TOKENS} more rows: "
                            "[CLS] [SEP] [MASK]"))


register_variants("bert", CLASSIFIER_VARIANTS, BertClassifier, _classifier_card)
