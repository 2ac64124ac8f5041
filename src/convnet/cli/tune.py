"""convnet tune: grid, random or Bayesian search over training and architecture hyperparameters."""

from __future__ import annotations

import argparse

from convnet.cli.options import add_data_arguments, fraction, positive_float, positive_int

HELP = "search hyperparameters (grid, random or Bayesian) on a validation split"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--space", metavar="SPACE.yaml", help="search space (default: the packaged, commented one)")
    p.add_argument("--method", choices=["grid", "random", "bayes"],
                   help="grid, random or bayes (TPE); default bayes, or the resumed study's")
    p.add_argument("--trials", type=positive_int, default=20, help="trials in the study, all workers together")
    p.add_argument("--timeout", type=positive_float, metavar="S",
                   help="start no new trial after S seconds (the running ones finish)")
    p.add_argument("--workers", type=positive_int, default=1, help="trials trained at once by this process")
    p.add_argument("--storage", metavar="URL",
                   help="SQLAlchemy URL shared by several workers, e.g. postgresql://user@host/db "
                        "(default: STUDY_DIR/study.db, SQLite)")
    p.add_argument("--study", metavar="NAME", help="study name in the storage (default: the folder's name)")
    p.add_argument("--out", metavar="STUDY_DIR", help="study folder (default studies/<name>)")
    p.add_argument("--resume", nargs="?", const=True, default=False, metavar="STUDY_DIR",
                   help="continue a stopped study (its folder, or --out's)")
    p.add_argument("--pruner", choices=["median", "halving", "none"], default="median",
                   help="stop trials whose validation accuracy lags (median or successive halving)")
    p.add_argument("--model", default="convnet",
                   help="the model when the space has no architecture keys (with them: convnet)")
    add_data_arguments(p)
    p.add_argument("--val-fraction", type=fraction, default=0.2,
                   help="share of the training set held out for validation (the tuning target)")
    p.add_argument("--input-size", type=positive_int, help="square input side (default: the model's)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--threads", type=positive_int, help="CPU threads per trial")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampler and of every trial")
    p.add_argument("--epochs", type=positive_int,
                   help="epochs of every trial (default: the space's epochs, else the model's training default)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def run(args) -> int:
    from convnet.tune.cli_run import tune

    return tune(args)
