"""convnet dedup FOLDER [--run RUN_DIR] [--threshold T] [--json] [--move-to DIR]

Reports exact and near duplicate groups (convnet/search/dedup.py). Nothing is deleted: with
--move-to, every member of a group but its first is moved under DIR at the same relative path
(an existing file there is never replaced)."""

from __future__ import annotations

import argparse
import sys

from convnet.cli.options import non_negative_float

HELP = "find exact and near duplicate images in a folder (perceptual hash; a run's embeddings with --run)"


def similarity(text: str) -> float:
    value = non_negative_float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{value} must be above 0 and at most 1 (cosine similarity)")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    from convnet.cli.check import hash_bits

    p.add_argument("folder", metavar="FOLDER", help="a folder of images (searched recursively)")
    p.add_argument("--run", metavar="RUN_DIR", help="also join images whose embeddings by this run are similar")
    p.add_argument("--threshold", type=similarity, default=0.99, metavar="T",
                   help="with --run: cosine similarity at which two images are near copies (default 0.99)")
    p.add_argument("--hash-bits", type=hash_bits, default=12, metavar="BITS",
                   help="pHash bits (of 64) two views may differ by (default 12)")
    p.add_argument("--pixel-rms", type=non_negative_float, default=12.0, metavar="LEVELS",
                   help="16x16 gray thumbnails at most LEVELS apart, RMS, to confirm a hash match (default 12)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--move-to", metavar="DIR", help="move all but the first of each group here (never deletes)")


def run(args) -> int:
    import json
    from pathlib import Path

    from convnet.errors import DataError
    from convnet.search.dedup import find_duplicates

    warn = lambda line: print(f"convnet dedup: warning: {line}", file=sys.stderr)   # noqa: E731
    found = find_duplicates(args.folder, args.run, args.threshold, args.hash_bits, args.pixel_rms, warn)
    moved = []
    if args.move_to:
        root, dest = Path(args.folder).resolve(), Path(args.move_to).resolve()
        plan = [(found.files[i], dest / found.files[i].resolve().relative_to(root)) for g in found.near for i in g[1:]]
        clash = [str(t) for _, t in plan if t.exists()]
        if clash:
            raise DataError(f"--move-to: {clash[0]} already exists; nothing moved")
        for src, target in plan:
            target.parent.mkdir(parents=True, exist_ok=True)
            src.rename(target) if src.stat().st_dev == target.parent.stat().st_dev else _copy_then_remove(src, target)
            moved.append(str(target))
    if args.json:
        print(json.dumps({**found.to_dict(), "moved": moved}))
        return 0
    print(f"{len(found.files):,} images: {len(found.exact)} groups of exact copies, "
          f"{len(found.near)} groups of near copies")
    for g in found.near:
        print("  " + "  ".join(str(found.files[i]) for i in g))
    if moved:
        print(f"moved {len(moved)} files to {args.move_to}")
    return 0


def _copy_then_remove(src, target) -> None:
    import shutil

    shutil.copy2(src, target)
    src.unlink()
