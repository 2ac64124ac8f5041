"""Kim 2014's CNN-rand on the sentence sets of ../shared/datasets/text, project defaults.

    .venv/bin/python benchmarks/text_kim.py --sets trec,sst2 --seeds 0,1,2,3,4 --json text.jsonl
    .venv/bin/python benchmarks/text_kim.py --sets mr --seeds 0 --folds 10

Each (set, seed[, fold]) is one `convnet train` run through the training loop, kimcnn with its
registered training defaults. TREC's test file is kept aside, so its figure is a seeded,
stratified 10% hold-out of train_5500.label; SST-2 reports dev.tsv; MR (no test split) a
hold-out, or with --folds K the mean over K stratified folds (Kim's protocol). Per run: test
accuracy, training seconds (evaluation excluded), training words/s (real words, padding not
counted, over all epochs), the CPU seconds of the whole run in this process (a fair
figure when other work shares the machine) and prediction words/s (`task.predict` on the test sentences, batch
500). The summary gives the mean and the sample standard deviation over seeds (over folds
for --folds, then over seeds). Targets from the issue: TREC >= 88% in <= 60 s, SST-2 >= 80%,
MR 10-fold >= 76%."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEXT = ROOT.parent / "shared" / "datasets" / "text"
SETS = {"trec": TEXT / "trec" / "train_5500.label", "sst2": TEXT / "sst2", "mr": TEXT / "mr",
        "subj": TEXT / "subj", "cr": TEXT / "cr", "mpqa": TEXT / "mpqa"}
TARGETS = {"trec": (0.88, 60.0), "sst2": (0.80, None), "mr": (0.76, None)}


def one_run(name: str, seed: int, fold: int | None, folds: int | None, out: Path, threads: int | None,
            epochs: int | None) -> dict:
    import torch

    from convnet.tasks.text import TextClassification
    from convnet.training.config import config_for_model
    from convnet.training.hardware import resolve
    from convnet.training.loop import train
    from convnet.training.runs import load_weights

    options = dict(model="kimcnn", data=str(SETS[name]), seed=seed, out=str(out), progress=False,
                   **({"threads": threads} if threads else {}), **({"epochs": epochs} if epochs else {}))
    cfg = config_for_model(**options)
    if folds:
        cfg.folds, cfg.fold = folds, fold          # task options config.py does not have yet
    task = TextClassification(note=lambda _: None)
    cpu0 = time.process_time()
    result = train(cfg, log=lambda *_: None, task=task)
    cpu_seconds = time.process_time() - cpu0       # this process only: honest on a shared machine
    config = json.loads((out / "config.json").read_text())
    ds = task.load_data(cfg, saved=config)
    train_words = ds.train.words()
    # prediction: a fresh model from the run directory, the test sentences as a user gives them
    hw = resolve("cpu", "off", False, threads)
    model = task.build_model(config)
    load_weights(out, model)
    torch.set_grad_enabled(False)
    t0 = time.perf_counter()
    predicted = task.predict(model, config, hw, ds.test.texts, top=1)
    predict_seconds = time.perf_counter() - t0
    torch.set_grad_enabled(True)
    words = sum(len(p["tokens"]) for p in predicted)
    return {"set": name, "seed": seed, "fold": fold, "folds": folds, "epochs": cfg.epochs,
            "accuracy": result.test["accuracy"], "n_test": result.test["n"], "n_train": len(ds.train),
            "train_seconds": round(result.seconds, 2), "train_cpu_seconds": round(cpu_seconds, 1),
            "load_average": round(__import__("os").getloadavg()[0], 1),
            "train_words_per_second": round(train_words * cfg.epochs / result.seconds),
            "predict_words_per_second": round(words / predict_seconds),
            "optimizer": cfg.optimizer, "lr": cfg.resolved_lr(), "batch_size": cfg.batch_size,
            "threads": torch.get_num_threads()}


def summarise(rows: list[dict]) -> list[str]:
    lines = []
    for name in dict.fromkeys(r["set"] for r in rows):
        by_seed: dict[int, list[dict]] = {}
        for r in (r for r in rows if r["set"] == name):
            by_seed.setdefault(r["seed"], []).append(r)
        acc = [statistics.mean(r["accuracy"] for r in rs) for rs in by_seed.values()]
        secs = [statistics.mean(r["train_seconds"] for r in rs) for rs in by_seed.values()]
        cpu = statistics.mean(r["train_cpu_seconds"] for rs in by_seed.values() for r in rs)
        tw = statistics.mean(r["train_words_per_second"] for rs in by_seed.values() for r in rs)
        pw = statistics.mean(r["predict_words_per_second"] for rs in by_seed.values() for r in rs)
        spread = f" ± {statistics.stdev(acc):.2%}" if len(acc) > 1 else ""
        folds = next(iter(by_seed.values()))[0]["folds"]
        how = f"{folds}-fold mean" if folds else "hold-out" if name != "sst2" else "dev"
        target, limit = TARGETS.get(name, (None, None))
        verdict = ""
        if target is not None:
            ok = statistics.mean(acc) >= target and (limit is None or statistics.mean(secs) <= limit)
            verdict = f"  target >= {target:.0%}{f' in <= {limit:.0f} s' if limit else ''}: {'met' if ok else 'NOT met'}"
        lines.append(f"{name}: {statistics.mean(acc):.2%}{spread} ({how}, {len(acc)} seed(s)), "
                     f"{statistics.mean(secs):.1f} s training ({cpu:.1f} CPU s), {tw:,.0f} words/s training, "
                     f"{pw:,.0f} words/s prediction{verdict}")
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sets", default="trec,sst2", help=f"comma-separated, of {', '.join(SETS)}")
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--folds", type=int, help="k-fold cross-validation (for sets without a test split)")
    p.add_argument("--epochs", type=int, help="override kimcnn's registered epochs")
    p.add_argument("--threads", type=int)
    p.add_argument("--json", help="append one JSON line per run to this file")
    args = p.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sets.split(","):
            if name not in SETS:
                p.error(f"unknown set {name!r}")
            for seed in seeds:
                for fold in (range(args.folds) if args.folds else [None]):
                    out = Path(tmp) / f"{name}-{seed}-{fold}"
                    row = one_run(name, seed, fold, args.folds, out, args.threads, args.epochs)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                    if args.json:
                        with open(args.json, "a") as f:
                            f.write(json.dumps(row) + "\n")
    print("\n".join(summarise(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
