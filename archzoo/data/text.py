"""Text that works offline: corpora for language models and generated translation tasks.

Corpora (`load_corpus`): `pystdlib`, the Python standard library's own .py sources (always present;
the code corpus of the classic char-RNN demos), `fortunes` (Debian's fortune files), or any text
file. Train / validation splits are deterministic: by a CRC32 of each file's (or fortune's) name, so
every machine with the same Python draws the same split; a single file keeps its last 10% apart.

Translation tasks (`load_translation`), generated from a seed (seed 000's encoder-decoder examples):
`dates` (human-readable dates in many formats -> ISO 8601, with `test_unseen`: formats never seen in
training), `number-words` (English number words -> digits), `number-thai` (digits -> Thai words, by
num2words). Batches come from `LMBatches` (x, y) and `PairBatches` (src, src_len, tgt_in, tgt_out),
which, like `BatchLoader`, shuffle as a pure function of (seed, epoch) so a resumed run sees the
same batches.
"""
from __future__ import annotations

import datetime
import random
import string
import sysconfig
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import Tensor

from .readers import DataError
from .tokenize import BOS, EOS, PAD, CharVocab

KNOWN_CORPORA = {
    "pystdlib": "the Python standard library's .py sources (about 10 MB without tests): always present",
    "fortunes": "Debian's fortune cookies: apt-get install fortunes",
}
KNOWN_TASKS = {
    "dates": "human-readable dates -> ISO 8601, generated; test_unseen holds formats never trained on",
    "number-words": "English number words -> digits, generated",
    "number-thai": "numbers -> Thai words, generated with num2words (pip install num2words)",
}
_SKIP_DIRS = {"test", "tests", "idlelib", "site-packages", "lib2to3", "turtledemo", "__pycache__"}
FORTUNE_DIRS = (Path("/usr/share/games/fortunes"), Path("/usr/share/fortunes"))


@dataclass
class TextCorpus:
    name: str
    train: str
    val: str


def _held_out(key: str, every: int = 20) -> bool:
    return zlib.crc32(key.encode()) % every == 0


