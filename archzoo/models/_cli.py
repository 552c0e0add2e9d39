"""`archzoo list [PATTERN]` and `archzoo info MODEL`: the registry from the command line."""
from __future__ import annotations

import argparse

import torch

from ._registry import create_model, list_models, model_card


def _fmt(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


def models_markdown(names: list[str]) -> str:
    """The model table of docs/models.md, generated from the cards."""
    rows = ["| model | family | paper | input | params | MACs | source |",
            "|---|---|---|---|---:|---:|---|"]
    for name in names:
        c = model_card(name)
        paper = f"{c.paper.title} ({c.paper.year}" + (f", arXiv:{c.paper.arxiv})" if c.paper.arxiv else ")")
        size = "x".join(map(str, c.input_size))
        src = c.source.replace("|", "/")
        rows.append(f"| `{name}` | {c.family} | {paper} | {size} | {_fmt(c.params)} | "
                    f"{_fmt(c.macs)} | {src} |")
    return "\n".join(rows) + "\n"


def _list(args: argparse.Namespace) -> int:
    names = list_models(args.pattern)
    if not names:
        raise ValueError(f"no model matches {args.pattern!r}; see `archzoo list`")
    if args.format == "md":
        print(models_markdown(names), end="")
        return 0
    print(f"{'model':<22} {'family':<10} {'params':>14} {'MACs':>16}  input")
    for name in names:
        c = model_card(name)
        size = "x".join(map(str, c.input_size))
        print(f"{name:<22} {c.family:<10} {_fmt(c.params):>14} {_fmt(c.macs):>16}  {size}")
    return 0


def _outline(module: torch.nn.Module, indent: str = "    ") -> list[str]:
    lines = []
    for name, child in module.named_children():
        n = sum(p.numel() for p in child.parameters())
        lines.append(f"{indent}{name}: {type(child).__name__} ({n:,} params)")
    return lines


def _info(args: argparse.Namespace) -> int:
    card = model_card(args.model)
    p = card.paper
    print(f"{card.name} ({card.family}, {card.task})")
    print(f"  paper: {p.title} ({p.authors + ', ' if p.authors else ''}{p.year}"
          f"{', arXiv:' + p.arxiv if p.arxiv else ''})")
    print(f"  input: {'x'.join(map(str, card.input_size))}   classes: {card.num_classes}")
    print(f"  reference params: {_fmt(card.params)}   MACs: {_fmt(card.macs)} ({card.macs_convention})")
    print(f"  source: {card.source}")
    for k, v in card.accuracy.items():
        print(f"  published {k}: {v}")
    for note in card.notes:
        print(f"  departs: {note}")
    with torch.device("meta"):  # the outline needs shapes only, so nothing is allocated
        model = create_model(args.model)
    for part in ("tail", "body", "head"):
        if hasattr(model, part):
            sub = getattr(model, part)
            n = sum(q.numel() for q in sub.parameters())
            print(f"  {part}: {type(sub).__name__} ({n:,} params)")
            if part == "body":
                print("\n".join(_outline(sub)))
    if hasattr(model, "feature_info"):
        stages = ", ".join(f"{f.module}: {f.channels}ch /{f.reduction}" for f in model.feature_info)
        print(f"  feature_info: {stages}")
    if getattr(model, "fixed_input", None) is None and hasattr(model, "min_input_size"):
        print(f"  minimum input: {model.min_input_size}x{model.min_input_size}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list registered models (glob pattern)")
    p.add_argument("pattern", nargs="?", default="*")
    p.add_argument("--format", choices=["table", "md"], default="table")
    p.set_defaults(func=_list)
    p = sub.add_parser("info", help="a model's card and tail / body / head outline")
    p.add_argument("model")
    p.set_defaults(func=_info)
