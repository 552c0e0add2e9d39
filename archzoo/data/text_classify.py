"""Labelled text that works offline: a sentence-classification set and a character-tagging set.

`shakespeare-plays` (`load_text_classification`): which play is this spoken text from? Built from
the prepared Shakespeare corpus (`archzoo data prepare shakespeare`) over eight well-known plays,
four tragedies of very different worlds and a comedy and a romance of fairies and magic (`PLAYS`).
An example is the text of one speech with speaker names and bracketed stage directions removed;
speeches longer than `MAX_CHARS` (120) are cut, at verse-line boundaries, into several examples, so
every example fits a 128-position character model with a class token. Verse lines stay joined by
"\\n", as in the corpus. Examples under `MIN_CHARS` (24) are dropped ("My lord.": no play in them).
Splits, to keep neighbouring lines of one dialogue apart: each play's examples in text order are cut
into blocks of 20; block k goes to validation when k % 10 == 4, to test when k % 10 == 9, else to
train (about 80/10/10 in every play). Then duplicates go: texts equal up to case, punctuation and
spacing keep their first copy (train before validation before test), and a text that occurs in two
plays is dropped from all of them, since its label is ambiguous.

Characters are numbered by the vocabulary a character language model pretrained on the whole
`shakespeare` corpus has (`CharVocab.from_texts([corpus.train], unknown="replace")`, as the trainer's
language-model setup builds it), so such a model (a BERT pretrained with masked language modelling)
can be fine-tuned on the plays without remapping ids.

`pystdlib-tokens` (`load_token_tagging`): every character of a line of the Python standard library's
sources (the `pystdlib` corpus's files) tagged with the kind of token it belongs to, as Python's own
`tokenize` module reads the whole file: `TAGS` = other (whitespace, newlines, anything outside a
token), name, keyword, op, number, string (f-strings too), comment. Soft keywords (`match`, `case`,
`type`, `_`) are names, as `tokenize` and `keyword.iskeyword` have them. Lines lose their leading
indentation and trailing whitespace, blank lines go, and lines are cut at `MAX_CHARS`. A line inside
a triple-quoted string is all string, which only the file's context tells: some lines are ambiguous on
their own. Splits are by file, by a CRC32 of its path: % 20 == 0 validation, == 1 test, the rest
train, so no file is in two splits; the set follows the running Python's standard library.

`LabelledBatches` yields (ids (B, T) padded with <pad>, lengths (B,), labels (B,) or tags (B, T)
padded with `IGNORE_INDEX`), shuffled as a pure function of (seed, epoch) like `LMBatches`, so a
resumed run sees the same batches.
"""
from __future__ import annotations

import io
import keyword
import re
import sysconfig
import tokenize
import zlib
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from torch import Tensor

from .readers import DataError
from .tokenize import PAD, CharVocab

KNOWN_LABELLED = {
    "shakespeare-plays": "which of 8 plays a speech is from (text classification), built from shakespeare: "
                         "archzoo data prepare shakespeare",
    "pystdlib-tokens": "each character of a Python stdlib line tagged with its token type (tagging): "
                       "always present",
}
# label -> the title line that opens the play in the prepared corpus
PLAYS = {
    "hamlet": "HAMLET, PRINCE OF DENMARK",
    "macbeth": "MACBETH",
    "othello": "OTHELLO, THE MOOR OF VENICE",
    "king-lear": "THE TRAGEDY OF KING LEAR",
    "romeo-and-juliet": "ROMEO AND JULIET",
    "julius-caesar": "JULIUS CAESAR",
    "midsummer-nights-dream": "A MIDSUMMER NIGHT'S DREAM",
    "the-tempest": "THE TEMPEST",
}
TAGS = ("other", "name", "keyword", "op", "number", "string", "comment")
MAX_CHARS, MIN_CHARS, BLOCK = 120, 24, 20
IGNORE_INDEX = -100  # tag of padding: F.cross_entropy's default ignore_index

