"""`option(...)`: a dataclass field that carries what its command-line flag needs (help, how
to parse the value, choices), so an option is declared once, on the field. cli/fields.py turns
such fields into argparse flags; TrainConfig (training/config.py) and serve's ServeOptions
(cli/serve.py) are declared this way."""

from __future__ import annotations

import dataclasses


def option(default, help: str, *, kind=None, choices=None, metavar: str | None = None,
           flag: bool = True, negate: str | None = None, append: bool = False):
    """kind: how the command line parses the value: a name (positive_int, non_negative_int,
    positive_float, non_negative_float, fraction, int, str) or an argparse type function.
    flag=False: set from a config file or the Python API only. append: a repeatable flag
    collecting a list."""
    meta = {"help": help, "kind": kind, "choices": choices, "metavar": metavar, "flag": flag,
            "negate": negate, "append": append}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)
