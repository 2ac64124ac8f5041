"""Upper bounds on flags whose value sizes an allocation or a thread pool.

A flag like `explain conv --filters 1000000000` or `serve --threads 100000` is a few bytes
of input that would make the process allocate or spawn without bound; each such flag takes
`int_in(low, high)`, whose error names the cap. (No heavy imports: `convnet --help` builds
every parser.)"""

from __future__ import annotations

import argparse

MAX_THREADS = 256          # CPU threads: more than any machine this runs on has cores
MAX_EXPLAIN_SIDE = 512     # explain conv/pool print every window; a real --image is capped the same
MAX_EXPLAIN_DEPTH = 64     # explain conv/pool: input channels and filters
MAX_NETWORK_SIDE = 1024    # explain network runs a real forward pass at this input size
MAX_NETWORK_DEPTH = 64     # explain network: input channels
MAX_CLASSES = 100_000      # outputs of a rebuilt classifier
MAX_DREAM_SIDE = 1024      # show dream: side of each dreamed image
MAX_DREAM_STEPS = 10_000   # show dream: gradient-ascent steps
MAX_MAPS = 1024            # show maps: maps drawn per stage


def int_in(low: int, high: int):
    """An argparse type: a whole number from low to high, the error naming whichever end."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{_clip(text)!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} must be at least {low}")
        if value > high:
            raise argparse.ArgumentTypeError(f"{_clip(str(value))} is more than {high:,} (the cap)")
        return value

    parse.__name__ = "whole number"     # argparse names the type in some messages
    return parse


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
