"""Character-level tokenizer: the vocabulary of char-RNN language models and the seq2seq tasks.

Ids 0..3 are the special tokens <pad>, <bos>, <eos>, <unk>; characters follow in sorted order, so
the same text always gives the same vocabulary. Characters outside the vocabulary are handled as
declared: `unknown="error"` (default) names them, `unknown="replace"` maps them to <unk>.
"""
from __future__ import annotations

import json
from typing import Iterable

import torch
from torch import Tensor

from .readers import DataError

SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
PAD, BOS, EOS, UNK = range(4)


class CharVocab:
    """Characters <-> ids; `encode(text)` -> list of ids, `decode(ids)` -> text."""

    pad_id, bos_id, eos_id, unk_id = PAD, BOS, EOS, UNK

    def __init__(self, chars: Iterable[str], *, unknown: str = "error") -> None:
        if unknown not in ("error", "replace"):
            raise ValueError(f"expected unknown='error' or 'replace', got {unknown!r}")
        self.chars = sorted(set(chars))
        if any(len(c) != 1 for c in self.chars):
            raise ValueError("a character vocabulary holds single characters")
        self.unknown = unknown
        self.itos = list(SPECIALS) + self.chars
        self.stoi = {c: i for i, c in enumerate(self.itos) if i >= len(SPECIALS)}

    @classmethod
    def from_texts(cls, texts: Iterable[str], *, unknown: str = "error") -> CharVocab:
        chars: set[str] = set()
        for t in texts:
            chars.update(t)
        if not chars:
            raise DataError("cannot build a vocabulary from empty text")
        return cls(chars, unknown=unknown)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str, *, bos: bool = False, eos: bool = False) -> list[int]:
        ids = [self.stoi.get(c, UNK) for c in text]
        if self.unknown == "error" and UNK in ids:
            missing = sorted({c for c in text if c not in self.stoi})
            raise DataError(f"characters outside the vocabulary: {''.join(missing)!r} "
                            f"({len(self.chars)} known; build with unknown='replace' to map them to <unk>)")
        return ([BOS] if bos else []) + ids + ([EOS] if eos else [])

    def encode_tensor(self, text: str) -> Tensor:
        return torch.tensor(self.encode(text), dtype=torch.long)

    def decode(self, ids: Iterable[int], *, strip_special: bool = True) -> str:
        out = []
        for i in ids:
            i = int(i)
            if i == EOS and strip_special:
                break
            if i < len(SPECIALS):
                if not strip_special:
                    out.append(SPECIALS[i])
                elif i == UNK:
                    out.append("\ufffd")
                continue
            out.append(self.itos[i])
        return "".join(out)

    def to_json(self) -> str:
        return json.dumps({"chars": "".join(self.chars), "unknown": self.unknown}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> CharVocab:
        doc = json.loads(text)
        return cls(doc["chars"], unknown=doc.get("unknown", "error"))
