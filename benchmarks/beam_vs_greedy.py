"""Beam search against greedy decoding on a trained translation run: exact match and decode time.

Vaswani et al. 2017 (arXiv:1706.03762, section 6.1) decode with beam size 4 and length penalty 0.6;
this measures what beam width buys on archzoo's generated tasks (`dates`, `number-words`, ...).
Every width decodes the same split with the same weights in one process, batched as `archzoo
translate --eval` does (`archzoo.train.tasks_seq.decode_exact_match`), so the time ratios against
greedy are the stable figures; absolute times depend on the machine and its load. "fixed" and
"broken" count the pairs beam search gets right where greedy fails, and the reverse.

    OMP_NUM_THREADS=1 python benchmarks/beam_vs_greedy.py runs/dates --beams 1 2 4 8 \
        --splits test test_unseen --threads 1 [--checkpoint avg-last5]
"""
from __future__ import annotations

import argparse
import sys
import time

import torch

from archzoo.data.text import load_translation
from archzoo.data.tokenize import CharVocab
from archzoo.generate._cli import load_run
from _machine import machine


def decode(model: torch.nn.Module, pairs: list[tuple[str, str]], src: CharVocab, tgt: CharVocab, *,
           num_beams: int, length_penalty: float, batch_size: int) -> tuple[list[bool], float]:
    """(per-pair exact match, seconds) of decoding every source of `pairs` in batches."""
    hits: list[bool] = []
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(pairs), batch_size):
            chunk = pairs[i: i + batch_size]
            outs = model.generate([src.encode(s) for s, _ in chunk], num_beams=num_beams,
                                  length_penalty=length_penalty)
            hits += [tgt.decode(o) == t for o, (_, t) in zip(outs, chunk)]
    return hits, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", metavar="RUN_DIR", help="a seq2seq run written by `archzoo train`")
    p.add_argument("--checkpoint", default="best", metavar="NAME", help="checkpoint of the run (default: best)")
    p.add_argument("--beams", type=int, nargs="+", default=[1, 2, 4, 8], help="widths; 1 is greedy")
    p.add_argument("--splits", nargs="+", default=None,
                   help="splits to decode (default: test and every extra split of the task)")
    p.add_argument("--length-penalty", type=float, default=1.0, help="beam scores / length**this")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--repeats", type=int, default=1, help="time each decode this often, keep the fastest")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = p.parse_args(argv)
    if min(args.beams) < 1 or args.batch_size < 1 or args.repeats < 1 or args.threads < 1:
        raise ValueError(f"expected --beams, --batch-size, --repeats and --threads >= 1, got "
                         f"{args.beams}, {args.batch_size}, {args.repeats}, {args.threads}")
    torch.set_num_threads(args.threads)

    model, doc, vocabs = load_run(args.run_dir, tag=args.checkpoint, kind="seq2seq")
    task = load_translation(doc["data"]["name"])
    available = {"val": task.val, "test": task.test, **task.extra}
    splits = args.splits or ["test", *task.extra]
    unknown = [s for s in splits if s not in available]
    if unknown:
        raise ValueError(f"--splits: expected some of {', '.join(available)}, got {', '.join(unknown)}")
    # held-out formats may bring characters the training split never had: <unk>, as translate --eval
    src = CharVocab(vocabs["src_vocab"].chars, unknown="replace")
    tgt = vocabs["tgt_vocab"]
    widths = sorted(set(args.beams) | {1})  # greedy is the reference of every ratio

    print(f"{doc['model']['name']} ({args.run_dir}, checkpoint {args.checkpoint}) on {doc['data']['name']}; "
          f"batch {args.batch_size}, length penalty {args.length_penalty}, best of {args.repeats}")
    print(f"machine: {machine()}")
    header = (f"{'split':<12} {'pairs':>5}  {'decoder':<7}  {'exact':>6}  {'time s':>7}  {'pairs/s':>7}  "
              f"{'x greedy':>8}  {'fixed':>5}  {'broken':>6}")
    print(header)
    print("-" * len(header))
    for split in splits:
        pairs = available[split]
        greedy_hits, greedy_s = None, None
        for k in widths:
            runs = [decode(model, pairs, src, tgt, num_beams=k, length_penalty=args.length_penalty,
                           batch_size=args.batch_size) for _ in range(args.repeats)]
            hits, seconds = runs[0][0], min(s for _, s in runs)
            if k == 1:
                greedy_hits, greedy_s = hits, seconds
            fixed = sum(h and not g for h, g in zip(hits, greedy_hits))
            broken = sum(g and not h for h, g in zip(hits, greedy_hits))
            name = "greedy" if k == 1 else f"beam {k}"
            print(f"{split:<12} {len(pairs):>5}  {name:<7}  {sum(hits) / len(pairs):>6.4f}  {seconds:>7.2f}  "
                  f"{len(pairs) / seconds:>7.0f}  {seconds / greedy_s:>8.2f}  {fixed:>5}  {broken:>6}", flush=True)
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except ValueError as e:  # a bad option or run directory: one line, exit 2, as the CLI does
        print(f"beam_vs_greedy: error: {str(e).splitlines()[0]}", file=sys.stderr)
        raise SystemExit(2)
