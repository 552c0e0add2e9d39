"""Nearest neighbours and analogies over a word2vec run's input vectors (see the package doc)."""
from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor


@dataclass
class Embeddings:
    words: list[str]
    vectors: Tensor  # V D, unit length

    def __post_init__(self) -> None:
        self.index = {w: i for i, w in enumerate(self.words)}

    def id(self, word: str) -> int:
        key = word.lower()
        if key not in self.index:
            close = difflib.get_close_matches(key, self.words, n=5, cutoff=0.6)
            hint = f"; close: {', '.join(close)}" if close else ""
            raise ValueError(f"{word!r} is not in the vocabulary ({len(self.words):,} words seen min_count+ "
                             f"times in training){hint}")
        return self.index[key]

    def _rank(self, query: Tensor, exclude: list[int], k: int) -> list[tuple[str, float]]:
        if k < 1:
            raise ValueError(f"-k: expected >= 1, got {k}")
        scores = self.vectors @ (query / query.norm().clamp(min=1e-12))  # V
        scores[exclude] = float("-inf")
        top = scores.topk(min(k, len(self.words) - len(exclude)))
        return [(self.words[i], float(s)) for s, i in zip(top.values, top.indices)]

    def similar(self, word: str, k: int = 10) -> list[tuple[str, float]]:
        i = self.id(word)
        return self._rank(self.vectors[i], [i], k)

    def analogy(self, a: str, b: str, c: str, k: int = 1) -> list[tuple[str, float]]:
        """a is to b as c is to ?: the words nearest b - a + c, without a, b and c."""
        ia, ib, ic = self.id(a), self.id(b), self.id(c)
        return self._rank(self.vectors[ib] - self.vectors[ia] + self.vectors[ic], [ia, ib, ic], k)


def load_embeddings(run_dir: str | Path, *, tag: str = "best") -> Embeddings:
    from ..train.checkpoint import load_task_run

    model, doc = load_task_run(run_dir, task="word-embedding", vocab="words",
                               what="a word-embedding run (word2vec_*)", tag=tag)
    words = json.loads(doc["data"]["vocabs"]["words"])["words"]
    return Embeddings(words, model.unit_vectors())
