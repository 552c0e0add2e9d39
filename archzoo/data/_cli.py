"""`archzoo data list`: which datasets archzoo knows, which are here, and how to get the rest."""
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
    if name == "fashion-mnist" and DEFAULT_FASHION_DIR.is_dir():
        return f"available ({DEFAULT_FASHION_DIR})"
    return "with --data-dir"


def _list(args: argparse.Namespace) -> int:
    for name, how in KNOWN_DATASETS.items():
        print(f"{name:<14} {_available(name)}\n{'':<14} {how}")
    print("Any path also works: a folder of IDX files, CIFAR batches, an image folder "
          "(one subfolder per class), or a .npz file.")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="datasets: list what is known and available")
    dsub = p.add_subparsers(dest="data_command", required=True, parser_class=type(p))
    q = dsub.add_parser("list", help="known datasets, whether each is here, and how to get it")
    q.set_defaults(func=_list)
