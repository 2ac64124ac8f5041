"""convnet check DATA: a data set's counts, sizes and problems, before training on it.

Exit status: 0 when the check ran, whatever it found (problems are printed as warnings and
errors); 1 with --strict when it found any problem; 2 when the data cannot be read at all (no
such folder, no class sub-folders with images, a broken IDX file), with a one-line error."""

from __future__ import annotations

import argparse

from convnet.cli.options import non_negative_float, non_negative_int, positive_float, positive_int

HELP = "report a data set before training: counts, sizes, corrupt files, duplicates, leaks, imbalance"


def hash_bits(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value <= 32:
        raise argparse.ArgumentTypeError(f"{value} must be from 0 to 32 (of 64 bits; 32 matches unrelated images)")
    return value


def ratio(text: str) -> float:
    value = positive_float(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1 (largest class / smallest)")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", nargs="?", metavar="DATA",
                   help="what train's --data takes: an image folder (class sub-folders, or train/ val/ "
                        "test/ with them), an IDX folder, or digits, mnist, fashion-mnist")
    p.add_argument("--data", dest="data_option", metavar="DATA", help="the same as DATA, as train spells it")
    p.add_argument("--data-dir", metavar="DIR", help="folder with the data set's files (as for train)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object: counts, sizes, modes, problems (kind, severity, message, "
                        "suggestion, files, groups)")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 when any problem is found (default: 0 whatever is found; 2 when the data "
                        "cannot be read at all)")
    p.add_argument("--hash-bits", type=hash_bits, default=10, metavar="BITS",
                   help="near copies: perceptual hashes (pHash) at most BITS of 64 apart (default 10)")
    p.add_argument("--pixel-rms", type=non_negative_float, default=6.0, metavar="LEVELS",
                   help="near copies: gray thumbnails (16x16) at most LEVELS (of 255) apart, RMS (default 6)")
    p.add_argument("--no-near", dest="near", action="store_false", help="look for exact copies only")
    p.add_argument("--max-ratio", type=ratio, default=3.0, metavar="R",
                   help="imbalance: flag a largest/smallest training class ratio of R or more (default 3)")
    p.add_argument("--show", type=non_negative_int, default=5, metavar="N",
                   help="examples listed under each problem (default 5)")
    p.add_argument("--workers", type=positive_int, metavar="N",
                   help="processes reading a folder's files (default: one per core, at most 8)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def run(args) -> int:
    import json
    import os

    from convnet.data.check import check_data, format_report
    from convnet.errors import ConfigError

    if args.data and args.data_option and args.data != args.data_option:
        raise ConfigError(f"two data sets given: {args.data!r} and --data {args.data_option!r}")
    data = args.data or args.data_option
    if not data:
        raise ConfigError("no data set given: `convnet check DATA` (a folder, or digits, mnist, fashion-mnist)")
    workers = args.workers or min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                                  else os.cpu_count() or 1)
    report = check_data(data, args.data_dir, hash_bits=args.hash_bits, pixel_rms=args.pixel_rms,
                        near=args.near, max_ratio=args.max_ratio, progress=args.progress, workers=workers)
    print(json.dumps(report.to_dict()) if args.json else format_report(report, show=args.show))
    return report.exit_code(args.strict)
