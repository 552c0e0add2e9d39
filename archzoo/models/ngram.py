"""Character n-gram language models: seed 004's trigram P(x_n | x_{n-1}, x_{n-2}), by counting.

Smoothing (`smoothing=`), each a proper distribution over the whole vocabulary for every context,
seen or not:
- "kneser-ney" (default): interpolated Kneser-Ney (Kneser & Ney 1995, "Improved backing-off for
  M-gram language modeling"; the interpolated form of Chen & Goodman 1996, "An Empirical Study of
  Smoothing Techniques for Language Modeling", arXiv:cmp-lg/9606011). The highest order discounts
  its counts by D and gives the freed mass to the next lower order; lower orders count how many
  distinct characters precede a k-gram (continuation counts) rather than how often it occurs;
  order 1 interpolates with the uniform distribution. It is the default because it was the best
  of the classic methods in Chen & Goodman's comparison.
- "absolute": the same interpolation with raw counts at every order (absolute discounting, Ney,
  Essen & Kneser 1994).
- "add-k": (c(h w) + k) / (c(h) + k V) at the highest order the history allows; no backoff.
D per order is Ney's estimate n1 / (n1 + 2 n2) from the counts-of-counts (clamped to [0.05, 0.95];
0.75 before anything is counted) unless `discount` fixes it.

How it learns: counts live in float32 buffers (exact up to 2^24 per n-gram), accumulated by the
training-mode forward the way batch norm accumulates its running statistics (archzoo's trainer
routes language-modelling runs through its generic step, not a model's own `train_step`); the step
then back-propagates into `anchor`, an empty parameter, so the step and its optimizer are no-ops. The
training-mode forward predicts each window before counting it, so epoch 1's training bits per
character are an honest online (prequential) figure. Counting stops the first time the model is put
in eval mode (the trainer's first validation): later epochs would only re-read the same text and
multiply every count, which changes the discounts (with --val-fraction 0, train one epoch).

Departures: the seed's trigrams are of words; these are of characters, over the corpora the char
RNNs train on. Counts come from the windows `LMBatches` cuts (n-grams that cross a window boundary
are not counted, n - 1 per window, so the card's seq_len is long); a window's first characters are
predicted from the shorter history they have. A table whose V^k entries exceed `max_table` hashes its
contexts into max_table // V rows (contexts that collide share their counts; every row stays a
proper distribution).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ._base import InputShapeError
from ._registry import ModelCard, Paper, register_variants

SMOOTHINGS = ("kneser-ney", "absolute", "add-k")
HASH_PRIME = 2_147_483_647  # 2^31 - 1: context codes stay far from int64 overflow when hashed
PAPER = Paper("Improved backing-off for M-gram language modeling", 1995, None, "Kneser, Ney")


@dataclass(frozen=True)
class NGramConfig:
    order: int = 3  # n: the model conditions on the n - 1 previous characters
    vocab_size: int = 100
    smoothing: str = "kneser-ney"
    discount: float | None = None  # None: Ney's estimate per order
    add_k: float = 1.0  # for smoothing="add-k"
    max_table: int = 1 << 24  # entries per order before contexts are hashed
    seq_len: int = 512  # the card's input length; long windows lose few boundary n-grams


def _check(cfg: NGramConfig) -> None:
    if not isinstance(cfg.order, int) or not 1 <= cfg.order <= 8:
        raise ValueError(f"ngram order: expected an integer n in 1..8, got {cfg.order!r}")
    if cfg.smoothing not in SMOOTHINGS:
        raise ValueError(f"ngram smoothing: expected one of {', '.join(SMOOTHINGS)}, got {cfg.smoothing!r}")
    if cfg.discount is not None and not 0 < cfg.discount < 1:
        raise ValueError(f"ngram discount: expected a number in (0, 1) or None, got {cfg.discount}")
    if not cfg.add_k > 0:
        raise ValueError(f"ngram add_k: expected k > 0, got {cfg.add_k}")
    if cfg.vocab_size < 1 or cfg.max_table < cfg.vocab_size:
        raise ValueError(f"ngram tables: expected vocab_size >= 1 and max_table >= vocab_size, got "
                         f"{cfg.vocab_size} and {cfg.max_table}")


class NGramLM(nn.Module):
    """tokens (B, T) -> next-token log-probabilities (B, T, V); a `StepDecoder` for `archzoo.generate`."""

    def __init__(self, cfg: NGramConfig) -> None:
        super().__init__()
        _check(cfg)
        self.cfg, self.num_classes, self.order, V = cfg, cfg.vocab_size, cfg.order, cfg.vocab_size
        # rows of each order's table: one per context when V^k fits, else hashed contexts
        self.rows = [1] + [V ** (k - 1) if V ** k <= cfg.max_table else cfg.max_table // V
                           for k in range(2, cfg.order + 1)]
        self.hashed = [False] + [V ** k > cfg.max_table for k in range(2, cfg.order + 1)]
        for k in range(1, cfg.order + 1):  # counts{k}[row of the k-1 history, next char]
            self.register_buffer(f"counts{k}", torch.zeros(self.rows[k - 1], V))
        for k in range(1, cfg.order):  # continuation counts: distinct characters seen before a k-gram
            self.register_buffer(f"cont{k}", torch.zeros(self.rows[k - 1], V))
        self.register_buffer("frozen", torch.zeros((), dtype=torch.bool))
        self.anchor = nn.Parameter(torch.empty(0))  # see the module docstring: the trainer's no-op step
        self._cache: dict[int, tuple] = {}

    def table(self, k: int, *, continuation: bool = False) -> Tensor:
        return getattr(self, f"cont{k}" if continuation else f"counts{k}")

    def train(self, mode: bool = True) -> NGramLM:
        if not mode:  # the first evaluation ends the reading (tensor ops only: works on meta too)
            self.frozen.copy_(self.frozen | (self.counts1.sum() > 0))
        return super().train(mode)

    def check_input(self, x: Tensor) -> None:
        if x.ndim != 2 or x.dtype not in (torch.long, torch.int32, torch.int64):
            raise InputShapeError(f"{type(self).__name__} expects token ids (B, T) as integers; "
                                  f"got {x.dtype} {tuple(x.shape)}")
        V = self.cfg.vocab_size
        if x.device.type != "meta" and x.numel() and not (0 <= int(x.min()) and int(x.max()) < V):
            raise InputShapeError(f"{type(self).__name__} expects token ids in 0..{V - 1}; got ids from "
                                  f"{int(x.min())} to {int(x.max())}")

    def _row(self, history: Tensor, k: int) -> Tensor:
        """(N, k-1) histories -> (N,) rows of order k's table."""
        V, code = self.cfg.vocab_size, torch.zeros(history.shape[0], dtype=torch.long, device=history.device)
        for i in range(k - 1):
            code = code * V + history[:, i]
            if self.hashed[k - 1]:
                code = code % HASH_PRIME
        return code % self.rows[k - 1] if self.hashed[k - 1] else code

    # ---- counting ----------------------------------------------------------------------------

    def _distinct(self, grams: Tensor) -> Tensor:
        """The distinct rows of (N, k) k-grams: a sort of exact 1-d codes (unique(dim=0) is slower)."""
        V, k = self.cfg.vocab_size, grams.shape[1]
        if V ** k >= 2 ** 62:
            return grams.unique(dim=0)
        code = torch.zeros(len(grams), dtype=torch.long, device=grams.device)
        for i in range(k):
            code = code * V + grams[:, i]
        order = code.argsort()
        sorted_code = code[order]
        first = torch.ones_like(sorted_code, dtype=torch.bool)
        first[1:] = sorted_code[1:] != sorted_code[:-1]
        return grams[order[first]]

    @torch.no_grad()
    def read(self, ids: Tensor) -> None:
        """Add the n-grams of each row of ids (B, L), or of one text (L,), to the counts."""
        ids = ids.view(1, -1) if ids.ndim == 1 else ids
        V = self.cfg.vocab_size
        for k in range(1, self.order + 1):
            if ids.shape[1] < k:
                break
            grams = ids.unfold(1, k, 1).reshape(-1, k)  # N k
            flat = self.table(k).view(-1)
            if k >= 2:  # new k-gram types add one continuation to their last k-1 characters
                kinds = self._distinct(grams)  # U k
                new = kinds[flat[self._row(kinds[:, :-1], k) * V + kinds[:, -1]] == 0]
                if len(new):
                    cont = self.table(k - 1, continuation=True).view(-1)
                    cont.index_put_((self._row(new[:, 1:-1], k - 1) * V + new[:, -1],),
                                    torch.ones(len(new), dtype=cont.dtype, device=cont.device), accumulate=True)
            flat.index_put_((self._row(grams[:, :-1], k) * V + grams[:, -1],),
                            torch.ones(len(grams), dtype=flat.dtype, device=flat.device), accumulate=True)

    # ---- the distribution ---------------------------------------------------------------------

    def _stats(self, k: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Order k's table (R, V), its row totals and row types (R, 1), and its discount D."""
        counts = self.table(k, continuation=self.cfg.smoothing == "kneser-ney" and k < self.order)
        key = (id(counts), counts._version)  # in-place counting and loading bump the version
        if self._cache.get(k, (None,))[0] != key:  # one scan per change, not one per call
            n1, n2 = (counts == 1).sum().float(), (counts == 2).sum().float()
            ney = (n1 / (n1 + 2 * n2).clamp(min=1)).clamp(0.05, 0.95)  # tensor ops: the analyzer runs on meta
            d = torch.where(n1 + n2 > 0, ney, torch.full_like(ney, 0.75))
            if self.cfg.discount is not None:
                d = torch.full_like(ney, self.cfg.discount)
            stats = (counts, counts.sum(1, keepdim=True), (counts > 0).sum(1, keepdim=True).float(), d)
            self._cache[k] = (key, stats)
        return self._cache[k][1]

    def discount(self, k: int) -> Tensor:
        """D of order k (0-dim): Ney's n1 / (n1 + 2 n2) of its counts-of-counts, or the config's."""
        return self._stats(k)[3]

    def _probs(self, history: Tensor, have: Tensor) -> Tensor:
        """Right-aligned histories (N, n-1), `have` (N,) real characters among them -> P (N, V).

        In-place arithmetic on one (N, V) buffer per order: this runs over every position of the
        corpus, so its passes over N x V floats are its cost."""
        V, cfg = self.cfg.vocab_size, self.cfg
        probs = torch.full((history.shape[0], V), 1.0 / V, device=history.device)  # N V
        for k in range(1, self.order + 1):
            table, totals, types, d = self._stats(k)
            rows = self._row(history[:, history.shape[1] - (k - 1):], k)
            counts, total = table[rows], totals[rows]  # N V, N 1
            short = have < k - 1  # histories too short for this order keep the lower one
            if cfg.smoothing == "add-k":
                counts.add_(cfg.add_k).div_(total + cfg.add_k * V)
                if short.any():
                    counts[short] = probs[short]
            else:
                # an unseen (or too short) history backs off whole: weight 1 on the lower order
                lower = torch.where(total > 0, d * types[rows] / total.clamp(min=1), torch.ones_like(total))
                if short.any():
                    counts[short], lower[short] = 0.0, 1.0
                counts.sub_(d).clamp_(min=0).div_(total.clamp(min=1)).addcmul_(probs, lower)
            probs = counts
        return probs

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        x = x.long()
        B, T = x.shape
        n = self.order
        # the history of target t is x[t-n+2 .. t]: left padding stands where a window has no past
        history = F.pad(x, (n - 2, 0)).unfold(1, n - 1, 1) if n > 1 else x.new_zeros(B, T, 0)  # B T n-1
        history = history.reshape(B * T, n - 1)
        have = (torch.arange(T, device=x.device) + 1).clamp(max=n - 1).repeat(B)
        with torch.no_grad():
            logp = self._probs(history, have).log_().view(B, T, -1)  # B T V
        if self.training:
            if not bool(self.frozen):
                self.read(x)
            logp = logp + self.anchor.sum()
        return logp

    def example_inputs(self, batch_size: int = 2) -> tuple[Tensor]:
        return (torch.zeros(batch_size, self.cfg.seq_len, dtype=torch.long),)

    # the StepDecoder protocol (archzoo.generate): the state is the last n-1 characters
    def _next(self, history: Tensor, have: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        return self._probs(history, have).log(), (history, have)

    def start(self, prompt: Tensor, lengths: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        self.check_input(prompt)
        n = self.order
        lengths = lengths.to(prompt.device)
        offsets = torch.arange(-(n - 1), 0, device=prompt.device)  # n-1: positions before the end
        where = lengths.view(-1, 1) + offsets  # B n-1
        history = prompt.long().gather(1, where.clamp(min=0)).masked_fill(where < 0, 0)
        return self._next(history, lengths.clamp(max=n - 1))

    def step(self, tokens: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        history, have = state
        history = torch.cat([history[:, 1:], tokens.view(-1, 1).long()], 1)[:, history.shape[1] - (self.order - 1):]
        return self._next(history, (have + 1).clamp(max=self.order - 1))

    def reorder_state(self, state: tuple[Tensor, Tensor], index: Tensor) -> tuple[Tensor, Tensor]:
        return state[0].index_select(0, index), state[1].index_select(0, index)

    def generate(self, prompts, **options) -> list[list[int]]:  # noqa: ANN001, ANN003
        from ..generate import generate
        return generate(self, prompts, **options)


VARIANTS = {
    "ngram_lm": NGramConfig(order=3),
    "ngram2_lm": NGramConfig(order=2),
    "ngram5_lm": NGramConfig(order=5),
}


def _card(name: str, cfg: NGramConfig) -> ModelCard:
    return ModelCard(
        name=name, family="ngram", task="language-modelling", paper=PAPER, input_size=(cfg.seq_len,),
        num_classes=cfg.vocab_size, params=0, macs=None,
        source="no trained weights: the model is its count tables (float32 buffers, V^k entries per order, "
               f"hashed beyond {cfg.max_table:,})",
        small_input_size=(8,),
        notes=(f"character {cfg.order}-grams (seed 004's trigrams are of words)",
               "interpolated Kneser-Ney by default; absolute discounting and add-k as options",
               "counts accumulate in the training-mode forward; counting stops at the first evaluation"),
    )


register_variants("ngram", VARIANTS, NGramLM, _card)
