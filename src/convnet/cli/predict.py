"""convnet predict: the top-K classes of each image."""

from __future__ import annotations

import argparse
import json

from convnet.cli.options import device_name, positive_int

HELP = "predict the class of images with a trained run"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("images", metavar="INPUT", nargs="*",
                   help="image files (or, for runs of other tasks, their inputs: sound files, sentences, node ids)")
    p.add_argument("--text", action="append", default=[], metavar="SENTENCE",
                   help="text runs: a sentence to classify (repeat for more)")
    p.add_argument("--nodes", nargs="+", default=[], metavar="ID", help="graph runs: node ids (default: every node)")
    p.add_argument("--top", type=positive_int, default=3, help="classes to show per image")
    p.add_argument("--device", type=device_name, default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--runtime", choices=["torch", "onnx"], default="torch",
                   help="onnx: run RUN_DIR/model.onnx (or RUN_DIR given as an .onnx file) in onnxruntime")
    p.add_argument("--weights", choices=["auto", "best", "last"], default="auto",
                   help="best: the best validation epoch's; last: the last epoch's (default: best where kept)")
    p.add_argument("--json", action="store_true", help="print one JSON list")


def run(args) -> int:
    rows = _other_task(args)
    if rows is None:
        if not args.images:
            from convnet.errors import ConfigError

            raise ConfigError("give at least one image file to predict")
        from convnet.export import load_classifier

        clf = load_classifier(args.run_dir, args.runtime, device=args.device, weights=args.weights)
        rows = [p.to_dict() for p in clf.predict(args.images, top=args.top)]
    if args.json:
        print(json.dumps(rows))
        return 0
    for r in rows:
        name = r.get("image") or r.get("input")
        print(f"{name}: " + "  ".join(f"{t['class']} {t['probability']:.2f}" for t in r["top"]))
    return 0


def _other_task(args) -> list[dict] | None:
    """Predictions of a run of another task than image classification (its own inputs:
    sound files, sentences, node ids), or None for an image run or an ONNX file."""
    from pathlib import Path

    if args.runtime != "torch" or not Path(args.run_dir, "config.json").is_file():
        return None
    from convnet.tasks import get_task
    from convnet.training.hardware import resolve
    from convnet.training.runs import RunDir

    run = RunDir.open(args.run_dir)
    if run.task == "classify":
        return None
    task = get_task(run.task)
    hw = resolve(args.device, "off", False)
    return task.predict(run.build_model(task, args.weights).to(hw.device), run.config, hw, [*args.images, *args.text, *args.nodes],
                        top=args.top)
