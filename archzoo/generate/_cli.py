"""`archzoo generate` (continue a prompt with a trained language model) and `archzoo translate`
(decode a source with a trained seq2seq model; heat map of its attention; exact match on a split).

Both read a run directory written by `archzoo train`: config.json holds the resolved model config
and the vocabularies, the checkpoint holds the weights. Prompts are checked against the vocabulary
before anything runs: a character the model never saw is an error naming it, not a silent <unk>.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ..data.tokenize import BOS, EOS, CharVocab


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="continue a prompt with a trained language model",
                       description="Sample (or greedy / beam decode) new characters after --prompt.")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--prompt", required=True, help="text to continue (characters of the training corpus)")
    p.add_argument("--max-new-tokens", type=int, default=200, help="characters to add (default: 200)")
    p.add_argument("--temperature", type=float, default=1.0, help="softmax temperature; 0 = greedy (default: 1)")
    p.add_argument("--top-k", type=int, help="sample among the k most likely characters only")
    p.add_argument("--top-p", type=float, help="sample among the smallest set with this much probability")
    p.add_argument("--num-beams", type=int, default=1, help="beam search with this width (default: 1, off)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampling (default: 0)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--tag", default="best", choices=("best", "last"), help="checkpoint of the run")
    g.add_argument("--checkpoint", metavar="NAME", help="a checkpoint of the run by name (epoch-N, avg-lastN)")
    p.set_defaults(func=_generate)

    p = sub.add_parser("translate", help="decode sources with a trained seq2seq model",
                       description="Translate each TEXT; or measure exact match on a split with --eval.")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("texts", metavar="TEXT", nargs="*", help="source text(s) to translate")
    p.add_argument("--num-beams", type=int, default=1, help="beam width (default: 1, greedy)")
    p.add_argument("--length-penalty", type=float, default=1.0, help="beam scores / length**this (default: 1)")
    p.add_argument("--attention-png", metavar="FILE", help="heat map of the first TEXT's attention")
    p.add_argument("--eval", metavar="SPLIT", help="exact match of decoded outputs on the task's SPLIT "
                                                   "(val, test, or test_unseen for dates)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--tag", default="best", choices=("best", "last"), help="checkpoint of the run")
    g.add_argument("--checkpoint", metavar="NAME", help="a checkpoint of the run by name (epoch-N, avg-lastN)")
    p.set_defaults(func=_translate)


def load_run(run_dir: str, *, tag: str, kind: str) -> tuple[nn.Module, dict[str, Any], dict[str, CharVocab]]:
    """(model in eval mode, config.json, vocabularies) of a sequence run of task `kind`."""
    from ..train.checkpoint import load_task_run

    model, doc = load_task_run(run_dir, task=kind, vocab="src_vocab" if kind == "seq2seq" else "vocab",
                               tag=tag)
    # error, not <unk>: a user's prompt with a character the model never saw deserves to be told
    vocabs = {k: CharVocab(CharVocab.from_json(v).chars, unknown="error") for k, v in doc["data"]["vocabs"].items()}
    return model, doc, vocabs


def _encode(vocab: CharVocab, text: str, what: str) -> list[int]:
    if not text:
        raise ValueError(f"{what}: expected at least one character, got an empty string")
    missing = sorted({c for c in text if c not in vocab.stoi})
    if missing:
        known = "".join(vocab.chars)
        known = known if len(known) <= 60 else known[:60] + "..."
        raise ValueError(f"{what}: characters outside the model's vocabulary: {''.join(missing)!r} "
                         f"(it knows {len(vocab.chars)}: {known!r})")
    return vocab.encode(text)


def _check_beams(n: int) -> None:
    if n < 1:
        raise ValueError(f"--num-beams: expected a beam width >= 1, got {n}")


def _generate(args: argparse.Namespace) -> int:
    _check_beams(args.num_beams)
    if args.max_new_tokens < 0:
        raise ValueError(f"--max-new-tokens: expected >= 0, got {args.max_new_tokens}")
    model, _, vocabs = load_run(args.run_dir, tag=args.checkpoint or args.tag, kind="language-modelling")
    vocab = vocabs["vocab"]
    ids = _encode(vocab, args.prompt, "--prompt")
    out = model.generate([ids], max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                         top_k=args.top_k, top_p=args.top_p, num_beams=args.num_beams, seed=args.seed)[0]
    print(args.prompt + vocab.decode(out))
    return 0


def _translate(args: argparse.Namespace) -> int:
    _check_beams(args.num_beams)
    if not args.texts and not args.eval:
        raise ValueError("expected TEXT to translate or --eval SPLIT, got neither")
    if args.attention_png and not args.texts:
        raise ValueError("--attention-png: expected a TEXT to draw the attention of")
    model, doc, vocabs = load_run(args.run_dir, tag=args.checkpoint or args.tag, kind="seq2seq")
    src, tgt = vocabs["src_vocab"], vocabs["tgt_vocab"]
    options = {"num_beams": args.num_beams, "length_penalty": args.length_penalty}
    if args.texts:
        ids = [_encode(src, t, f"TEXT {t!r}") for t in args.texts]
        outs = model.generate(ids, **options)
        for text, out in zip(args.texts, outs):
            print(f"{text}\t{tgt.decode(out)}")
        if args.attention_png:
            path = _plot(model, ids[0], outs[0], src, tgt, args.attention_png, title=f"{doc['model']['name']}")
            print(f"attention: {path}")
    if args.eval:
        _eval_split(model, doc, src, tgt, args.eval, options)
    return 0


def _plot(model: nn.Module, src_ids: list[int], out: list[int], src: CharVocab, tgt: CharVocab, path: str, *,
          title: str) -> Path:
    from ..viz.alignment import plot_alignment

    if getattr(model, "attn", None) is None:
        raise ValueError("--attention-png: this model has no attention (seq2seq_none)")
    x = torch.tensor([src_ids])  # 1 S
    tgt_in = torch.tensor([[BOS] + out])  # 1 T: teacher-force the decoded output to replay its attention
    with torch.no_grad():
        model(x, torch.tensor([len(src_ids)]), tgt_in)
    weights = model.last_attention[0]  # T S
    rows = [tgt.decode([i]) for i in out] + [tgt.decode([EOS], strip_special=False)]
    return plot_alignment(weights, [src.decode([i]) for i in src_ids], rows, path, title=title)


def _eval_split(model: nn.Module, doc: dict[str, Any], src: CharVocab, tgt: CharVocab, split: str,
                options: dict[str, Any]) -> None:
    from ..data.text import load_translation
    from ..train.tasks_seq import decode_exact_match

    task = load_translation(doc["data"]["name"])
    splits = {"val": task.val, "test": task.test, **task.extra}
    if split not in splits:
        raise ValueError(f"--eval {split}: expected one of {', '.join(splits)}")
    src = CharVocab(src.chars, unknown="replace")  # held-out formats may bring characters unseen in training
    with torch.no_grad():
        exact = decode_exact_match(model, splits[split], src, tgt, **options)
    print(f"{split} exact match ({'greedy' if options['num_beams'] == 1 else 'beam ' + str(options['num_beams'])}, "
          f"{len(splits[split])} pairs): {exact:.4f}", file=sys.stdout)
