"""convnet index RUN_DIR (--data ... [--split train] | FOLDER...) --out INDEX_DIR

An exact cosine-similarity index of the gallery's embeddings (format: convnet/search/index.py)."""

from __future__ import annotations

import argparse

from convnet.cli.embed import add_source_arguments

HELP = "build a similarity index of a gallery (a data set split or image folders) for `convnet search`"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_source_arguments(p, "train")
    p.add_argument("--out", required=True, metavar="INDEX_DIR", help="a new folder for the index")


def run(args) -> int:
    from pathlib import Path

    from convnet.cli.embed import embeddings_from_args
    from convnet.errors import DataError
    from convnet.search.index import Index

    out = Path(args.out)
    if (out / "index.json").exists() or out.exists() and not out.is_dir():
        raise DataError(f"{out} already holds an index or is a file; give a new folder")
    emb, _ = embeddings_from_args(args)
    if len(emb) < 2:
        raise DataError(f"the gallery has {len(emb)} image{'s' if len(emb) != 1 else ''}; "
                        "a search needs at least 2")
    index = Index.build(emb)
    index.save(out)
    print(f"indexed {len(emb):,} images ({emb.vectors.shape[1]} features, exact cosine) -> {out}")
    return 0
