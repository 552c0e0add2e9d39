"""word2vec: skip-gram and CBOW word embeddings trained with negative sampling.

Mikolov, Chen, Corrado, Dean 2013, "Efficient Estimation of Word Representations in Vector Space"
(arXiv:1301.3781): the two architectures. CBOW averages the input vectors of the words around a
position and predicts the word there; skip-gram reads one word and predicts each word around it.
Mikolov, Sutskever, Chen, Corrado, Dean 2013, "Distributed Representations of Words and Phrases
and their Compositionality" (arXiv:1310.4546): negative sampling, the objective
log s(v'_o . v_i) + sum_k log s(-v'_k . v_i) with k noise words drawn from the unigram
distribution to the power 3/4, and subsampling of frequent words (kept with probability
sqrt(t / f(w)), eq. 5). Each word has an input vector v (`in_embed`, the embedding one queries)
and an output vector v' (`out_embed`).

The data side (vocabulary with a min count, subsampling, dynamic windows, noise words) is in
`archzoo.train._setup_embed`; the task (the loss above) in `archzoo.train._setup_embed.EmbeddingTask`.
Defaults follow the papers: 300 dimensions, window 5, 5 negatives, min count 5; the `_small` variants
(64 dimensions, window 3) train on a CPU in minutes.

Departures: `subsample` defaults to 1e-3, the word2vec tool's default, not the 1e-5 the paper
used for its billion-word corpora (at 1e-5 a one-million-word corpus would lose most of its
words); training runs mini-batches with Adam or SGD from `archzoo train` (the papers: one pair at a
time, asynchronous SGD with a linearly decaying rate); input vectors start uniform in
+-0.5 / dim and output vectors at zero, as the word2vec tool does.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
from torch import Tensor

from ._base import InputShapeError
from ._registry import ModelCard, Paper, register_variants

PAPERS = {
    "skipgram": Paper("Distributed Representations of Words and Phrases and their Compositionality", 2013,
                      "1310.4546", "Mikolov, Sutskever, Chen, Corrado, Dean"),
    "cbow": Paper("Efficient Estimation of Word Representations in Vector Space", 2013, "1301.3781",
                  "Mikolov, Chen, Corrado, Dean"),
}
MODES = ("skipgram", "cbow")


@dataclass(frozen=True)
class Word2VecConfig:
    mode: str = "skipgram"
    vocab_size: int = 10_000  # set from the corpus by the setup
    dim: int = 300
    window: int = 5  # the largest distance; each position draws its window from 1..window
    negatives: int = 5  # noise words per positive pair
    min_count: int = 5  # rarer words are dropped from the text before windowing
    subsample: float = 1e-3  # t of the subsampling formula; 0 turns it off
    max_words: int | None = None  # cap on the training text's words (quick runs)


def check_config(cfg: Word2VecConfig) -> None:
    if cfg.mode not in MODES:
        raise ValueError(f"word2vec mode: expected one of {', '.join(MODES)}, got {cfg.mode!r}")
    for name in ("vocab_size", "dim", "window", "negatives", "min_count"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"word2vec {name}: expected >= 1, got {getattr(cfg, name)}")
    if cfg.subsample < 0:
        raise ValueError(f"word2vec subsample: expected t >= 0 (0: off), got {cfg.subsample}")


class Word2Vec(nn.Module):
    """(words (B, S), targets (B, 1+K)) -> scores (B, 1+K): the true target first, then K noise words.

    Skip-gram reads S = 1 word; CBOW reads the S = 2 * window words around a position, -1 where the
    drawn window is shorter, and averages their input vectors.
    """

    def __init__(self, cfg: Word2VecConfig) -> None:
        super().__init__()
        check_config(cfg)
        self.cfg, self.num_classes = cfg, cfg.vocab_size
        self.in_embed = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.out_embed = nn.Embedding(cfg.vocab_size, cfg.dim)
        with torch.no_grad():
            self.in_embed.weight.uniform_(-0.5 / cfg.dim, 0.5 / cfg.dim)
            self.out_embed.weight.zero_()

    @property
    def reads(self) -> int:
        return 1 if self.cfg.mode == "skipgram" else 2 * self.cfg.window

    def check_input(self, words: Tensor, targets: Tensor) -> None:
        ok = (words.ndim == 2 and targets.ndim == 2 and words.shape[0] == targets.shape[0]
              and not words.is_floating_point() and not targets.is_floating_point()
              and words.shape[1] == self.reads and targets.shape[1] >= 1)
        if not ok:
            raise InputShapeError(f"{type(self).__name__} ({self.cfg.mode}) expects word ids (B, {self.reads}) and "
                                  f"target ids (B, 1+K); got {tuple(words.shape)} {words.dtype} and "
                                  f"{tuple(targets.shape)} {targets.dtype}")

    def encode(self, words: Tensor) -> Tensor:
        """(B, S) word ids, -1 for none -> (B, D) the mean of their input vectors."""
        real = (words >= 0).unsqueeze(-1)  # B S 1
        vectors = self.in_embed(words.clamp(min=0)) * real  # B S D
        return vectors.sum(1) / real.sum(1).clamp(min=1)  # B D

    def forward(self, words: Tensor, targets: Tensor) -> Tensor:
        self.check_input(words, targets)
        h = self.encode(words).unsqueeze(1)  # B 1 D
        return (h @ self.out_embed(targets).transpose(1, 2)).squeeze(1)  # B 1+K

    def example_inputs(self, batch_size: int = 2) -> tuple[Tensor, Tensor]:
        return (torch.zeros(batch_size, self.reads, dtype=torch.long),
                torch.zeros(batch_size, 1 + self.cfg.negatives, dtype=torch.long))

    @torch.no_grad()
    def unit_vectors(self) -> Tensor:
        """(V, D) input vectors scaled to unit length: cosine similarity is a matmul."""
        w = self.in_embed.weight
        return w / w.norm(dim=1, keepdim=True).clamp(min=1e-12)


VARIANTS = {
    "word2vec_skipgram": Word2VecConfig(mode="skipgram"),
    "word2vec_cbow": Word2VecConfig(mode="cbow"),
    "word2vec_skipgram_small": Word2VecConfig(mode="skipgram", dim=64, window=3),
    "word2vec_cbow_small": Word2VecConfig(mode="cbow", dim=64, window=3),
}


def _card(name: str, cfg: Word2VecConfig) -> ModelCard:
    reads = 1 if cfg.mode == "skipgram" else 2 * cfg.window
    return ModelCard(
        name=name, family="word2vec", task="word-embedding", paper=PAPERS[cfg.mode], input_size=(reads,),
        num_classes=cfg.vocab_size, params=2 * cfg.vocab_size * cfg.dim,
        macs=(1 + cfg.negatives) * cfg.dim,
        source="formula: input and output embeddings 2 * V * D; (1 + K) * D dot-product MACs per example",
        macs_convention="one MAC per multiply-add of the 1 + K scores; CBOW's averaging is not counted",
        small_input_size=(reads,),
        notes=(f"vocab_size is set from the corpus (card: V={cfg.vocab_size:,})",
               "subsample t = 1e-3 (the word2vec tool's default), not the paper's 1e-5",
               "mini-batches with Adam or SGD instead of per-pair asynchronous SGD"),
    )


register_variants("word2vec", VARIANTS, Word2Vec, _card)
