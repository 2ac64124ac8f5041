"""Handwritten digit strings: CRNN (BiLSTM head) and CRNN (convolution-only head) on MNIST lines.

    python benchmarks/ocr_digits.py --data-dir ../shared/datasets/mnist-10k --json ocr.jsonl
    python benchmarks/ocr_digits.py --models crnn_conv --lines 3000 --epochs 6     # a part of it

Training lines are drawn (seeded) from the IDX folder's train digits, the 500 test lines from
its test digits (ocr/generate.py; the test lines are the same for every run: seed 1). For each
model one run is trained through convnet's own loop (the model's registered training defaults
unless flags say otherwise) and its test CER, exact-line rate (greedy decoding, as `convnet ocr
eval` measures them), the same with the beam search, lines/s of evaluation, parameters and
training seconds (wall and CPU) are printed and appended to --json as one line. The targets of
issue 16: CER <= 3%, exact lines >= 85%, training <= 10 minutes on 2 cores."""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def beam_rates(run_dir: Path, width: int) -> dict:
    """CER and exact lines of the run's test split read with the beam search."""
    from convnet.ocr.decode import error_rates
    from convnet.tasks import get_task
    from convnet.training.hardware import resolve
    from convnet.training.runs import RunDir

    run = RunDir.open(run_dir)
    task = get_task(run.task)
    ds = run.dataset(task)
    model = run.build_model(task)
    hw = resolve("cpu", "off", False)
    from convnet.ocr.lines import write_line_folder

    with tempfile.TemporaryDirectory() as tmp:      # predict reads files: the test lines as a folder
        folder = write_line_folder(Path(tmp) / "test", ds.test.images, ds.test.texts)
        files = [str(folder / line.split("\t")[0]) for line in (folder / "labels.tsv").read_text().splitlines()]
        t0 = time.perf_counter()
        rows = task.predict(model, run.config, hw, files, top=1)
        seconds = time.perf_counter() - t0
    rates = error_rates(ds.test.texts, [r["text"] for r in rows])
    return {"beam_width": width, "beam_cer": rates["cer"], "beam_exact": rates["exact"],
            "beam_lines_per_second": round(len(rows) / seconds, 1)}


def run_one(model: str, args) -> dict:
    from convnet.training.config import config_for_model
    from convnet.training.loop import train

    out = Path(args.out or tempfile.mkdtemp(prefix="ocr-bench-")) / model
    options = {"model": model, "data": "digit-lines", "data_dir": args.data_dir, "out": str(out),
               "seed": args.seed, "progress": False, "task": "ocr"}
    if args.epochs:
        options["epochs"] = args.epochs
    if args.threads:
        options["threads"] = args.threads
    cfg = config_for_model(**options)
    cfg.lines, cfg.test_lines = args.lines, 500
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    result = train(cfg, log=lambda line: print(f"  {line}", file=sys.stderr))
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    test = result.test
    row = {"model": model, "lines": args.lines, "epochs": cfg.epochs, "seed": args.seed, "threads": args.threads,
           "n": test["n"],
           "cer": test["cer"], "exact": test["exact"], "lines_per_second": test["lines_per_second"],
           "train_seconds": round(result.seconds, 1), "cpu_seconds_with_eval": round(cpu, 1),
           "params": json.loads((out / "config.json").read_text())["params"], "run_dir": str(out)}
    row.update(beam_rates(out, 8))
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "datasets" / "mnist-10k"))
    p.add_argument("--models", nargs="+", default=["crnn", "crnn_conv"])
    p.add_argument("--lines", type=int, default=10_000, help="training lines")
    p.add_argument("--epochs", type=int, help="default: the model's registered epochs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="torch threads (on a loaded 2-core machine 1 is several times faster)")
    p.add_argument("--out", help="folder for the runs (default: a temporary one)")
    p.add_argument("--json", help="append one JSON line per model here")
    args = p.parse_args(argv)
    for model in args.models:
        row = run_one(model, args)
        print(json.dumps(row))
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
