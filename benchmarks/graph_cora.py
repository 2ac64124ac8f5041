"""GCN node classification: Cora's public split over 10 seeds, and the karate club.

    .venv/bin/python benchmarks/graph_cora.py [--data-dir ../shared/datasets/planetoid]
        [--data cora] [--seeds 10] [--modes paper,loop] [--json graph.jsonl]

Two ways to train, both with the model's registered defaults (Kipf & Welling's: Adam lr 0.01,
L2 5e-4 on the first layer, dropout 0.5, 16 hidden, 200 full-batch epochs, no early stopping):
- paper: the task's own pieces (batches, loss, evaluate) stepped by torch.optim.Adam over
  `model.param_groups(weight_decay)`, the first layer's weights decayed, the rest free;
- loop:  `convnet.training.loop.train`, what `convnet train --data cora` runs (its optimiser,
  run directory, a checkpoint every epoch, final evaluation).
Per run: test accuracy, training seconds (the epochs' steps; evaluation and checkpoints
excluded) and, for the loop, the whole run's wall time. One thread: full-batch products on
2,708 x 16 matrices gain nothing from a second thread, and on a shared machine lose.
Targets (issue 19): Cora mean >= 81.0%, each run < 10 s of training; karate with one labelled
node per club >= 90% of the other 32 members.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from convnet.models import get_spec  # noqa: E402
from convnet.tasks.graph import GraphNodeClassification  # noqa: E402
from convnet.training.config import TrainConfig  # noqa: E402
from convnet.training.hardware import resolve  # noqa: E402


def config_for(data: str, data_dir: str | None, seed: int, **extra) -> TrainConfig:
    return TrainConfig(**{**get_spec("gcn").training, "model": "gcn", "data": data, "data_dir": data_dir,
                          "seed": seed, "threads": 1, "progress": False, **extra})


def run_paper(data: str, data_dir: str | None, seed: int) -> dict:
    task, hw = GraphNodeClassification(), resolve("cpu", "off", False, 1)
    cfg = config_for(data, data_dir, seed)
    ds = task.load_data(cfg)
    config = {"train": cfg.to_dict(), **task.describe_run(cfg, ds)}
    torch.manual_seed(seed)
    model = task.build_model(config)
    opt = torch.optim.Adam(model.param_groups(cfg.weight_decay), lr=cfg.lr)
    seconds = 0.0
    for epoch in range(cfg.epochs):
        torch.manual_seed(seed * 100_003 + epoch)                 # as the loop seeds each epoch
        t0 = time.perf_counter()
        for batch in task.batches(ds.train, config, cfg, hw, train=True, seed=epoch):
            model.train()
            loss, _ = task.loss(model, batch, cfg)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        seconds += time.perf_counter() - t0
    test = task.evaluate(model, ds.test, config, hw)
    val = task.evaluate(model, ds.val, config, hw).accuracy if ds.val is not None else None
    return {"mode": "paper", "data": data, "seed": seed, "test_accuracy": test.accuracy, "n": test.n,
            "val_accuracy": val, "train_seconds": round(seconds, 3)}


def run_loop(data: str, data_dir: str | None, seed: int) -> dict:
    from convnet.training.loop import train

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = train(config_for(data, data_dir, seed, out=str(Path(tmp) / "run")), log=lambda *_: None)
        wall = time.perf_counter() - t0
        optimizer = json.loads((Path(tmp) / "run" / "config.json").read_text())["train"]["optimizer"]
    return {"mode": "loop", "data": data, "seed": seed, "test_accuracy": result.test["accuracy"],
            "n": result.test["n"], "train_seconds": round(result.seconds, 3), "wall_seconds": round(wall, 1),
            "optimizer": optimizer}


def summary(rows: list[dict]) -> str:
    acc = [r["test_accuracy"] for r in rows]
    secs = [r["train_seconds"] for r in rows]
    spread = statistics.stdev(acc) if len(acc) > 1 else 0.0
    line = (f"{rows[0]['data']:<8} {rows[0]['mode']:<5} {len(rows):>2} seeds: test accuracy "
            f"{statistics.mean(acc):.2%} +- {spread:.2%} (min {min(acc):.2%}, max {max(acc):.2%}); "
            f"training {statistics.mean(secs):.2f} s a run (max {max(secs):.2f} s)")
    if "wall_seconds" in rows[0]:
        line += f"; whole run {statistics.mean(r['wall_seconds'] for r in rows):.1f} s"
    return line


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "datasets" / "planetoid"))
    p.add_argument("--data", default="cora", help="a Planetoid name (cora, citeseer, pubmed) in --data-dir")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--karate-seeds", type=int, default=10)
    p.add_argument("--modes", default="paper,loop", help="paper, loop or both")
    p.add_argument("--json", help="append one JSON line per run to this file")
    args = p.parse_args()
    torch.set_num_threads(1)
    lines = []
    for mode in args.modes.split(","):
        fn = {"paper": run_paper, "loop": run_loop}[mode]
        for data, data_dir, seeds in ((args.data, args.data_dir, args.seeds), ("karate", None, args.karate_seeds)):
            rows = []
            for seed in range(seeds):
                row = fn(data, data_dir, seed)
                rows.append(row)
                print(json.dumps(row), flush=True)
                if args.json:
                    with open(args.json, "a") as f:
                        f.write(json.dumps(row) + "\n")
            if rows:
                lines.append(summary(rows))
                print(lines[-1], flush=True)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
