"""Argument types shared by the verbs: each rejects a bad value with a message naming it."""

from __future__ import annotations

import argparse


def _int_at_least(minimum: int, words: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} {words}")
        return value

    return parse


positive_int = _int_at_least(1, "must be at least 1")
non_negative_int = _int_at_least(0, "must not be negative")


def whole_number(text: str) -> int:
    """Any whole number that fits in 64 bits (seeds)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not -2**63 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"{value} is too large (at most {2**63 - 1})")
    return value


def positive_float(text: str) -> float:
    value = _float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{value} must be greater than 0")
    return value


def fraction(text: str) -> float:
    """A number in [0, 1)."""
    value = _float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be in [0, 1)")
    return value


def non_negative_float(text: str) -> float:
    value = _float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{value} must not be negative")
    return value


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def add_data_arguments(p: argparse.ArgumentParser, default: str | None = "digits") -> None:
    """--data/--data-dir, shared by train, eval and the verbs that take a data set."""
    p.add_argument("--data", default=default, metavar="NAME|DIR",
                   help="digits (embedded, offline), mnist, fashion-mnist, or an image folder "
                        "(one sub-folder per class)" + (f"; default {default}" if default else ""))
    p.add_argument("--data-dir", metavar="DIR",
                   help="folder with the IDX files for mnist/fashion-mnist; without it they are "
                        "downloaded into $CONVNET_DATA or the user cache")


def device_name(text: str) -> str:
    """auto, cpu, cuda, cuda:N or mps (whether it is there is checked when it is used)."""
    if text in ("auto", "cpu", "cuda", "mps") or text.startswith("cuda:") and text[5:].isdigit():
        return text
    raise argparse.ArgumentTypeError(f"unknown device {text!r} (choose auto, cpu, cuda, cuda:N or mps)")
