"""convnet summary: a model layer by layer: output shape, parameters, multiply-adds, receptive field."""

from __future__ import annotations

import argparse

from convnet.cli.options import positive_int

HELP = "show a model layer by layer: output shape, parameters, multiply-adds, receptive field"


def input_shape(text: str) -> tuple[int, int, int]:
    """'3x224x224' -> (3, 224, 224); also 'HxW' (one channel) and a single side."""
    parts = text.lower().replace("*", "x").split("x")
    try:
        dims = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not CxHxW, e.g. 3x224x224") from None
    if len(dims) not in (1, 2, 3) or min(dims) < 1 or max(dims) > 4096:
        raise argparse.ArgumentTypeError(f"{text!r} is not CxHxW with sides from 1 to 4096")
    return {1: (1, dims[0], dims[0]), 2: (1, *dims), 3: tuple(dims)}[len(dims)]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="registered name (see `convnet models`) or architecture notation")
    p.add_argument("--input", type=input_shape, metavar="CxHxW",
                   help="input shape (default: the model's own, e.g. 3x224x224)")
    p.add_argument("--classes", type=positive_int, help="number of classes (default: the model's)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args) -> int:
    import json

    from convnet.models import get_spec
    from convnet.models.summary import format_table, summarize_spec

    s = summarize_spec(get_spec(args.model), args.input, args.classes)
    print(json.dumps(s.to_dict(), indent=1) if args.json else format_table(s))
    return 0