_BYLINE = "by William Shakespeare"
_SCENE = re.compile(r"^\s*scene\s+[ivxl]+\b", re.IGNORECASE)
_SPEAKER = re.compile(r"^[A-Z][A-Za-z'&-]*(?: [A-Za-z'&-]+){0,3}\.$")
_DIRECTION = re.compile(r"\[[^\]]*(?:\]|$)", re.DOTALL)  # an unclosed one runs to the paragraph's end


@dataclass
class LabelledText:
    """One labelled set: examples are (text, label) with label an index into `classes` (sentence
    classification) or (text, tags) with one index into `classes` per character (tagging)."""

    name: str
    train: list[tuple[str, int | list[int]]]
    val: list[tuple[str, int | list[int]]]
    test: list[tuple[str, int | list[int]]]
    classes: list[str]
    vocab: CharVocab


# ---- shakespeare-plays ------------------------------------------------------------------------

def split_works(text: str) -> dict[str, str]:
    """The prepared corpus cut into works: title line -> the text after its byline."""
    lines = text.split("\n")
    starts = []
    for i, line in enumerate(lines):
        if line.strip() == _BYLINE:
            title = next((j for j in range(i - 1, -1, -1) if lines[j].strip()), None)
            if title is not None:
                starts.append((title, i + 1))
    works = {}
    for k, (title, begin) in enumerate(starts):
        end = starts[k + 1][0] if k + 1 < len(starts) else len(lines)
        works[lines[title].strip()] = "\n".join(lines[begin:end])
    return works


def _chunks(lines: list[str], max_chars: int) -> Iterator[str]:
    """Whole lines joined by "\\n" up to `max_chars`; a longer line is cut at a space."""
    piece: list[str] = []
    for line in lines:
        while len(line) > max_chars:
            cut = line.rfind(" ", 0, max_chars + 1)
            cut = cut if cut > 0 else max_chars
            head, line = line[:cut].rstrip(), line[cut:].lstrip()
            if piece:
                yield "\n".join(piece)
                piece = []
            yield head
        if piece and len("\n".join(piece + [line])) > max_chars:
            yield "\n".join(piece)
            piece = []
        piece.append(line)
    if piece:
        yield "\n".join(piece)


def play_speeches(play: str, *, max_chars: int = MAX_CHARS, min_chars: int = MIN_CHARS) -> list[str]:
    """The spoken text of one play in order: speaker tags and stage directions gone, long speeches cut."""
    lines = play.split("\n")
    first = next((i for i, line in enumerate(lines) if _SCENE.match(line)), None)
    if first is None:
        return []
    out = []
    for para in re.split(r"\n\s*\n", "\n".join(lines[first:])):
        para = _DIRECTION.sub("", para)
        rows = [r.strip() for r in para.split("\n") if r.strip()]
        if not rows or _SCENE.match(rows[0]) or re.match(r"^ACT\b", rows[0]):
            continue
        if len(rows) > 1 and _SPEAKER.match(rows[0]):
            rows = rows[1:]
        for piece in _chunks(rows, max_chars):
            if len(piece) >= min_chars and any(c.islower() for c in piece):
                out.append(piece)
    return out


