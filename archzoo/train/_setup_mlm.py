"""Masked-language-model pre-training (BERT's, Devlin et al. 2019, arXiv:1810.04805, section 3.1)
on a character corpus: the setup of every card whose task is "masked-lm".

Data: the corpus is read and encoded exactly as a language model's (`_setup_text._lm_data`: the
same `CharVocab` of the training text, the same splits, the same seeded window order); BERT's three
special tokens follow the characters, in this fixed order, so a model's vocabulary is
`len(chars vocab) + 3`:

    [CLS] = V0, [SEP] = V0 + 1, [MASK] = V0 + 2   (V0 = len(CharVocab), 4 + number of characters)

An example is one window of text. With next-sentence prediction it is BERT's pair
`[CLS] A [SEP] B [SEP]` (token types 0 for [CLS] A [SEP], 1 for B [SEP]): A and B are the two
halves of a window of 2L characters, L = (T - 3) // 2, and in half of the pairs (drawn per pair) B
is replaced by the second half of another window: label 0 "B follows A", 1 "B is random", as
Hugging Face's `BertForPreTraining` counts. Without it the example is `[CLS] text [SEP]` of T - 2
characters, all token type 0. T is the model's `seq_len` (its learned positions).

Masking: `models.bert.mask_tokens`: each character position is chosen with probability 0.15
([CLS] and [SEP] never are); a chosen one becomes [MASK] (80%), a random character (10%) or stays
(10%). The loss is the cross-entropy at chosen positions only (plus the NSP cross-entropy).
The draws come from a generator seeded by (run seed, epoch, step), so a resumed run masks every
batch as the uninterrupted one did; validation and test batches are masked the same way at every
evaluation (epoch 0), so their numbers compare across epochs.

The model interface (what a "masked-lm" card's model must provide; `models.bert.Bert` does):
- a frozen dataclass config with `vocab_size` (set here from the data) and `seq_len` (T);
- `model(idx (B, T))` -> MLM logits (B, T, vocab_size);
- next-sentence prediction only when the config's `next_sentence` is true (a field or a property;
  absent means MLM only): then `model.pretraining_logits(idx, token_type_ids=(B, T))` -> (MLM
  logits (B, T, vocab_size), NSP logits (B, 2)).

Metrics: `loss` (what is back-propagated: masked-token loss + NSP loss), `mlm_loss` (nats per
masked token), `acc` (masked-token accuracy, the metric that picks the best checkpoint) and, with
NSP, `nsp_acc`.

Departures: BERT picks exactly round(0.15 n) positions per sequence (at most 20 of 128); here each
position is chosen independently (Hugging Face's collator does the same), so the count varies.
Random replacements are characters, never special tokens. Segments are fixed-length character
windows, not sentences; there is no 90%/10% schedule of sequence lengths 128/512.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Iterator, NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..data.readers import DataError
from ..data.text import LMBatches
from ..data.tokenize import SPECIALS, CharVocab
from ..models._registry import model_config
from ..models.bert import mask_tokens
from .config import TrainConfig
from .tasks import StepOutput

MLM_SPECIALS = ("[CLS]", "[SEP]", "[MASK]")  # appended after the characters, in this order
MASK_PROB = 0.15
IGNORE = -100


class MaskedBatch(NamedTuple):
    inputs: Tensor  # B T: corrupted ids
    token_types: Tensor  # B T: 0 for segment A, 1 for segment B
    labels: Tensor  # B T: the original id at chosen positions, -100 elsewhere
    next_labels: Tensor | None  # B: 0 when B follows A, 1 when random; None without NSP


@dataclasses.dataclass(frozen=True)
class MLMVocab:
    """The character vocabulary and the three ids after it."""

    chars: CharVocab

    @property
    def cls_id(self) -> int:
        return len(self.chars)

    @property
    def sep_id(self) -> int:
        return len(self.chars) + 1

    @property
    def mask_id(self) -> int:
        return len(self.chars) + 2

    def __len__(self) -> int:
        return len(self.chars) + len(MLM_SPECIALS)

    @property
    def itos(self) -> list[str]:
        return self.chars.itos + list(MLM_SPECIALS)


def text_len(seq_len: int, *, next_sentence: bool) -> int:
    """Characters of text per example: 2L for a pair [CLS] A [SEP] B [SEP], T - 2 for one segment."""
    return 2 * ((seq_len - 3) // 2) if next_sentence else seq_len - 2


class MaskedLMBatches:
    """Windows of an `LMBatches` (its order, epochs, resume by step) turned into `MaskedBatch`es."""

    def __init__(self, windows: LMBatches, vocab: MLMVocab, *, next_sentence: bool, seed: int) -> None:
        self.windows, self.vocab, self.next_sentence, self.seed = windows, vocab, next_sentence, seed
        self.dataset = windows.dataset

    def set_epoch(self, epoch: int) -> None:
        self.windows.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.windows)

    def __iter__(self) -> Iterator[MaskedBatch]:
        return self.iter_from(0)

    def iter_from(self, step: int) -> Iterator[MaskedBatch]:
        for i, (x, _) in enumerate(self.windows.iter_from(step), start=step):
            # one generator per batch: a resumed run draws what the uninterrupted one drew
            g = torch.Generator().manual_seed(((self.seed * 1_000_003 + self.windows.epoch) * 1_000_003 + i) % 2**63)
            yield self.make(x, generator=g)

    def make(self, text: Tensor, *, generator: torch.Generator) -> MaskedBatch:
        """text (B, S) character ids -> a masked batch of BERT inputs."""
        b, s = text.shape
        v = self.vocab
        cls = torch.full((b, 1), v.cls_id, dtype=torch.long)
        sep = torch.full((b, 1), v.sep_id, dtype=torch.long)
        next_labels = None
        if self.next_sentence:
            half = s // 2
            first, second = text[:, :half], text[:, half:]
            is_random = torch.rand(b, generator=generator) < 0.5
            w = self.windows
            other = torch.randint(0, w.num_windows, (b,), generator=generator)
            offsets = torch.arange(half, 2 * half)
            random_second = w.ids[other[:, None] * w.seq_len + offsets]  # B L: another window's second half
            second = torch.where(is_random[:, None], random_second, second)
            # a draw of its own window (or an identical one) is a true continuation after all
            next_labels = (is_random & (second != text[:, half:]).any(1)).long()
            ids = torch.cat([cls, first, sep, second, sep], 1)  # B T
            token_types = torch.cat([torch.zeros(b, half + 2, dtype=torch.long),
                                     torch.ones(b, half + 1, dtype=torch.long)], 1)
        else:
            ids = torch.cat([cls, text, sep], 1)  # B T
            token_types = torch.zeros_like(ids)
        special = (ids == v.cls_id) | (ids == v.sep_id)
        inputs, labels = mask_tokens(ids, mask_id=v.mask_id, vocab_size=len(v.chars), low=len(SPECIALS),
                                     prob=MASK_PROB, special=special, generator=generator)
        return MaskedBatch(inputs, token_types, labels, next_labels)


class MaskedLMTask:
    """Cross-entropy at the chosen positions (+ NSP); masked-token accuracy picks the best checkpoint."""

    best_metric = "acc"
    higher_is_better = True

    def __init__(self, *, vocab_size: int, next_sentence: bool) -> None:
        self.vocab_size, self.next_sentence = vocab_size, next_sentence

    def step(self, model: nn.Module, batch: MaskedBatch) -> StepOutput:
        if self.next_sentence:
            logits, nsp_logits = model.pretraining_logits(batch.inputs, token_type_ids=batch.token_types)
        else:
            logits, nsp_logits = model(batch.inputs), None  # B T V
        if logits.ndim != 3 or logits.shape[-1] != self.vocab_size:
            name = getattr(model, "model_name", type(model).__name__)
            raise ValueError(f"{name}: a masked-lm model must return logits (B, T, {self.vocab_size}); "
                             f"got {tuple(logits.shape)} (BERT needs pretraining_heads=True)")
        chosen = batch.labels != IGNORE  # B T
        n = int(chosen.sum())
        picked = logits[chosen].float()  # N V: only the chosen positions are scored
        target = batch.labels[chosen]
        # a batch without a chosen position (tiny batches) still back-propagates, a zero
        mlm = F.cross_entropy(picked, target, reduction="sum") / max(n, 1)
        sums = {"nll": mlm.item() * n, "correct": float((picked.argmax(-1) == target).sum())}
        loss = mlm
        if nsp_logits is not None:
            nsp = F.cross_entropy(nsp_logits.float(), batch.next_labels)
            loss = loss + nsp
            rows = batch.inputs.shape[0]
            sums.update(nsp_nll=nsp.item() * rows, nsp_correct=float((nsp_logits.argmax(-1) == batch.next_labels).sum()),
                        sequences=float(rows))
        return StepOutput(loss=loss, count=n, sums=sums)

    def summarize(self, *, loss_sum: float, count: int, sums: dict[str, float]) -> dict[str, float]:
        keys = ["loss", "mlm_loss", "acc"] + (["nsp_loss", "nsp_acc"] if self.next_sentence else [])
        if count == 0:
            return dict.fromkeys(keys, math.nan)
        out = {"loss": loss_sum / count, "mlm_loss": sums.get("nll", 0.0) / count,
               "acc": sums.get("correct", 0.0) / count}
        if self.next_sentence:
            rows = max(sums.get("sequences", 0.0), 1.0)
            out.update(nsp_loss=sums.get("nsp_nll", 0.0) / rows, nsp_acc=sums.get("nsp_correct", 0.0) / rows)
        return out


def next_sentence_of(cfg: TrainConfig, overrides: dict[str, Any]) -> tuple[int, bool]:
    """(seq_len, next_sentence) of the model the run will build: its config with the overrides."""
    base = model_config(cfg.model)
    if not dataclasses.is_dataclass(base):
        raise ValueError(f"{cfg.model}: a masked-lm model must be registered with a dataclass config "
                         f"(vocab_size, seq_len); got {type(base).__name__}")
    fields = {f.name for f in dataclasses.fields(base)}
    resolved = dataclasses.replace(base, **{k: v for k, v in overrides.items() if k in fields})
    seq_len = getattr(resolved, "seq_len", None)
    if not isinstance(seq_len, int):
        raise ValueError(f"{cfg.model}: a masked-lm model's config needs an integer seq_len; got {seq_len!r}")
    return seq_len, bool(getattr(resolved, "next_sentence", False))


def _mlm_setup(cfg: TrainConfig, overrides: dict[str, Any]) -> tuple:
    from ._setup_text import _lm_data

    seq_len, nsp = next_sentence_of(cfg, overrides)
    least = 5 if nsp else 3
    if seq_len < least:
        raise ValueError(f"--model-args seq_len={seq_len}: a masked-lm example needs at least {least} "
                         f"positions ([CLS], text{', [SEP], text' if nsp else ''}, [SEP])")
    bundle, train, val, test, sizes = _lm_data(cfg, seq_len=text_len(seq_len, next_sentence=nsp),
                                               batch_size=cfg.batch_size)
    vocab = MLMVocab(CharVocab.from_json(bundle.vocabs["vocab"]))
    if sizes["vocab_size"] != len(vocab.chars):
        raise DataError(f"{bundle.name}: the vocabulary has {sizes['vocab_size']} entries, expected {len(vocab.chars)}")

    def wrap(windows: LMBatches | None) -> MaskedLMBatches | None:
        return None if windows is None else MaskedLMBatches(windows, vocab, next_sentence=nsp, seed=cfg.seed)

    bundle.classes, bundle.image_size = vocab.itos, (seq_len,)
    task = MaskedLMTask(vocab_size=len(vocab), next_sentence=nsp)
    return bundle, wrap(train), wrap(val), wrap(test), {"vocab_size": len(vocab)}, task


# ---- fine-tuning from a masked-lm run -----------------------------------------------------------

def init_from_pretrained(model: nn.Module, path: str, *, freeze: str = "none", vocab: str | None = None) -> list[str]:
    """`--init` of a sequence run: the encoder of an archzoo checkpoint of another task (a masked-lm
    run's `best.safetensors`, or its run directory) into `model` (a `BertClassifier`).

    Tensors load by name and must agree in shape; the checkpoint's tensors the model lacks (the MLM
    and NSP heads) are dropped; the model's tensors the checkpoint lacks must be its new head
    (`head.`), which keeps its fresh initialization. `vocab` (the run's CharVocab JSON) is checked
    against the checkpoint's token list, so embedding rows keep their characters. freeze="body"
    trains only the head. Returns the names of the tensors that stayed new."""
    from .checkpoint import read_sidecar, read_tensors, resolve

    directory, tag = resolve(path)
    weights, _ = read_tensors(directory / f"{tag}.safetensors")
    where = f"--init {path}"
    if vocab is not None:
        meta = read_sidecar(directory / f"{tag}.json")
        theirs, ours = list(meta.get("classes") or []), CharVocab.from_json(vocab).itos
        if theirs[: len(ours)] != ours:
            raise ValueError(f"{where}: expected a checkpoint over this data's {len(ours)} tokens "
                             f"({''.join(ours[len(SPECIALS):])[:40]!r}...), got another vocabulary "
                             f"({len(theirs)} tokens)")
    own = model.state_dict()
    shapes = [f"{k} {tuple(weights[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
              if k in weights and weights[k].shape != v.shape]
    fresh = [k for k in own if k not in weights]
    body = [k for k in fresh if not k.startswith("head.")]
    if shapes or body or len(fresh) == len(own):
        what = (f"shapes differ: {', '.join(shapes[:3])}" if shapes else
                f"it lacks {', '.join(body[:3])}" if body else "no tensor name matches")
        name = getattr(model, "model_name", type(model).__name__)
        raise ValueError(f"{where}: expected the encoder of a {name} checkpoint (same sizes: --model-args as "
                         f"in pre-training); {what}")
    model.load_state_dict({k: weights[k] for k in own if k in weights}, strict=False)
    if freeze == "body":
        for k, p in model.named_parameters():
            p.requires_grad_(k.startswith("head."))
    return fresh
