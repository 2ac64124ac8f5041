"""Spoken digits (FSDD): the data set's own split and leave-one-speaker-out, TDNN vs a 2-D CNN.

    python benchmarks/audio_fsdd.py --data-dir ../shared/datasets/fsdd --json audio.jsonl
    python benchmarks/audio_fsdd.py --models tdnn --folds own theo        # a part of it

For every model and fold ("own": indices 0-4 of every speaker and digit are test; a speaker's
name: every clip of that voice is test, the model trains on the other four) one run is trained
through convnet's own training loop (the model's registered training defaults, the audio
task's default features and augmentation) and its test accuracy, parameters and training
seconds are printed and appended to --json as one line. It also measures how fast the front
end computes log-mel spectrograms for the whole data set (clips/s, batched)."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEAKERS = ["george", "jackson", "lucas", "nicolas", "theo"]
# The 2-D CNN: the default `convnet` at a quarter of its widths (a 40x51 spectrogram is 2.6x the
# pixels of a 28x28 digit), trained like the TDNN, since the project's image defaults
# (batch 256, 8 epochs) give only 56 steps on FSDD's 2,000 clips.
MODELS = {
    "tdnn": {},
    "convnet": {"model_kwargs": {"widths": [16, 32, 64]}, "optimizer": "adamw", "lr": 3e-3,
                "weight_decay": 0.05, "epochs": 30, "batch_size": 64},
}


def feature_speed(data_dir: str) -> dict:
    import torch

    from convnet.audio.datasets import load_audio_data
    from convnet.audio.features import FeatureConfig, log_mel

    fc = FeatureConfig()
    t0 = time.perf_counter()
    ds = load_audio_data(data_dir, fc, split="all")
    read = time.perf_counter() - t0
    waves = ds.test.waves
    log_mel(waves[:256], fc)                                   # warm up
    best = min(_timed(lambda: log_mel(waves, fc)) for _ in range(3))
    return {"clips": len(waves), "read_seconds": round(read, 2), "feature_seconds": round(best, 3),
            "clips_per_second": round(len(waves) / best), "threads": torch.get_num_threads()}


def _timed(f) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def run_fold(model: str, fold: str, data_dir: str, out: Path, threads: int | None, seed: int) -> dict:
    from convnet.training.config import resolve_options
    from convnet.training.loop import train

    options = {"model": model, "data": "fsdd", "data_dir": data_dir, "seed": seed, "progress": False,
               "out": str(out / f"{model}-{fold}"), **({"threads": threads} if threads else {}),
               **MODELS.get(model, {})}
    cfg, _ = resolve_options(options)
    if fold != "own":
        cfg.test_speaker = fold                  # read by the audio task (getattr) until TrainConfig has it
    result = train(cfg, log=lambda line: print(f"  [{model} {fold}] {line}", flush=True))
    config = json.loads((result.run_dir / "config.json").read_text())
    return {"model": model, "fold": fold, "accuracy": result.test["accuracy"], "n": result.test["n"],
            "params": config["params"], "train_seconds": round(result.seconds, 1), "epochs": cfg.epochs,
            "optimizer": cfg.optimizer, "lr": cfg.resolved_lr(), "batch_size": cfg.batch_size}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared/datasets/fsdd"))
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--folds", nargs="+", default=["own", *SPEAKERS])
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="append one JSON line per fold to this file")
    p.add_argument("--out", help="run directories (default: a temporary folder)")
    args = p.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    speed = feature_speed(args.data_dir)
    print(f"front end: {speed['clips']:,} clips read in {speed['read_seconds']} s; log-mel spectrograms "
          f"{speed['clips_per_second']:,} clips/s batched ({speed['threads']} threads)", flush=True)
    out = Path(args.out or tempfile.mkdtemp(prefix="audio-bench-"))
    rows = []
    for model in args.models:
        for fold in args.folds:
            row = run_fold(model, fold, args.data_dir, out, args.threads, args.seed)
            rows.append(row)
            print(f"{model:<8} {fold:<8} accuracy {row['accuracy']:.2%}  ({row['params']:,} parameters, "
                  f"{row['train_seconds']:.0f} s training)", flush=True)
            if args.json:
                with open(args.json, "a") as f:
                    f.write(json.dumps({**row, "front_end": speed}) + "\n")
    print("\nmodel     own      " + "  ".join(f"{s:>8}" for s in SPEAKERS) + "  LOSO mean  params  s/fold")
    for model in args.models:
        mine = {r["fold"]: r for r in rows if r["model"] == model}
        held = [mine[s]["accuracy"] for s in SPEAKERS if s in mine]
        cells = "  ".join(f"{mine[s]['accuracy']:8.2%}" if s in mine else f"{'-':>8}" for s in SPEAKERS)
        own = f"{mine['own']['accuracy']:.2%}" if "own" in mine else "-"
        mean = f"{statistics.mean(held):.2%}" if held else "-"
        secs = statistics.mean(r["train_seconds"] for r in mine.values())
        params = next(iter(mine.values()))["params"]
        print(f"{model:<9} {own:<8} {cells}  {mean:>9}  {params:>6,}  {secs:6.0f}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    sys.exit(main())
