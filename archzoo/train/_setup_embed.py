"""The setup and task of a word-embedding run (word2vec, `archzoo.models.word2vec`).

Text -> words: lower-cased runs of letters (an apostrophe may join two runs: "o'er", "'tis" loses
its leading one). The vocabulary holds the training text's words seen at least `min_count` times,
most frequent first; rarer words are removed from the text before windowing, as the word2vec tool
does. Every epoch then draws, from a generator seeded by (seed, epoch):
- subsampling: each occurrence of w is kept with probability min(1, sqrt(t / f(w))) (Mikolov et al.
  2013b, eq. 5), f(w) being w's share of the training words;
- a window b in 1..window per position (the papers' dynamic window: near words weigh more);
- the order of the examples.
Each batch draws its noise words from unigram^0.75 with a generator seeded by (seed, epoch, batch),
so a resumed run sees the same batches. An example is a (word, context word) pair for skip-gram and
a (context words, word) position for CBOW. The number of examples varies a little with the draws;
every epoch takes as many as the first one had (cycling its permutation when short), so an epoch
always has the same number of steps.

Validation and test: the held-out text with the same vocabulary (unknown words dropped) and fixed
draws; their loss is the negative-sampling loss on text the embeddings never saw.
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
from collections import Counter
from typing import Any, Iterator

import torch
import torch.nn.functional as F

from ..data.readers import DataError
from ..data.text import load_corpus
from ..models._registry import model_config
from ..models.word2vec import Word2VecConfig, check_config
from .config import TrainConfig
from .tasks import StepOutput

WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
EVAL_BATCH = 4096
EVAL_SEED = 12_345  # the fixed draws of the validation and test examples


def words_of(text: str) -> list[str]:
    return WORD.findall(text.lower())


def build_vocab(words: list[str], *, min_count: int) -> tuple[list[str], list[int]]:
    """(words seen >= min_count times, most frequent first then alphabetical; their counts)."""
    kept = sorted(((c, w) for w, c in Counter(words).items() if c >= min_count), key=lambda p: (-p[0], p[1]))
    return [w for _, w in kept], [c for c, _ in kept]


class EmbeddingBatches:
    """Skip-gram or CBOW examples of one word stream -> (words (B, S), targets (B, 1+K)) batches."""

    def __init__(self, ids: torch.Tensor, counts: torch.Tensor, *, cfg: Word2VecConfig, batch_size: int,
                 seed: int, shuffle: bool = True) -> None:
        self.ids, self.cfg, self.batch_size, self.seed, self.shuffle = ids, cfg, batch_size, seed, shuffle
        freq = counts.double() / counts.sum()
        self.keep = (cfg.subsample / freq).sqrt().clamp(max=1.0) if cfg.subsample > 0 else torch.ones_like(freq)
        self.noise = counts.double() ** 0.75  # torch.multinomial normalizes
        self.epoch = 0
        self.size = self._examples(0)[0].shape[0]
        if self.size == 0:
            raise DataError(f"{len(ids)} words give no {cfg.mode} examples; use a longer text or a lower min_count")
        self.dataset = range(self.size)  # len() is what trainers report

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-self.size // self.batch_size)

    def _examples(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(words (N, S), targets (N,)) of one epoch's draws."""
        gen = torch.Generator().manual_seed((self.seed if self.shuffle else EVAL_SEED) * 1_000_003 + epoch)
        ids = self.ids[torch.rand(len(self.ids), generator=gen, dtype=torch.float64) < self.keep[self.ids]]
        C, L = self.cfg.window, len(ids)
        reach = torch.randint(1, C + 1, (L,), generator=gen)  # L: each position's window
        pos = torch.arange(L)
        if self.cfg.mode == "skipgram":
            words, targets = [], []
            for o in [*range(-C, 0), *range(1, C + 1)]:
                ok = (abs(o) <= reach) & (pos + o >= 0) & (pos + o < L)
                words.append(ids[pos[ok]])
                targets.append(ids[pos[ok] + o])
            return torch.cat(words).view(-1, 1), torch.cat(targets)
        around = torch.full((L, 2 * C), -1, dtype=torch.long)  # L 2C: -1 beyond the drawn window
        for j, o in enumerate([*range(-C, 0), *range(1, C + 1)]):
            ok = (abs(o) <= reach) & (pos + o >= 0) & (pos + o < L)
            around[ok, j] = ids[pos[ok] + o]
        has = (around >= 0).any(1)
        return around[has], ids[has]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.iter_from(0)

    def iter_from(self, step: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        words, targets = self._examples(self.epoch if self.shuffle else 0)
        order = torch.arange(len(targets))
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch + 7)
            order = torch.randperm(len(targets), generator=gen)
        order = order.repeat(-(-self.size // max(len(order), 1)))[: self.size]  # the first epoch's count
        for b in range(step, len(self)):
            take = order[b * self.batch_size: (b + 1) * self.batch_size]
            gen = torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch) * 100_003 + b)
            noise = torch.multinomial(self.noise, len(take) * self.cfg.negatives, replacement=True, generator=gen)
            yield words[take], torch.cat([targets[take, None], noise.view(len(take), -1)], 1)


