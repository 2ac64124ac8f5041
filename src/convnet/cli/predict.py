"""convnet predict: the top-K classes of each image."""

from __future__ import annotations

import argparse
import json

from convnet.cli.options import positive_int

HELP = "predict the class of images with a trained run"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("images", metavar="IMAGE", nargs="+")
    p.add_argument("--top", type=positive_int, default=3, help="classes to show per image")
    p.add_argument("--device", default="auto")
    p.add_argument("--runtime", choices=["torch", "onnx"], default="torch",
                   help="onnx: run RUN_DIR/model.onnx (or RUN_DIR given as an .onnx file) in onnxruntime")
    p.add_argument("--json", action="store_true", help="print one JSON list")


def run(args) -> int:
    from convnet.export import load_classifier

    clf = load_classifier(args.run_dir, args.runtime, device=args.device)
    predictions = clf.predict(args.images, top=args.top)
    if args.json:
        print(json.dumps([p.to_dict() for p in predictions]))
        return 0
    for p in predictions:
        print(f"{p.source}: " + "  ".join(f"{c} {prob:.2f}" for c, prob in p.top))
    return 0
