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
    p.add_argument("--csv", metavar="FILE.csv", help="also write one row per input: input, then class and "
                                                     "probability for each of the top classes")


MAX_INPUTS = 100_000


def run(args) -> int:
    from pathlib import Path

    if str(args.run_dir).endswith(".onnx") and Path(args.run_dir).is_file():
        args.runtime = "onnx"          # an exported file speaks for itself
    rows = _other_task(args)
    if rows is None:
        images = image_inputs(args.images)
        from convnet.export import load_classifier

        clf = load_classifier(args.run_dir, args.runtime, device=args.device, weights=args.weights)
        rows = []
        for start in range(0, len(images), 256):             # bounded memory for big folders
            rows += [p.to_dict() for p in clf.predict(images[start:start + 256], top=args.top)]
    if args.csv:
        _write_csv(args.csv, rows)
    if args.json:
        print(json.dumps(rows))
        return 0
    for r in rows:
        name = r.get("image") or r.get("input")
        print(f"{name}: " + "  ".join(f"{t['class']} {t['probability']:.2f}" for t in r["top"]))
    return 0


def image_inputs(items: list[str]) -> list[str]:
    """Files as given; a folder -> the image files under it (sorted); a glob pattern -> its
    matches. Nothing to predict on is a one-line error naming what was given."""
    import glob
    from pathlib import Path

    from convnet.data.images import IMAGE_SUFFIXES
    from convnet.errors import ConfigError, DataError

    if not items:
        raise ConfigError("give at least one image file, folder or glob pattern to predict")
    out = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(str(f) for f in path.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise DataError(f"{item}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in this folder")
            out += found
        elif not path.exists() and any(c in item for c in "*?["):
            found = sorted(glob.glob(item, recursive=True))
            if not found:
                raise DataError(f"{item}: the pattern matches no file")
            out += found
        else:
            out.append(item)
        if len(out) > MAX_INPUTS:
            raise ConfigError(f"more than {MAX_INPUTS:,} images; predict them in parts")
    return out


def _write_csv(path: str, rows: list[dict]) -> None:
    import csv
    import io

    from convnet.fileio import atomic_write_bytes

    top = max((len(r["top"]) for r in rows), default=0)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["input"] + [f"{k}{i + 1}" for i in range(top) for k in ("class", "probability")])
    for r in rows:
        writer.writerow([r.get("image") or r.get("input")]
                        + [v for t in r["top"] for v in (t["class"], round(t["probability"], 6))])
    atomic_write_bytes(path, buf.getvalue().encode())


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