class EmbeddingTask:
    """Negative-sampling loss; `hit` is the share of examples whose true target outscores all K noise words."""

    best_metric = "loss"
    higher_is_better = False

    def step(self, model: torch.nn.Module, batch: Any) -> StepOutput:
        words, targets = batch
        scores = model(words, targets).float()  # B 1+K
        loss = -(F.logsigmoid(scores[:, 0]) + F.logsigmoid(-scores[:, 1:]).sum(1)).mean()
        hit = (scores[:, :1] > scores[:, 1:]).all(1).sum().item()
        n = targets.shape[0]
        return StepOutput(loss=loss, count=n, sums={"hit": float(hit)})

    def summarize(self, *, loss_sum: float, count: int, sums: dict[str, float]) -> dict[str, float]:
        if count == 0:
            return {"loss": math.nan, "hit": math.nan}
        return {"loss": loss_sum / count, "hit": sums.get("hit", 0.0) / count}


def _embed_setup(cfg: TrainConfig, overrides: dict[str, Any]) -> tuple:
    from ._setup_text import TextBundle, _corpus_path

    base = model_config(cfg.model)
    wcfg = dataclasses.replace(base, **{k: v for k, v in overrides.items() if hasattr(base, k)})
    check_config(wcfg)
    corpus = load_corpus(_corpus_path(cfg))
    train_words = words_of(corpus.train)
    if wcfg.max_words:
        train_words = train_words[: wcfg.max_words]
    vocab, counts = build_vocab(train_words, min_count=wcfg.min_count)
    if len(vocab) < 2:
        raise DataError(f"{corpus.name}: {len(train_words)} training words give {len(vocab)} word(s) seen "
                        f"{wcfg.min_count}+ times; expected at least 2 (lower min_count or use more text)")
    index = {w: i for i, w in enumerate(vocab)}

    def stream(words: list[str]) -> torch.Tensor:
        return torch.tensor([index[w] for w in words if w in index], dtype=torch.long)

    counts_t = torch.tensor(counts, dtype=torch.long)
    train = EmbeddingBatches(stream(train_words), counts_t, cfg=wcfg, batch_size=cfg.batch_size, seed=cfg.seed)
    held = stream(words_of(corpus.val))
    if cfg.val_fraction > 0:
        val_ids, test_ids = held[: len(held) // 2], held[len(held) // 2:]
    else:
        val_ids, test_ids = None, held

    def batches(ids: torch.Tensor, what: str) -> EmbeddingBatches:
        try:
            return EmbeddingBatches(ids, counts_t, cfg=wcfg, batch_size=EVAL_BATCH, seed=cfg.seed, shuffle=False)
        except DataError as e:
            raise DataError(f"{corpus.name} {what} split: {e}") from None

    val = batches(val_ids, "validation") if val_ids is not None else None
    test = batches(test_ids, "test")
    bundle = TextBundle(corpus.name, train.dataset, test.dataset, vocab,
                        {"words": json.dumps({"words": vocab, "counts": counts}, ensure_ascii=False)}, "examples",
                        image_size=(1 if wcfg.mode == "skipgram" else 2 * wcfg.window,))
    return bundle, train, val, test, {"vocab_size": len(vocab)}, EmbeddingTask()
