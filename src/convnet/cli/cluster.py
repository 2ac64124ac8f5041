"""convnet cluster RUN_DIR (--data NAME [--data-dir DIR] [--split S] | IMAGE_OR_FOLDER...) --k K --out OUT_DIR

k-means on the run's embeddings; OUT_DIR's files are described in convnet/search/cluster.py."""

from __future__ import annotations

import argparse

from convnet.cli.embed import add_source_arguments
from convnet.cli.options import whole_number

HELP = "group images by similarity: k-means on a run's embeddings, montages, purity/NMI, a 2-D map"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_source_arguments(p, "test")
    p.add_argument("--k", type=whole_number, required=True, metavar="K", help="number of clusters")
    p.add_argument("--seed", type=whole_number, default=0, help="k-means++ seed (default 0)")
    p.add_argument("--map", choices=("pca", "tsne"), default="pca",
                   help="the 2-D map: pca (default) or tsne (needs scikit-learn)")
    p.add_argument("--json", action="store_true", help="print clusters.json's figures as JSON")
    p.add_argument("--out", required=True, metavar="OUT_DIR", help="a folder for the montages, map and clusters.json")


def run(args) -> int:
    import json
    from pathlib import Path

    import numpy as np

    from convnet.cli.embed import embeddings_from_args
    from convnet.errors import DataError
    from convnet.fileio import atomic_write_json
    from convnet.search import cluster as C
    from convnet.search.embed import load_split

    if args.k < 1:
        raise DataError(f"--k {args.k} must be at least 1")
    emb, embedder = embeddings_from_args(args)
    if args.k > len(emb):
        raise DataError(f"--k {args.k}: there are {len(emb)} items to cluster")
    assign, centres, inertia = C.kmeans(emb.vectors, args.k, args.seed)
    labelled = bool(emb.classes) and (emb.labels >= 0).all()
    result = {"k": args.k, "n": len(emb), "inertia": round(inertia, 6),
              "sizes": np.bincount(assign, minlength=args.k).tolist()}
    if labelled:
        result.update(purity=C.purity(emb.labels, assign), nmi=C.nmi(emb.labels, assign))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if emb.paths and emb.paths[0]:
        names = emb.paths
        image_of = lambda r: embedder.classifier.to_uint8(emb.paths[r]).numpy()        # noqa: E731
    else:
        part, _, _ = load_split(embedder, args.data, args.data_dir, args.split)
        names = [f"{args.split}[{i}]" for i in emb.indices.tolist()]
        image_of = lambda r: part.images[int(emb.indices[r])].numpy()                  # noqa: E731
    members = []
    for c in range(args.k):
        rows = np.flatnonzero(assign == c)
        order = rows[np.argsort(-(emb.vectors[rows] @ centres[c]), kind="stable")]   # nearest the centre first
        members.append([names[r] for r in order.tolist()])
        if len(order):
            C.draw_montage(out / f"cluster-{c:02d}.png", np.stack([image_of(r) for r in order[:64]]),
                           f"cluster {c}: {len(order)} images")
    xy = C.pca_2d(emb.vectors) if args.map == "pca" else C.tsne_2d(emb.vectors, args.seed)
    colour, legend = (emb.labels, emb.classes) if labelled else (assign, [f"cluster {c}" for c in range(args.k)])
    C.draw_map(out / "map.png", xy, colour, legend, f"{args.map.upper()} of {len(emb):,} embeddings")
    atomic_write_json(out / "clusters.json", {**result, "members": members})
    if args.json:
        print(json.dumps(result))
    else:
        extra = f", purity {result['purity']:.4f}, NMI {result['nmi']:.4f}" if labelled else ""
        print(f"{len(emb):,} images in {args.k} clusters (sizes {result['sizes']}){extra} -> {out}")
    return 0
