"""`archzoo summary MODEL` and `archzoo compare MODEL...`: seed 003's design table from the shell.

`summary` prints (or writes) one model's per-layer table in any renderer; `compare` puts models
side by side with their published accuracy and can draw seed 003's accuracy-versus-compute scatter.
Bad input (unknown model, an input the model cannot take, an unknown option) raises ValueError or
KeyError, which the dispatcher prints as one line with exit status 2. `--out` is written to a
temporary file and renamed, so a failed run never leaves a half-written report.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path

import torch

from ._analyze import analyze, parse_input_size
from ._compare import compare_markdown, compare_rows, compare_table, scatter_plot

FORMATS = ("table", "csv", "json", "md", "html")
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
          "float64": torch.float64}


def write_atomic(path: str, data: bytes) -> None:
    target = Path(path)
    if not target.parent.exists():
        raise FileNotFoundError(f"no such directory for --out: {target.parent}")
    fd, tmp = tempfile.mkstemp(prefix=".archzoo-tmp-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _emit(text: str, out: str | None) -> None:
    if out:
        write_atomic(out, text.encode())
        print(f"wrote {out}", file=sys.stderr)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input", type=parse_input_size, default=None, metavar="CxHxW",
                   help="input size without the batch, e.g. 3x224x224 or 128 (default: the card's)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    p.add_argument("--convention", choices=("default", "lecture"), default="default",
                   help="lecture: a bias is one more MAC per output, as seed 003's AlexNet table")
    p.add_argument("--optimizer", default="adam", help="for the training-memory estimate")
    p.add_argument("--out", default=None, help="write to this file instead of stdout")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("summary", help="per-layer design table of a model (seed 003)",
                       description="Per-layer shapes, params, MACs, memory and receptive field.")
    p.add_argument("model")
    _common(p)
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument("--depth", type=int, default=None, help="fold layers deeper than N")
    p.set_defaults(func=_summary)

    c = sub.add_parser("compare", help="models side by side: params, MACs, memory, RF, accuracy",
                       description="Compare models; --plot draws accuracy against MACs.")
    c.add_argument("models", nargs="+")
    _common(c)
    c.add_argument("--format", choices=("table", "csv", "json", "md"), default="table")
    c.add_argument("--plot", default=None, metavar="PNG",
                   help="scatter of accuracy against MACs, marker area ~ params")
    c.set_defaults(func=_compare)


def _analyze(name: str, args: argparse.Namespace, **extra):
    return analyze(name, input_size=args.input, batch=args.batch, dtype=DTYPES[args.dtype],
                   convention=args.convention, optimizer=args.optimizer, **extra)


def _summary(args: argparse.Namespace) -> int:
    if args.depth is not None and args.depth < 0:
        raise ValueError(f"--depth must be 0 or more; got {args.depth}")
    report = _analyze(args.model, args)
    text = {"table": lambda: report.to_table(depth=args.depth),
            "csv": lambda: report.to_csv(depth=args.depth),
            "json": report.to_json,
            "md": lambda: report.to_markdown(depth=args.depth),
            "html": lambda: report.to_html(depth=args.depth)}[args.format]()
    _emit(text, args.out)
    return 0


def _compare(args: argparse.Namespace) -> int:
    rows = compare_rows([_analyze(name, args) for name in args.models])
    if args.format == "table":
        text = compare_table(rows)
    elif args.format == "json":
        text = json.dumps(rows, indent=1)
    elif args.format == "md":
        text = compare_markdown(rows)
    else:
        keys = list(rows[0])
        text = "\n".join([",".join(keys), *[",".join("" if r[k] is None else str(r[k]) for k in keys)
                                            for r in rows]]) + "\n"
    _emit(text, args.out)
    if args.plot:
        write_atomic(args.plot, scatter_plot(rows))
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0