def load_corpus(name_or_path: str, *, max_chars: int | None = None) -> TextCorpus:
    """A named corpus or a text file, split into train and validation text."""
    if name_or_path == "pystdlib":
        root = Path(sysconfig.get_paths()["stdlib"])
        files = sorted(f for f in root.rglob("*.py") if not _SKIP_DIRS & set(f.relative_to(root).parts))
        parts = [(str(f.relative_to(root)), f.read_text(encoding="utf-8", errors="replace")) for f in files]
    elif name_or_path == "fortunes":
        found = [d for d in FORTUNE_DIRS if d.is_dir()]
        files = sorted(f for d in found for f in d.rglob("*") if f.is_file() and not f.suffix and not f.is_symlink())
        if not files:
            raise DataError("the fortunes corpus is not installed: apt-get install fortunes "
                            f"(looked in {', '.join(map(str, FORTUNE_DIRS))})")
        parts = [(f"{f.name}:{i}", entry.strip() + "\n") for f in files
                 for i, entry in enumerate(f.read_text(encoding="utf-8", errors="replace").split("\n%\n"))
                 if entry.strip()]
    else:
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise DataError(f"unknown corpus {name_or_path!r}: expected one of {', '.join(KNOWN_CORPORA)} "
                            "or a text file")
        text = path.read_text(encoding="utf-8", errors="replace")
        if max_chars:
            text = text[:max_chars]
        cut = int(len(text) * 0.9)
        return _checked(TextCorpus(path.stem, text[:cut], text[cut:]))
    train = "".join(t for k, t in parts if not _held_out(k))
    val = "".join(t for k, t in parts if _held_out(k))
    if max_chars:
        train, val = train[:max_chars], val[: max(max_chars // 10, 1)]
    return _checked(TextCorpus(name_or_path, train, val))


def _checked(corpus: TextCorpus) -> TextCorpus:
    if not corpus.train.strip():
        raise DataError(f"corpus {corpus.name!r} is empty")
    return corpus


class LMBatches:
    """Non-overlapping windows of `seq_len + 1` tokens -> (x, y) = (B, T) inputs and next tokens."""

    def __init__(self, ids: Tensor, *, seq_len: int, batch_size: int, shuffle: bool = True, seed: int = 0) -> None:
        n = (len(ids) - 1) // seq_len
        if n < 1:
            raise DataError(f"the text has {len(ids)} tokens, too few for sequences of {seq_len} "
                            f"(needs at least {seq_len + 1}); lower --seq-len or use more text")
        self.ids, self.seq_len, self.batch_size = ids, seq_len, batch_size
        self.shuffle, self.seed, self.epoch, self.num_windows = shuffle, seed, 0, n
        self.dataset = range(n)  # len() is what trainers report

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-self.num_windows // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        return self.iter_from(0)

    def iter_from(self, step: int) -> Iterator[tuple[Tensor, Tensor]]:
        order = torch.arange(self.num_windows)
        if self.shuffle:
            order = torch.randperm(self.num_windows, generator=torch.Generator().manual_seed(
                self.seed * 1_000_003 + self.epoch))
        offsets = torch.arange(self.seq_len + 1)
        for i in range(step * self.batch_size, self.num_windows, self.batch_size):
            rows = self.ids[order[i: i + self.batch_size, None] * self.seq_len + offsets]  # B T+1
            yield rows[:, :-1], rows[:, 1:]


# ---- generated translation tasks -------------------------------------------------------------

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _ord(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def _parts(d: datetime.date) -> dict[str, str]:
    m = MONTHS[d.month - 1]
    return dict(d=str(d.day), dd=f"{d.day:02d}", mm=f"{d.month:02d}", Y=str(d.year), yy=f"{d.year % 100:02d}",
                M=m, Mon=m[:3], W=DAYS[d.weekday()], Wd=DAYS[d.weekday()][:3], o=_ord(d.day))


SEEN_FORMATS = ["{d} {M} {Y}", "{M} {d}, {Y}", "{dd}/{mm}/{Y}", "{W}, {d} {M} {Y}", "{Mon} {d} {Y}",
                "{d} {Mon} {yy}", "{dd}.{mm}.{Y}", "{M} {o}, {Y}", "the {o} of {M} {Y}", "{Wd} {Mon} {dd} {Y}",
                "{dd}-{mm}-{Y}", "{Y}/{mm}/{dd}"]
UNSEEN_FORMATS = ["{Mon}. {d}, {Y}", "{d}-{Mon}-{Y}", "{W}, {M} {d}, {Y}", "{dd}/{mm}/{yy}", "{o} {Mon} {Y}"]
_DATE_CHARS = string.ascii_letters + string.digits + " ,./-"


def _date_pair(rng: random.Random, formats: list[str]) -> tuple[str, str]:
    # 1950..2049, so a two-digit year names one century: 50..99 -> 19xx, 00..49 -> 20xx
    d = datetime.date(1950, 1, 1) + datetime.timedelta(days=rng.randrange(36525))
    return rng.choice(formats).format(**_parts(d)), d.isoformat()


_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen " \
        "sixteen seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def english_number(n: int) -> str:
    """0 <= n < 10**9 in American English words: 342105 -> 'three hundred forty-two thousand one
    hundred five'."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else "-" + _ONES[n % 10])
    for size, word in ((10**6, "million"), (1000, "thousand"), (100, "hundred")):
        if n >= size:
            head, rest = divmod(n, size)
            return f"{english_number(head)} {word}" + ("" if rest == 0 else " " + english_number(rest))
    raise AssertionError(n)


def _thai(n: int) -> str:
    try:
        from num2words import num2words
    except ImportError:
        raise DataError("the number-thai task needs num2words: pip install num2words") from None
    return num2words(n, lang="th")


def _number(rng: random.Random) -> int:
    digits = rng.randint(1, 6)  # uniform in the number of digits, so small numbers are not rare
    return rng.randrange(10 ** (digits - 1) if digits > 1 else 0, 10**digits)


@dataclass
class TranslationData:
    name: str
    train: list[tuple[str, str]]
    val: list[tuple[str, str]]
    test: list[tuple[str, str]]
    src_vocab: CharVocab
    tgt_vocab: CharVocab
    extra: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # e.g. test_unseen


def load_translation(name: str, *, n_train: int = 20000, n_val: int = 1000, n_test: int = 2000,
                     seed: int = 0) -> TranslationData:
    """Generate a task's splits: distinct sources, deterministic for (name, sizes, seed)."""
    rng = random.Random(f"{name}:{seed}")
    make: Callable[[random.Random], tuple[str, str]]
    if name == "dates":
        make = lambda r: _date_pair(r, SEEN_FORMATS)  # noqa: E731
    elif name == "number-words":
        make = lambda r: (lambda n: (english_number(n), str(n)))(_number(r))  # noqa: E731
    elif name == "number-thai":
        make = lambda r: (lambda n: (str(n), _thai(n)))(_number(r))  # noqa: E731
    else:
        raise DataError(f"unknown translation task {name!r}; expected one of {', '.join(KNOWN_TASKS)}")
    total = n_train + n_val + n_test
    seen: dict[str, str] = {}
    for _ in range(total * 50):
        if len(seen) == total:
            break
        src, tgt = make(rng)
        seen.setdefault(src, tgt)
    if len(seen) < total:
        raise DataError(f"{name} has fewer than {total} distinct examples; ask for fewer")
    pairs = list(seen.items())
    train, val, test = pairs[:n_train], pairs[n_train: n_train + n_val], pairs[n_train + n_val:]
    extra = {}
    if name == "dates":
        unseen = {}
        while len(unseen) < n_test:
            src, tgt = _date_pair(rng, UNSEEN_FORMATS)
            unseen.setdefault(src, tgt)
        extra["test_unseen"] = list(unseen.items())
        src_vocab = CharVocab(_DATE_CHARS, unknown="replace")
    else:
        src_vocab = CharVocab.from_texts((s for s, _ in pairs), unknown="replace")
    tgt_vocab = CharVocab.from_texts(t for _, t in pairs)
    return TranslationData(name, train, val, test, src_vocab, tgt_vocab, extra)


def _pad(seqs: list[list[int]]) -> Tensor:
    out = torch.full((len(seqs), max(map(len, seqs))), PAD, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    return out


class PairBatches:
    """(src (B, S), src_len (B,), tgt_in (B, T) = <bos> y, tgt_out (B, T) = y <eos>), padded with 0."""

    def __init__(self, pairs: list[tuple[str, str]], src_vocab: CharVocab, tgt_vocab: CharVocab, *,
                 batch_size: int, shuffle: bool = True, seed: int = 0) -> None:
        if not pairs:
            raise DataError("no sentence pairs to batch")
        src = [src_vocab.encode(s) for s, _ in pairs]
        tgt = [tgt_vocab.encode(t) for _, t in pairs]
        self.src, self.src_len = _pad(src), torch.tensor([len(s) for s in src])
        self.tgt_in, self.tgt_out = _pad([[BOS] + t for t in tgt]), _pad([t + [EOS] for t in tgt])
        self.batch_size, self.shuffle, self.seed, self.epoch = batch_size, shuffle, seed, 0
        self.dataset = pairs

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-len(self.dataset) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        return self.iter_from(0)

    def iter_from(self, step: int) -> Iterator[tuple[Tensor, ...]]:
        n = len(self.dataset)
        order = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)) \
            if self.shuffle else torch.arange(n)
        for i in range(step * self.batch_size, n, self.batch_size):
            idx = order[i: i + self.batch_size]
            src_len = self.src_len[idx]
            tgt_len = int((self.tgt_out[idx] != PAD).sum(1).max())
            yield (self.src[idx, : int(src_len.max())], src_len, self.tgt_in[idx, :tgt_len],
                   self.tgt_out[idx, :tgt_len])
