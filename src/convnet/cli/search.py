"""convnet search INDEX_DIR IMAGE... [--top K] [--json] [--sheet OUT.png]
   convnet search INDEX_DIR --eval (--data NAME [--data-dir DIR] [--split test] | FOLDER) [--json]

Queries are embedded by the index's run (or --run, which must have the same weights)."""

from __future__ import annotations

import argparse

from convnet.cli.options import whole_number

HELP = "find the gallery images most similar to query images, or score retrieval (--eval)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("index", metavar="INDEX_DIR", help="made by `convnet index`")
    p.add_argument("inputs", nargs="*", metavar="IMAGE", help="query images (with --eval: labelled folders)")
    p.add_argument("--top", type=whole_number, default=5, metavar="K", help="neighbours a query (default 5)")
    p.add_argument("--run", metavar="RUN_DIR", help="embed queries with this run (default: the index's own)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--sheet", metavar="OUT.png", help="draw a contact sheet: each query, then its neighbours")
    p.add_argument("--eval", action="store_true",
                   help="precision@1, precision@10, mAP@10 of labelled queries, beside raw-pixel neighbours")
    p.add_argument("--data", metavar="NAME|DIR", help="--eval: the queries' data set")
    p.add_argument("--data-dir", metavar="DIR", help="folder with the IDX files of --data")
    p.add_argument("--split", choices=("train", "val", "test"), default="test", help="--eval: split (default test)")
    p.add_argument("--no-pixels", dest="pixels", action="store_false", help="--eval: skip the raw-pixel baseline")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N, mps or auto")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def run(args) -> int:
    import json

    from convnet.errors import ConfigError, DataError
    from convnet.search.embed import Embedder, load_files
    from convnet.search.index import Index

    index = Index.load(args.index)
    run_dir = args.run or index.info.get("run")
    if not run_dir:
        raise DataError(f"{args.index}: the index names no run; give --run RUN_DIR")
    from pathlib import Path

    if not Path(run_dir).is_dir():
        raise DataError(f"{run_dir}: the index's run is gone; give --run RUN_DIR (with the same weights)")
    embedder = Embedder(run_dir, device=args.device, mirror=bool(index.info.get("mirror", False)))
    index.check_run(embedder.weights_sha256, str(run_dir))
    if args.eval:
        from convnet.search.evaluate import evaluate

        if not args.data and not args.inputs:
            raise ConfigError("--eval needs --data NAME or a labelled FOLDER of queries")
        result = evaluate(index, embedder, args.data, args.data_dir, args.split, args.inputs or None,
                          args.progress, args.pixels)
        if args.json:
            print(json.dumps(result))
        else:
            line = (f"{result['n']:,} queries against {result['gallery']:,}: precision@1 {result['precision_at_1']:.4f}, "
                    f"precision@10 {result['precision_at_10']:.4f}, mAP@10 {result['map_at_10']:.4f} "
                    f"({result['seconds']:.2f} s)")
            if "pixel_precision_at_1" in result:
                line += (f"; raw pixels: {result['pixel_precision_at_1']:.4f}, {result['pixel_precision_at_10']:.4f}, "
                         f"{result['pixel_map_at_10']:.4f}")
            print(line)
        return 0
    if not args.inputs:
        raise ConfigError("give query IMAGEs (or --eval)")
    if args.top < 1:
        raise ConfigError(f"--top {args.top} must be at least 1")
    if args.top > len(index.gallery):
        raise DataError(f"--top {args.top}: the gallery has {len(index.gallery)} items")
    images, paths, _ = load_files(embedder, args.inputs, strict=True)
    scores, rows = index.search(embedder.embed_tensor(images, progress=False), args.top)
    results = []
    for path, ss, rs in zip(paths, scores.tolist(), rows.tolist()):
        labels = index.label_names(rs)
        results.append({"query": path, "neighbours": [
            {"item": index.item_name(r), "index": int(r), "similarity": round(s, 6), "label": lab}
            for s, r, lab in zip(ss, rs, labels)]})
    if args.sheet:
        from convnet.search.sheet import draw_sheet

        gallery = gallery_images_for(index, embedder, sorted({r for rs in rows.tolist() for r in rs}))
        draw_sheet(args.sheet, [(im.numpy(), "query") for im in images],
                   [[(gallery[r], f"{s:.3f}" + (f" {lab}" if lab else "")) for s, r, lab in
                     zip(ss, rs, index.label_names(rs))] for ss, rs in zip(scores.tolist(), rows.tolist())])
    if args.json:
        print(json.dumps(results))
    else:
        for res in results:
            print(res["query"])
            for i, n in enumerate(res["neighbours"], 1):
                print(f"  {i}. {n['similarity']:.4f}  {n['item']}" + (f"  ({n['label']})" if n["label"] else ""))
        if args.sheet:
            print(f"contact sheet -> {args.sheet}")
    return 0


def gallery_images_for(index, embedder, rows: list[int]) -> dict:
    """gallery row -> uint8 [C, H, W] for the rows a sheet shows (files are read one by one)."""
    if (index.info.get("source") or {}).get("kind") == "dataset":
        from convnet.search.evaluate import gallery_images

        images = gallery_images(index, embedder)
        return {r: images[r].numpy() for r in rows}
    return {r: embedder.classifier.to_uint8(index.gallery.paths[r]).numpy() for r in rows}