def _key(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def _dedup(splits: list[list[tuple[str, int]]]) -> list[list[tuple[str, int]]]:
    labels: dict[str, set[int]] = {}
    for split in splits:
        for text, label in split:
            labels.setdefault(_key(text), set()).add(label)
    seen: set[str] = set()
    out = []
    for split in splits:  # train first: a text shared with a held-out split stays in train
        kept = []
        for text, label in split:
            k = _key(text)
            if k not in seen and len(labels[k]) == 1:
                kept.append((text, label))
            seen.add(k)
        out.append(kept)
    return out


def shakespeare_plays(text: str, *, plays: dict[str, str] = PLAYS) -> tuple[list, list, list, list[str]]:
    """(train, val, test, classes) from the prepared corpus text (see the module docstring)."""
    works = split_works(text)
    missing = [title for title in plays.values() if title not in works]
    if missing:
        raise DataError(f"shakespeare-plays: expected the plays {', '.join(missing)} in the prepared "
                        f"corpus, found {len(works)} other works; rebuild it with "
                        f"`archzoo data prepare shakespeare --force`")
    splits: list[list[tuple[str, int]]] = [[], [], []]
    for label, title in enumerate(plays.values()):
        for k, piece in enumerate(play_speeches(works[title])):
            block = (k // BLOCK) % 10
            splits[1 if block == 4 else 2 if block == 9 else 0].append((piece, label))
    train, val, test = _dedup(splits)
    return train, val, test, list(plays)


# ---- pystdlib-tokens --------------------------------------------------------------------------

def _tag_of(tok: tokenize.TokenInfo) -> int:
    kind = tokenize.tok_name[tok.type]
    if kind == "NAME":
        return TAGS.index("keyword" if keyword.iskeyword(tok.string) else "name")
    if kind == "OP":
        return TAGS.index("op")
    if kind == "NUMBER":
        return TAGS.index("number")
    if kind == "STRING" or kind.startswith("FSTRING_"):  # Python 3.12+ splits f-strings up
        return TAGS.index("string")
    if kind == "COMMENT":
        return TAGS.index("comment")
    return TAGS.index("other")


def tag_source(source: str, *, max_chars: int = MAX_CHARS) -> list[tuple[str, list[int]]]:
    """(line, one tag per character) for each non-blank line of a Python file, indentation removed.

    Raises tokenize.TokenError or SyntaxError for a file Python cannot tokenize."""
    lines = source.split("\n")  # tokenize's rows: io.StringIO's readline splits at "\n" only
    tags = [[0] * len(line) for line in lines]
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        tag = _tag_of(tok)
        if tag == 0:
            continue
        (r0, c0), (r1, c1) = tok.start, tok.end
        for row in range(r0, min(r1, len(lines)) + 1):
            begin, end = (c0 if row == r0 else 0), (c1 if row == r1 else len(lines[row - 1]))
            tags[row - 1][begin:end] = [tag] * (end - begin)
    out = []
    for line, row_tags in zip(lines, tags):
        text = line.rstrip()
        indent = len(text) - len(text.lstrip())
        if text.strip():
            out.append((text[indent: indent + max_chars], row_tags[indent: min(len(text), indent + max_chars)]))
    return out


def _file_split(key: str) -> int:
    bucket = zlib.crc32(key.encode()) % 20
    return 1 if bucket == 0 else 2 if bucket == 1 else 0


def pystdlib_tokens(root: str | Path | None = None) -> tuple[list, list, list]:
    """(train, val, test) of tagged lines from the .py files under `root` (default: the stdlib, less
    the test and demo folders the `pystdlib` corpus leaves out)."""
    from .text import _SKIP_DIRS

    base = Path(root) if root is not None else Path(sysconfig.get_paths()["stdlib"])
    files = sorted(f for f in base.rglob("*.py") if not _SKIP_DIRS & set(f.relative_to(base).parts))
    splits: list[list[tuple[str, list[int]]]] = [[], [], []]
    for f in files:
        try:
            tagged = tag_source(f.read_text(encoding="utf-8", errors="replace"))
        except (tokenize.TokenError, SyntaxError, UnicodeDecodeError):
            continue  # the few files Python itself cannot tokenize (e.g. deliberately broken ones)
        splits[_file_split(f.relative_to(base).as_posix())].extend(tagged)
    if not splits[0]:
        raise DataError(f"pystdlib-tokens: expected Python files under {base}, found none that tokenize")
    return splits[0], splits[1], splits[2]


# ---- loading and batching ---------------------------------------------------------------------

def load_text_classification(name: str, *, data_dir: str | Path | None = None) -> LabelledText:
    """A sentence-classification set: `shakespeare-plays` (needs `archzoo data prepare shakespeare`;
    `data_dir` is where that put the corpus, if not the cache)."""
    if name != "shakespeare-plays":
        known = [k for k in KNOWN_LABELLED if k != "pystdlib-tokens"]
        raise DataError(f"unknown text-classification set {name!r}: expected one of {', '.join(known)}")
    from .prepare import corpus_file
    from .text import load_corpus

    path = corpus_file("shakespeare", data_dir=data_dir)
    corpus = load_corpus(str(path))
    vocab = CharVocab.from_texts([corpus.train], unknown="replace")  # the char-LM's vocabulary
    train, val, test, classes = shakespeare_plays(path.read_text(encoding="utf-8", errors="replace"))
    return LabelledText(name, train, val, test, classes, vocab)


def load_token_tagging(name: str, *, root: str | Path | None = None) -> LabelledText:
    """A character-tagging set: `pystdlib-tokens` (`root`: another folder of .py files instead of
    the standard library)."""
    if name != "pystdlib-tokens":
        raise DataError(f"unknown tagging set {name!r}: expected pystdlib-tokens")
    train, val, test = pystdlib_tokens(root)
    vocab = CharVocab.from_texts((text for text, _ in train), unknown="replace")
    return LabelledText(name, train, val, test, list(TAGS), vocab)


class LabelledBatches:
    """(ids (B, T), lengths (B,), labels (B,)) for sentence labels, or (ids, lengths, tags (B, T)) for
    one label per character; ids are padded with <pad>, tags with `IGNORE_INDEX`. Sequences longer
    than `max_len` are cut (their tags too)."""

    def __init__(self, examples: Sequence[tuple[str, int | list[int]]], vocab: CharVocab, *, batch_size: int,
                 shuffle: bool = True, seed: int = 0, max_len: int | None = None) -> None:
        if not examples:
            raise DataError("no labelled examples to batch")
        if batch_size < 1:
            raise ValueError(f"expected batch_size >= 1, got {batch_size}")
        seqs = [vocab.encode(text)[:max_len] for text, _ in examples]
        if min(map(len, seqs)) == 0:
            raise DataError("an example has no characters: expected non-empty texts")
        self.per_token = not isinstance(examples[0][1], int)
        self.lengths = torch.tensor([len(s) for s in seqs])
        self.offsets = torch.cat([torch.zeros(1, dtype=torch.long), self.lengths.cumsum(0)])
        total = int(self.offsets[-1])
        # ragged, padded per batch: pystdlib-tokens padded whole would be 225k x 120 int64s (~200 MB)
        self.flat = torch.from_numpy(np.fromiter(chain.from_iterable(seqs), np.int64, total))
        if self.per_token:
            tags = [list(t)[:max_len] for _, t in examples]  # type: ignore[arg-type]
            if any(len(t) != len(s) for t, s in zip(tags, seqs)):
                raise DataError("expected one tag per character in every tagged example")
            self.labels = torch.from_numpy(np.fromiter(chain.from_iterable(tags), np.int64, total))
        else:
            self.labels = torch.tensor([label for _, label in examples], dtype=torch.long)
        self.batch_size, self.shuffle, self.seed, self.epoch = batch_size, shuffle, seed, 0
        self.dataset = examples  # len() is what trainers report

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-len(self.dataset) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        return self.iter_from(0)

    def iter_from(self, step: int) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        n = len(self.dataset)
        order = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)) \
            if self.shuffle else torch.arange(n)
        for i in range(step * self.batch_size, n, self.batch_size):
            idx = order[i: i + self.batch_size]
            lengths = self.lengths[idx]
            rows = torch.arange(len(idx)).repeat_interleave(lengths)
            cols = torch.cat([torch.arange(int(k)) for k in lengths])
            where = torch.cat([torch.arange(int(self.offsets[j]), int(self.offsets[j + 1])) for j in idx])
            ids = torch.full((len(idx), int(lengths.max())), PAD, dtype=torch.long)  # B T
            ids[rows, cols] = self.flat[where]
            if self.per_token:
                labels = torch.full_like(ids, IGNORE_INDEX)  # B T
                labels[rows, cols] = self.labels[where]
            else:
                labels = self.labels[idx]  # B
            yield ids, lengths, labels
