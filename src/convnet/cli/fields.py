"""Command-line flags generated from a dataclass's fields (TrainConfig, serve's Limits), so
an option's help, type, choices and default are written once, on the field.

A field declared with `option(default, help, kind=..., choices=...)` becomes `--field-name`;
bool fields become --x/--no-x (or the single `negate` flag); fields with flag=False are left
to config files and the Python API. Defaults are kept off the parser (argparse.SUPPRESS), so
`given(args)` tells a flag typed on the command line from one left out."""

from __future__ import annotations

import argparse
from dataclasses import MISSING, fields

from convnet.cli import options as kinds

KINDS = {"positive_int": kinds.positive_int, "non_negative_int": kinds.non_negative_int,
         "positive_float": kinds.positive_float, "non_negative_float": kinds.non_negative_float,
         "fraction": kinds.fraction, "int": kinds.whole_number, "str": str, None: str}


def add_dataclass_arguments(p: argparse.ArgumentParser, cls, skip: tuple[str, ...] = ()) -> None:
    for f in fields(cls):
        meta = f.metadata
        if not meta or not meta.get("flag", True) or f.name in skip:
            continue
        default = None if f.default is MISSING else f.default
        if f.default_factory is not MISSING:
            default = f.default_factory()
        shown = "" if default is None or default == [] else f" (default: {_show(default)})"
        flag = "--" + f.name.replace("_", "-")
        if "bool" in str(f.type):
            if meta.get("negate"):
                p.add_argument(meta["negate"], dest=f.name, action="store_false", default=argparse.SUPPRESS,
                               help=f"no {meta['help']}")
            else:
                p.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                               help=meta["help"] + shown)
            continue
        kind = meta.get("kind")
        parse = kind if callable(kind) else KINDS[kind]
        if meta.get("append"):
            p.add_argument(flag, type=parse, action="append", default=argparse.SUPPRESS,
                           metavar=meta.get("metavar"), help=meta["help"])
            continue
        p.add_argument(flag, type=parse, choices=meta.get("choices"),
                       default=argparse.SUPPRESS, metavar=meta.get("metavar"), help=meta["help"] + shown)


def given(args: argparse.Namespace, cls) -> dict:
    """The fields of `cls` whose flags were typed on the command line."""
    return {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}


def _show(value) -> str:
    return "on" if value is True else "off" if value is False else str(value)
