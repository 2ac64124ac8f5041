"""Zoo benchmark: Fashion-MNIST test accuracy and CPU training time of LeNet-5, CIFAR-style
ResNets, All-CNN-C and CapsNet, each trained as `convnet train --model NAME` would train it:
the project's defaults (SGD + Nesterov, one-cycle lr 0.05, batch 256, weight decay 5e-4, label
smoothing 0.1, 2-pixel random shifts and flips, each model's own input size) under the model's
registered training defaults (CapsNet: Adam lr 1e-3, batch 64), for the number of epochs given.

    python benchmarks/zoo_fashion_mnist.py --data-dir ../shared/datasets/fashion-mnist \
        --models resnet9_w16:16 lenet5:8 [--train-images 10000] [--json out.json]

--train-images N trains on the first N training images only (the test set is always the full
10,000); the results table says so. Prints a Markdown table; each finished model is also
appended to --json as it completes, so a stopped run keeps what it measured."""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def subset(data_dir: Path, n: int, out: Path) -> Path:
    """The first n training images (and all test images) as a new IDX folder."""
    from convnet.data.idx import write_idx_subset

    return write_idx_subset(data_dir, out, n, None)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared/datasets/fashion-mnist"))
    p.add_argument("--models", nargs="+", default=["lenet5:8", "resnet20:2", "allcnn_c:1", "capsnet:1"],
                   help="NAME:EPOCHS")
    p.add_argument("--train-images", type=int, help="train on the first N images only")
    p.add_argument("--json", help="append one JSON line per finished model here")
    args = p.parse_args()

    import torch

    from convnet.training.config import config_for_model
    from convnet.training.loop import train

    tmp = Path(tempfile.mkdtemp(prefix="zoo-bench-"))
    data_dir = Path(args.data_dir)
    if args.train_images:
        data_dir = subset(data_dir, args.train_images, tmp / "data")
    rows = []
    for item in args.models:
        name, _, epochs = item.partition(":")
        cfg = config_for_model(model=name, data=args.data, data_dir=str(data_dir), epochs=int(epochs or 8),
                               out=str(tmp / name), progress=True)
        t0 = time.perf_counter()
        result = train(cfg, log=lambda line: print(line, file=sys.stderr, flush=True))
        row = {"model": name, "epochs": cfg.epochs, "train_images": args.train_images or "all",
               "test_accuracy": result.test["accuracy"],
               "flip_tta_accuracy": result.test.get("flip_tta_accuracy"),
               "train_seconds": round(result.seconds, 1),
               "images_per_second": round(sum(h["images_per_second"] for h in result.history)
                                          / len(result.history)),
               "wall_seconds": round(time.perf_counter() - t0, 1),
               "params": json.loads((result.run_dir / "config.json").read_text())["params"],
               "threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
               "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        rows.append(row)
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(row) + "\n")
    print("| model | params | epochs | train images | test accuracy | with mirror TTA | training time | images/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        tta = f"{r['flip_tta_accuracy']:.2%}" if r["flip_tta_accuracy"] is not None else "-"
        print(f"| {r['model']} | {r['params']:,} | {r['epochs']} | {r['train_images']} | "
              f"{r['test_accuracy']:.2%} | {tta} | {r['train_seconds']:.0f} s | {r['images_per_second']:,} |")


if __name__ == "__main__":
    main()
