"""`convnet tune` from parsed arguments: check everything, then open, run and report the study.

Every check that can refuse the command runs before the study folder or storage is written."""

from __future__ import annotations

import os
import time
from pathlib import Path

from convnet.errors import ConfigError
from convnet.fileio import atomic_write_json
from convnet.tune import report
from convnet.tune.space import load_space, parse_space
from convnet.tune.storage import SQLITE_NAME, default_url, is_sqlite, open_storage, redact
from convnet.tune.study import SETTINGS, Tuning, open_study, retry_interrupted, run_workers

STUDY_JSON = "study.json"


def study_paths(args) -> tuple[Path, str]:
    """The study folder and the study's name in the storage."""
    out = args.out or (args.resume if isinstance(args.resume, str) else None)
    if args.out and isinstance(args.resume, str) and Path(args.out) != Path(args.resume):
        raise ConfigError(f"--resume {args.resume} and --out {args.out} name different folders")
    if out:
        return Path(out), args.study or Path(out).resolve().name
    name = args.study or f"{args.method or 'bayes'}-{Path(args.data).name}-{time.strftime('%Y%m%d-%H%M%S')}"
    return Path("studies") / name, name


def check_folder(out: Path, args) -> None:
    """Refuse to mix a study into a folder that holds something else, or to restart one by accident."""
    has_db = (out / SQLITE_NAME).is_file()
    if out.exists() and not out.is_dir():
        raise ConfigError(f"study folder {out} is a file")
    if out.is_dir() and any(out.iterdir()) and not (out / STUDY_JSON).is_file() and not has_db:
        raise ConfigError(f"{out} is not empty and holds no study; choose another --out")
    if args.storage is None:
        if has_db and not args.resume:
            raise ConfigError(f"{out} already holds a study; add --resume to continue it, "
                              "or choose another --out")
        if args.resume and not has_db:
            raise ConfigError(f"nothing to resume: no {SQLITE_NAME} in {out}")


def stored_settings(storage, name: str, wait_s: float = 60.0) -> dict | None:
    """The study's settings, or None if there is no such study. A study without them may be
    one another worker is creating this moment (its settings come right after): wait for them."""
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        return None
    deadline = time.monotonic() + wait_s
    while (settings := storage.get_study_user_attrs(study_id).get(SETTINGS)) is None:
        if time.monotonic() > deadline:
            raise ConfigError(f"study {name!r} exists but was not made by `convnet tune`")
        time.sleep(0.5)
    return settings


