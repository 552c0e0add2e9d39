"""The model registry and model cards.

Every model is registered by name with a `ModelCard` that states its paper and reference figures;
`create_model` builds it, `list_models` globs the names, `model_card` returns the card. The test
suite checks each real model against its card.
"""
from __future__ import annotations

import dataclasses
import difflib
import fnmatch
from dataclasses import dataclass, field
from typing import Any, Callable

import torch.nn as nn


@dataclass(frozen=True)
class Paper:
    title: str
    year: int
    arxiv: str | None = None  # arXiv id, or None for papers without one
    authors: str = ""


@dataclass(frozen=True)
class ModelCard:
    name: str
    family: str
    task: str  # "classification", "language-modelling", "seq2seq", "generation", ...
    paper: Paper
    input_size: tuple[int, ...]  # the default input (C, H, W) for images, (T,) for sequences
    num_classes: int | None
    params: int | None  # reference parameter count at `num_classes`
    macs: int | None = None  # reference MACs at `input_size` (convention in `macs_convention`)
    source: str = ""  # where `params` / `macs` come from
    macs_convention: str = "matmul-class ops only (torch.utils.flop_counter), no bias"
    min_input_size: int | None = None  # smallest square side the model takes, if limited
    small_input_size: tuple[int, ...] | None = None  # a small input it takes, for fast tests
    notes: tuple[str, ...] = ()  # where archzoo departs from the paper or the reference
    accuracy: dict[str, float] = field(default_factory=dict)  # published top-1 by dataset

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class _Entry:
    card: ModelCard
    builder: Callable[..., nn.Module]
    config: Any = None  # the family's frozen dataclass config, for registry-built variants


_REGISTRY: dict[str, _Entry] = {}


class UnknownModelError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its argument; show the message as written
        return str(self.args[0])


def register_model(card: ModelCard, builder: Callable[..., nn.Module], config: Any = None) -> None:
    """Register `builder(**overrides) -> nn.Module` under `card.name`. A duplicate name raises."""
    if card.name in _REGISTRY:
        raise ValueError(f"model {card.name!r} is already registered")
    _REGISTRY[card.name] = _Entry(card, builder, config)


def _entry(name: str) -> _Entry:
    _load_families()
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY, n=5, cutoff=0.5)
        hint = f"; closest: {', '.join(close)}" if close else "; see `archzoo list`"
        raise UnknownModelError(f"unknown model {name!r}{hint}") from None


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build a registered model; `overrides` set config fields (num_classes, in_chans, ...).

    `head="gap" | "vectorize" | "vote" | "spatial"` swaps a classifier's head for one of seed 003's
    head designs (see `blocks.heads.make_head`), so run directories record and rebuild it.
    """
    entry = _entry(name)
    head = overrides.pop("head", None)
    model = entry.builder(**overrides)
    if head is not None:
        from ._base import with_head

        model = with_head(model, head)
    model.card = entry.card  # type: ignore[attr-defined]
    model.model_name = name  # type: ignore[attr-defined]
    return model


def model_card(name: str) -> ModelCard:
    return _entry(name).card


def model_config(name: str) -> Any:
    """The default config dataclass of a registered variant (None for hand-registered builders)."""
    return _entry(name).config


def create_model_for_data(
    name: str, *, in_chans: int, num_classes: int, image_size: tuple[int, int], **overrides: Any
) -> nn.Module:
    """Build `name` for a dataset: its channels and classes, and its image size for models whose
    config has an `img_size` field (those whose head flattens a fixed-size map)."""
    cfg = model_config(name)
    fields = {f.name for f in dataclasses.fields(cfg)} if cfg is not None else set()
    if "img_size" in fields and "img_size" not in overrides:
        overrides["img_size"] = image_size[0]
    return create_model(name, in_chans=in_chans, num_classes=num_classes, **overrides)


def list_models(pattern: str = "*") -> list[str]:
    _load_families()
    return sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern))


def register_variants(
    family: str,
    variants: dict[str, Any],
    build: Callable[..., nn.Module],
    card: Callable[[str, Any], ModelCard],
) -> None:
    """Register one builder per row of a family's variants table.

    `variants` maps names to frozen dataclass configs; `build(cfg)` makes the model and
    `card(name, cfg)` its card. Overrides replace config fields, so an unknown field fails loudly.
    """
    for name, cfg in variants.items():
        def builder(_cfg=cfg, **overrides: Any) -> nn.Module:
            fields = {f.name for f in dataclasses.fields(_cfg)}
            unknown = sorted(set(overrides) - fields)
            if unknown:
                raise TypeError(
                    f"unknown option(s) {', '.join(unknown)} for {family}; "
                    f"expected one of: {', '.join(sorted(fields))}"
                )
            return build(dataclasses.replace(_cfg, **overrides))

        register_model(card(name, cfg), builder, cfg)


_loaded = False


def _load_families() -> None:
    """Import every family module once, which registers its variants."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    import importlib
    import pkgutil

    import archzoo.models as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"archzoo.models.{info.name}")
