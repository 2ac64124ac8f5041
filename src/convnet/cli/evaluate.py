"""convnet eval: accuracy, loss and per-class accuracy of a trained run."""

from __future__ import annotations

import argparse
import json

from convnet.cli.options import add_data_arguments, positive_int

HELP = "evaluate a trained run on a test set"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR")
    add_data_arguments(p, default=None)
    p.add_argument("--split", choices=["test", "val", "train"], default="test")
    p.add_argument("--batch-size", type=positive_int, default=500)
    p.add_argument("--device", default="auto")
    p.add_argument("--tta", action="store_true",
                   help="average each image's logits with its mirror image's (models trained with flips)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args) -> int:
    from convnet.data.sources import load_dataset
    from convnet.errors import DataError
    from convnet.inference import Classifier
    from convnet.training.evaluate import evaluate

    clf = Classifier.load(args.run_dir, device=args.device)
    source = clf.config.get("data", {})
    if args.data:
        data, data_dir = args.data, args.data_dir
    elif source.get("kind") == "folder":
        data, data_dir = source["path"], None
    else:
        data, data_dir = source.get("name", "digits"), args.data_dir or source.get("path")
    ds = load_dataset(data, data_dir, size=clf.preprocess.size, channels=clf.preprocess.channels,
                      val_fraction=source.get("val_fraction", 0.0) if not args.data else 0.0,
                      seed=source.get("seed", 0), progress=not args.json)
    if len(ds.classes) != len(clf.classes):
        raise DataError(f"data set {ds.name!r} has {len(ds.classes)} classes but the model has "
                        f"{len(clf.classes)}")
    split = ds.split(args.split)
    ev = evaluate(clf.model, split, clf.preprocess, clf.hw, len(clf.classes), args.batch_size,
                  flip_tta=args.tta)
    report = {"run_dir": str(args.run_dir), "data": ds.name, "split": args.split, "flip_tta": args.tta,
              **ev.to_dict(clf.classes)}
    if args.json:
        print(json.dumps(report))
        return 0
    how = ", each averaged with its mirror image" if args.tta else ""
    print(f"{ds.name} {args.split}: accuracy {ev.accuracy:.2%}  loss {ev.loss:.4f}  ({ev.n:,} images{how})")
    width = max(len(c) for c in clf.classes)
    for name, acc in report["per_class_accuracy"].items():
        bar = "#" * round((acc or 0) * 30)
        print(f"  {name:<{width}}  {'-' if acc is None else f'{acc:6.2%}'}  {bar}")
    return 0
