"""Random and Bayesian search against the default configuration on Fashion-MNIST, in one run.

    python benchmarks/tune_fashion_mnist.py [--train-images 4000] [--trials 12] [--minutes 10]

Same data for all three: the first --train-images training images of ../shared/datasets/
fashion-mnist (20% of them held out, stratified, as the validation split) and the full
10,000-image test set. Each search gets the same budget: --trials trials and --minutes of
wall time (`convnet tune --trials N --timeout S`), median pruning, and SPACE below: the
packaged default space with 2 epochs per trial and at most 64 filters per block and 128
hidden units, so that a 2-core CPU fits a dozen trials in the budget (--space FILE to use
another). The default configuration is `convnet train` with its defaults except epochs, set
to the trials' 2. The test set is evaluated once per contender: for the default run and for
each search's best trial."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SPACE = """\
lr: {low: 0.003, high: 0.3, log: true}
batch_size: [64, 128, 256]
weight_decay: {low: 1.0e-5, high: 1.0e-2, log: true}
epochs: 2
label_smoothing: {low: 0.0, high: 0.2}
optimizer: [sgd, adamw]
blocks: {low: 1, high: 3}
filters: [8, 16, 32, 64]
kernel: [3, 5]
stride: [1, 2]
downsample: [pool, stride]
hidden: [0, 64, 128]
dropout: {low: 0.0, high: 0.5}
"""


def parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train-images", type=int, default=4_000)
    p.add_argument("--trials", type=int, default=12)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--epochs", type=int, default=2, help="of the default configuration (SPACE has 2)")
    p.add_argument("--space", help="search space file (default: SPACE above)")
    p.add_argument("--shared", default=str(ROOT.parent / "shared" / "datasets"))
    p.add_argument("--out", default=str(ROOT / "runs" / f"bench-tune-{time.strftime('%Y%m%d-%H%M%S')}"))
    return p.parse_args()


def subset(shared: Path, out: Path, n_train: int) -> Path:
    from convnet.data.idx import load_idx_pair, write_idx

    folder = out / "fashion-subset"
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", None)):
        images, labels = load_idx_pair(shared / "fashion-mnist", prefix)
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images[:n])
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels[:n])
    return folder


def default_run(data_dir: Path, out: Path, epochs: int) -> dict:
    from convnet.training.config import TrainConfig
    from convnet.training.loop import train

    t0 = time.perf_counter()
    result = train(TrainConfig(data="fashion-mnist", data_dir=str(data_dir), epochs=epochs, val_fraction=0.2,
                               out=str(out / "default"), progress=False), log=lambda *_: None)
    return {"val": result.history[-1]["val_accuracy"], "test": result.test["accuracy"], "trials": 1,
            "minutes": (time.perf_counter() - t0) / 60}


def search(method: str, space: Path, data_dir: Path, out: Path, trials: int, minutes: float) -> dict:
    from convnet.cli.main import main

    t0 = time.perf_counter()
    code = main(["tune", "--method", method, "--space", str(space), "--trials", str(trials),
                 "--timeout", str(minutes * 60),
                 "--data", "fashion-mnist", "--data-dir", str(data_dir), "--out", str(out / method),
                 "--no-progress"])
    if code != 0:
        raise SystemExit(f"convnet tune --method {method} failed with exit code {code}")
    best = json.loads((out / method / "best.json").read_text())
    rows = (out / method / "trials.csv").read_text().splitlines()[1:]
    return {"val": best["val_accuracy"], "test": best["test_accuracy"], "trials": len(rows),
            "pruned": sum(",pruned," in r for r in rows), "minutes": (time.perf_counter() - t0) / 60,
            "params": best["params"]}


def main() -> None:
    args = parse()
    out = Path(args.out)
    data_dir = subset(Path(args.shared), out, args.train_images)
    space = Path(args.space) if args.space else out / "space.yaml"
    if not args.space:
        space.write_text(SPACE)
    results = {"default": default_run(data_dir, out, args.epochs)}
    for method in ("random", "bayes"):
        results[method] = search(method, space, data_dir, out, args.trials, args.minutes)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    print(f"\nFashion-MNIST, {args.train_images:,} train images (80% train / 20% validation), "
          f"10,000 test; budget {args.trials} trials or {args.minutes:g} min per search\n")
    print("| contender | trials run (pruned) | wall min | best val acc | its test acc |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        pruned = f" ({r['pruned']})" if "pruned" in r else ""
        print(f"| {name} | {r['trials']}{pruned} | {r['minutes']:.1f} | {r['val']:.2%} | {r['test']:.2%} |")
    for method in ("random", "bayes"):
        print(f"\n{method} best: {results[method]['params']}")
    print(f"\nstudies, plots and trials.csv in {out}")


if __name__ == "__main__":
    main()
