"""convnet embed RUN_DIR (--data NAME [--data-dir DIR] [--split S] | IMAGE_OR_FOLDER...) --out EMB.npz

Writes the run's L2-normalised penultimate features (format: convnet/search/embed.py)."""

from __future__ import annotations

import argparse
import sys

from convnet.cli.options import whole_number

HELP = "embed images with a trained run: its penultimate features, L2-normalised, into an .npz"

SPLITS = ("train", "val", "test")


def add_source_arguments(p: argparse.ArgumentParser, split_default: str) -> None:
    """RUN_DIR, then images/folders or a data set split: shared by embed, index and cluster."""
    p.add_argument("run_dir", metavar="RUN_DIR", help="a trained image run (convnet train --out)")
    p.add_argument("inputs", nargs="*", metavar="IMAGE_OR_FOLDER",
                   help="image files or folders (searched recursively; a sub-folder's name is the label)")
    p.add_argument("--data", metavar="NAME|DIR",
                   help="a data set instead of files: digits, mnist, fashion-mnist or a folder, whole "
                        "(without --data and files: the run's own data set, split as training saw it)")
    p.add_argument("--data-dir", metavar="DIR", help="folder with the IDX files of --data")
    p.add_argument("--split", choices=SPLITS, default=split_default,
                   help=f"which split of the data set (default {split_default})")
    p.add_argument("--batch-size", type=whole_number, default=256, metavar="N", help="images a batch (default 256)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N, mps or auto")
    p.add_argument("--mirror", action="store_true",
                   help="average each image's features with its left-right mirror's (for data whose "
                        "mirror images keep their class, e.g. clothes, not digits)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def embeddings_from_args(args):
    from convnet.errors import ConfigError
    from convnet.search.embed import Embedder, embed

    if args.inputs and args.data:
        raise ConfigError("give image files/folders or --data, not both")
    if getattr(args, "batch_size", 1) < 1:
        raise ConfigError(f"--batch-size {args.batch_size} must be at least 1")
    embedder = Embedder(args.run_dir, device=args.device, mirror=args.mirror)
    warn = lambda line: print(f"convnet {args.verb}: warning: {line}", file=sys.stderr)   # noqa: E731
    emb = embed(args.run_dir, args.inputs or None, args.data, args.data_dir, args.split, args.batch_size,
                args.progress, warn, embedder)
    return emb, embedder


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_source_arguments(p, "test")
    p.add_argument("--out", required=True, metavar="EMB.npz", help="where to write the embeddings")


def run(args) -> int:
    from convnet.errors import DataError

    emb, _ = embeddings_from_args(args)
    if len(emb) == 0:
        raise DataError("no images to embed")
    emb.save(args.out)
    print(f"{len(emb):,} embeddings of {emb.vectors.shape[1]} features -> {args.out}")
    return 0
