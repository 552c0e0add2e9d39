"""Typed configs: one frozen-or-plain dataclass is the single source of a command's options.

DESIGN.md asks for a typed config (dataclass + argparse) instead of config files that are `exec`d:
the dataclass fields become argparse options (so `--help` lists them and an unknown option fails),
the parsed namespace goes back into the dataclass, and the dataclass goes to and from JSON for the
run directory. Field types drive the parsing: `bool` -> `--x/--no-x`, `Optional[T]` -> T or
"none", `Literal[...]` -> choices, `tuple[T, ...]` -> several values, `dict[str, Any]` ->
`key=value` pairs whose values are JSON literals (else strings).

Options default to `argparse.SUPPRESS`, so the namespace holds only what the user typed; that is
how `--resume` can tell an explicit option from a default.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

__all__ = ["add_dataclass_arguments", "from_namespace", "from_dict", "to_dict", "parse_key_values"]


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    """(T, True) for Optional[T] / T | None; (tp, False) otherwise."""
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(get_args(tp)) == 2:
            return args[0], True
    return tp, False


def parse_json_literal(text: str) -> Any:
    """`3` -> 3, `0.5` -> 0.5, `true` -> True, `[1,2]` -> [1, 2], `relu` -> "relu"."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_key_values(items: list[str] | None) -> dict[str, Any]:
    """Turn `["depth=20", "act=relu"]` into `{"depth": 20, "act": "relu"}`."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"expected key=value, got {item!r}")
        out[key.replace("-", "_")] = parse_json_literal(value)
    return out


def _scalar_parser(tp: Any, *, optional: bool) -> Any:
    base = {int: int, float: float, str: str}.get(tp)
    if base is None:
        raise TypeError(f"unsupported config field type {tp!r}")
    if not optional:
        return base

    def parse(text: str) -> Any:
        return None if text.lower() == "none" else base(text)

    parse.__name__ = base.__name__  # argparse names the type in its error messages
    return parse


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls: type, *,
                            exclude: tuple[str, ...] = ()) -> None:
    """Add one option per field of `cls`; `metadata={"help": ..., "positional": True}` on a field
    sets its help text or makes it a positional argument (which may be left out, so that a
    command like `train --resume DIR` can do without it)."""
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in exclude:
            continue
        tp, optional = _unwrap_optional(hints[f.name])
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        help_text = f.metadata.get("help", "")
        if default not in (None, "", (), {}) and not isinstance(default, bool):
            help_text = f"{help_text} (default: {default})".strip()
        flag = "--" + f.name.replace("_", "-")
        kwargs: dict[str, Any] = {"help": help_text, "default": argparse.SUPPRESS}
        origin = get_origin(tp)
        if tp is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif origin is Literal:
            choices = get_args(tp)
            kwargs.update(choices=choices, type=type(choices[0]))
        elif origin is tuple:
            args = get_args(tp)
            item = args[0]
            kwargs.update(type=_scalar_parser(item, optional=False),
                          nargs="+" if len(args) == 2 and args[1] is Ellipsis else len(args))
        elif origin is dict or tp is dict:
            kwargs.update(nargs="*", metavar="KEY=VALUE", type=str)
        else:
            optional = optional and tp is not str  # a path or a name may well be spelled "none"
            kwargs["type"] = _scalar_parser(tp, optional=optional)
            if optional:
                kwargs["help"] = f"{kwargs['help']} ('none' to unset)".strip()
        if f.metadata.get("positional"):  # optional on the command line; the config's check decides
            kwargs.setdefault("nargs", "?")
            parser.add_argument(f.name, metavar=f.name.upper(), **kwargs)
        else:
            parser.add_argument(flag, dest=f.name, **kwargs)


def from_namespace(cls: type, ns: argparse.Namespace, **base: Any) -> Any:
    """Build `cls` from the fields the user gave in `ns`, on top of `base` and the defaults."""
    hints = _hints(cls)
    values = dict(base)
    for f in dataclasses.fields(cls):
        if not hasattr(ns, f.name):
            continue
        value = getattr(ns, f.name)
        tp, _ = _unwrap_optional(hints[f.name])
        if (get_origin(tp) is dict or tp is dict) and isinstance(value, list):
            value = parse_key_values(value)
        elif get_origin(tp) is tuple and isinstance(value, list):
            value = tuple(value)
        values[f.name] = value
    return cls(**values)


def given_fields(cls: type, ns: argparse.Namespace) -> list[str]:
    """The fields of `cls` the user set explicitly on the command line."""
    return [f.name for f in dataclasses.fields(cls) if hasattr(ns, f.name)]


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready dict (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Inverse of `to_dict`; unknown keys raise so a stale or hand-edited config fails loudly."""
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown config key(s) {', '.join(unknown)} for {cls.__name__}; "
                         f"expected some of: {', '.join(sorted(names))}")
    values = {}
    for key, value in data.items():
        tp, _ = _unwrap_optional(hints[key])
        values[key] = tuple(value) if get_origin(tp) is tuple and isinstance(value, list) else value
    return cls(**values)
