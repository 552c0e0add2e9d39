"""`archzoo similar RUN_DIR WORD` and `archzoo analogy RUN_DIR A B C` over a word2vec run."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("similar", help="nearest words to WORD in a trained word2vec run",
                       description="The k words whose input vectors have the highest cosine with WORD's.")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("word", metavar="WORD")
    p.add_argument("-k", type=int, default=10, help="how many words (default: 10)")
    p.add_argument("--tag", default="best", choices=("best", "last"), help="checkpoint of the run")
    p.set_defaults(func=_similar)

    p = sub.add_parser("analogy", help="A is to B as C is to ? in a trained word2vec run",
                       description="The words nearest B - A + C by cosine, A, B and C excluded.")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("a", metavar="A")
    p.add_argument("b", metavar="B")
    p.add_argument("c", metavar="C")
    p.add_argument("-k", type=int, default=5, help="how many answers (default: 5)")
    p.add_argument("--tag", default="best", choices=("best", "last"), help="checkpoint of the run")
    p.set_defaults(func=_analogy)


def _show(ranked: list[tuple[str, float]]) -> None:
    for word, score in ranked:
        print(f"{word}\t{score:.4f}")


def _similar(args: argparse.Namespace) -> int:
    from . import load_embeddings

    if args.k < 1:
        raise ValueError(f"-k: expected >= 1, got {args.k}")
    _show(load_embeddings(args.run_dir, tag=args.tag).similar(args.word, args.k))
    return 0


def _analogy(args: argparse.Namespace) -> int:
    from . import load_embeddings

    if args.k < 1:
        raise ValueError(f"-k: expected >= 1, got {args.k}")
    _show(load_embeddings(args.run_dir, tag=args.tag).analogy(args.a, args.b, args.c, args.k))
    return 0