def base_config(args, space) -> dict:
    from convnet.training.config import TrainConfig

    if args.val_fraction <= 0:
        raise ConfigError("tuning needs a validation split: --val-fraction must be above 0, "
                          f"got {args.val_fraction}")
    if space.tunes_architecture and args.model != "convnet":
        raise ConfigError(f"the space tunes the architecture of the convnet family; --model {args.model!r} "
                          "cannot take those keys (drop --model, or the architecture keys)")
    threads = args.threads or (max(1, (os.cpu_count() or 1) // args.workers) if args.workers > 1 else None)
    # only what the command line says: each trial puts the model's registered training
    # defaults (resolve_options) under these and the sampled values
    base = {"model": args.model, "data": args.data, "data_dir": args.data_dir, "input_size": args.input_size,
            "val_fraction": args.val_fraction, "device": args.device, "threads": threads, "seed": args.seed,
            **({"epochs": args.epochs} if getattr(args, "epochs", None) else {})}
    TrainConfig(**base)                   # refuse a bad value now, not in every trial
    return base


def check_data(base: dict) -> None:
    """Load the data once up front, as a trial will (its task, at the model's input size), so a
    bad --data fails here, not in every trial."""
    from convnet.tasks import task_for
    from convnet.training.config import resolve_options

    cfg = resolve_options({**base, "progress": False})[0]
    task_for(cfg.data, cfg.data_dir, cfg.task).load_data(cfg)


def resolve_search(args, settings: dict | None, name: str):
    """Method and space: the flags, else the existing study's; they must agree with it."""
    if settings is None:
        return args.method or "bayes", load_space(args.space)
    method = args.method or settings["method"]
    space = load_space(args.space) if args.space else parse_space(settings["space"], f"study {name!r}")
    return method, space


def tune(args) -> int:
    out, name = study_paths(args)
    check_folder(out, args)
    url = args.storage or default_url(out)
    new_folder = not out.exists()
    if is_sqlite(url) and args.storage is None:
        out.mkdir(parents=True, exist_ok=True)
    try:
        storage = open_storage(url)
        settings = stored_settings(storage, name)
        if settings is None and args.resume:
            raise ConfigError(f"nothing to resume: no study {name!r} in {redact(url)}")
        method, space = resolve_search(args, settings, name)
        base = settings["base"] if settings else base_config(args, space)
        if settings is None:
            check_data(base)
        budget = args.trials
        if method == "grid":
            points = space.checked_grid_size()      # counted, not made: the grid may be huge
            if points > args.trials:
                raise ConfigError(f"the grid of {space.source} has {points} points but --trials is "
                                  f"{args.trials}; raise --trials or shrink the grid")
            budget = points
    except BaseException:
        if new_folder and out.is_dir() and not any(p.name != SQLITE_NAME for p in out.iterdir()):
            for p in out.iterdir():
                p.unlink()
            out.rmdir()                            # leave no trace of a study that never began
        raise
    out.mkdir(parents=True, exist_ok=True)
    tuning = Tuning(space=space, method=method, trials=budget, base=base, out=out, pruner=args.pruner,
                    seed=args.seed, timeout=args.timeout, workers=args.workers, progress=args.progress)
    return run_study(storage, name, url, tuning, resume=bool(args.resume))


def run_study(storage, name: str, url: str, tuning: Tuning, resume: bool) -> int:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    # a joining worker draws other random numbers than the creator and the other joiners
    offset = 0 if resume and is_sqlite(url) else os.getpid() % 100_000 * 17
    study, created = open_study(storage, name, tuning, seed_offset=offset)
    atomic_write_json(tuning.out / STUDY_JSON, {"study": name, "storage": redact(url),
                                                "method": tuning.method, "budget": tuning.trials,
                                                "space": tuning.space.to_dict(), "base": tuning.base})
    verb = "created" if created else "resumed" if resume else "joined"
    print(f"{verb} study {name!r} ({tuning.method}, {tuning.trials} trials) "
          f"in {redact(url)}; trial runs in {tuning.out / 'trials'}")
    if resume and is_sqlite(url):
        again = retry_interrupted(study)
        if again:
            print(f"re-queued interrupted trial(s) {', '.join(map(str, again))} with their parameters")

    def factory(i: int):
        if i == 0:
            return study
        s, _ = open_study(storage, name, tuning, seed_offset=offset + 1000 * i)
        return s

    run_workers(factory, tuning, tuning.trials)
    return summarize(study, tuning.out)


def summarize(study, out: Path) -> int:
    columns, rows = report.trial_rows(study)
    report.write_csv(out / "trials.csv", columns, rows)
    print(report.table_text(columns, rows))
    complete = [r for r in rows if r["state"] == "complete"]
    if not complete:
        print(f"no trial completed; table in {out / 'trials.csv'}")
        return 1
    best = study.best_trial
    report.write_best_yaml(out / "best.yaml", study, best)
    result = report.evaluate_best(out, study, best)
    plots = report.write_plots(out, study)
    test = f", test accuracy {result['test_accuracy']:.2%}" if "test_accuracy" in result else ""
    print(f"best trial {best.number}: val accuracy {best.value:.2%}{test} "
          f"({sum(r['state'] == 'pruned' for r in rows)} pruned, {len(rows)} run)")
    print(f"wrote {out / 'trials.csv'}, {out / 'best.yaml'}, {out / 'best.json'}"
          + "".join(f", {out / p}" for p in plots))
    if "note" in result:
        print(result["note"])
    return 0
