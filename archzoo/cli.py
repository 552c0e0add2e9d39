"""The `archzoo` command.

Subcommands live beside the code they drive: each module in `COMMAND_MODULES` has a
`register(subparsers)` that adds its parsers with `set_defaults(func=...)`. Errors a user can fix
(bad input, unknown names, missing files) are printed as one line on stderr with exit status 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = [
    "archzoo.models._cli",
    "archzoo.train._cli",
    "archzoo.train.average",
    "archzoo.data._cli",
    "archzoo.analysis._cli",
    "archzoo.viz._cli",
    "archzoo.generate._cli",
    "archzoo.embed._cli",
    "archzoo.viz.caption",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, as for every other bad input
        print(f"archzoo: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="archzoo", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = args.func(args)
    except BrokenPipeError:  # `archzoo list | head`: the reader left, nothing to report
        sys.stderr.close()
        return 0
    except (ValueError, KeyError, LookupError, OSError) as e:
        msg = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
        print(f"archzoo: error: {msg.splitlines()[0] if msg else type(e).__name__}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("archzoo: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    raise SystemExit(main())
