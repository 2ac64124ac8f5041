"""Run a study: create or join it, then train trials until the budget of trials is spent.

Budget, exactly, across any number of workers: trial numbers are handed out by the storage,
one each; a trial runs only if fewer than `trials` counted trials have a smaller number
(a trial re-queued after its worker died replaces the one that died). Grid points are
queued once, when the study is created, and a queued trial is handed to one worker only,
so no point is run twice (optuna's GridSampler may repeat points across processes)."""

from __future__ import annotations

import math
import os
import socket
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from convnet.errors import ConfigError, ConvnetError
from convnet.tune.space import Space, output_side

SETTINGS = "convnet"          # the study user attribute holding method, space and base config
METHODS = ("grid", "random", "bayes")
PRUNERS = ("median", "halving", "none")


class OverBudget(Exception):
    """This worker's new trial is past the study's budget: it stops."""


@dataclass
class Tuning:
    space: Space
    method: str
    trials: int
    base: dict                            # TrainConfig fields shared by every trial
    out: Path                             # study folder: trials/NNNN run dirs, tables, plots
    pruner: str = "median"
    seed: int = 0
    timeout: float | None = None
    workers: int = 1
    progress: bool = True
    log: object = print
    created: bool = field(default=False, init=False)


def make_sampler(method: str, seed: int, trials: int):
    import optuna

    if method == "bayes":
        # TPE starts from a few random trials; keep them a fraction of a small budget
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(3, trials // 4)))
    return optuna.samplers.RandomSampler(seed=seed)   # grid points come queued, with fixed values


def make_pruner(name: str):
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    return optuna.pruners.NopPruner()


def open_study(storage, name: str, tuning: Tuning, seed_offset: int = 0):
    """Create the study (queueing the grid) or load it and check it is the same search."""
    import optuna

    sampler = make_sampler(tuning.method, tuning.seed, tuning.trials)     # the creator: reproducible
    pruner = make_pruner(tuning.pruner)
    try:
        study = optuna.create_study(storage=storage, study_name=name, direction="maximize",
                                    sampler=sampler, pruner=pruner)
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
        check_same_search(study, name, tuning)
        # a resumed study must not replay the random draws its first run already made
        n = len(study.get_trials(deepcopy=False))
        study.sampler = make_sampler(tuning.method, tuning.seed + seed_offset + 7919 * n, tuning.trials)
        return study, False
    if tuning.method == "grid":
        for point in tuning.space.grid():
            study.enqueue_trial(point)
    study.set_user_attr(SETTINGS, {"method": tuning.method, "space": tuning.space.to_dict(),
                                   "base": tuning.base, "trials": tuning.trials})
    return study, True


def check_same_search(study, name: str, tuning: Tuning, wait_s: float = 60.0) -> None:
    """A joining worker must search what the study's creator set up (which may still be queueing)."""
    deadline = time.monotonic() + wait_s
    while SETTINGS not in study.user_attrs:
        if time.monotonic() > deadline:
            raise ConfigError(f"study {name!r} exists but was not made by `convnet tune`")
        time.sleep(0.5)
    settings = study.user_attrs[SETTINGS]
    if settings["method"] != tuning.method:
        raise ConfigError(f"study {name!r} uses --method {settings['method']}, not {tuning.method}")
    if settings["space"] != tuning.space.to_dict():
        raise ConfigError(f"study {name!r} was made with another search space than {tuning.space.source}")


def counted(trials) -> list:
    """The trials that use up budget: not refused as over budget, not replaced by a retry."""
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
    return [t for t in trials if not t.user_attrs.get("over_budget") and t.number not in retried]


def retry_interrupted(study) -> list[int]:
    """Trials left RUNNING by a killed process, or failed by Ctrl-C: fail them and queue their
    parameters again. Only for a single-process storage (SQLite), on --resume."""
    import optuna
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
    again = []
    for t in trials:
        stale = t.state == TrialState.RUNNING or (t.state == TrialState.FAIL and t.user_attrs.get("interrupted"))
        if stale and t.number not in retried:
            if t.state == TrialState.RUNNING:
                study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")       # "experimental" since optuna 2.8
                retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=None)
            retry(study, study._storage.get_trial(t._trial_id))
            again.append(t.number)
    return again


def budget_left(study, budget: int) -> bool:
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    waiting = any(t.state == TrialState.WAITING for t in trials)
    return waiting or len(counted(trials)) < budget


def make_objective(study, tuning: Tuning, budget: int, on_result):
    import optuna

    from convnet.training.config import resolve_options
    from convnet.training.loop import train

    size = tuning.base.get("input_size") or 28

    def objective(trial):
        frozen = study._storage.get_trial(trial._trial_id)
        lower = [t for t in counted(study.get_trials(deepcopy=False)) if t.number < trial.number]
        if len(lower) >= budget or tuning.method == "grid" and "fixed_params" not in frozen.system_attrs:
            trial.set_user_attr("over_budget", True)
            raise OverBudget(trial.number)
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        trial.set_user_attr("interrupted", False)      # a retry inherits the attributes it replaces
        overrides, model_kwargs = tuning.space.sample(trial)
        run_dir = tuning.out / "trials" / f"{trial.number:04d}"
        # `tune --epochs N` (in base only when given) wins over the space's epochs
        fixed = {"epochs": tuning.base["epochs"]} if "epochs" in tuning.base else {}
        values = {**tuning.base, **overrides, **fixed, "model_kwargs": model_kwargs, "out": str(run_dir),
                  "progress": False}
        trial.set_user_attr("run_dir", str(run_dir.resolve()))
        trial.set_user_attr("config", {k: v for k, v in values.items() if k not in ("out", "progress")})
        if model_kwargs and output_side(size, model_kwargs) < 1:
            return fail(trial, f"the architecture shrinks {size}x{size} input to nothing")
        t0 = time.perf_counter()
        try:
            cfg = resolve_options(values)[0]          # the model's registered defaults under them
            result = train(cfg, log=lambda *_: None, on_epoch=lambda r: report(trial, r, cfg.epochs),
                           evaluate_test=False)
        except optuna.TrialPruned:
            trial.set_user_attr("seconds", round(time.perf_counter() - t0, 2))
            on_result(trial.number, "pruned", None)
            raise
        except ConvnetError as e:
            return fail(trial, str(e))
        except KeyboardInterrupt:
            trial.set_user_attr("interrupted", True)
            raise
        except Exception as e:            # noqa: BLE001  one odd trial must not end the study
            return fail(trial, f"{type(e).__name__}: {e}")
        accuracy = result.history[-1]["val_accuracy"]
        trial.set_user_attr("seconds", round(time.perf_counter() - t0, 2))
        on_result(trial.number, "complete", accuracy)
        return accuracy

    def fail(trial, message: str) -> float:
        trial.set_user_attr("error", message)
        on_result(trial.number, f"failed: {message}", None)
        return math.nan                   # optuna records a NaN value as a failed trial

    return objective


def report(trial, record: dict, epochs: int) -> None:
    """Per-epoch validation accuracy to the pruner; stop a hopeless trial before its last epoch."""
    import optuna

    trial.report(record["val_accuracy"], record["epoch"])
    if record["epoch"] < epochs and trial.should_prune():
        raise optuna.TrialPruned(f"val accuracy {record['val_accuracy']:.2%} at epoch {record['epoch']}")


def run_workers(study_factory, tuning: Tuning, budget: int) -> None:
    """tuning.workers threads, each with its own study handle, until the budget or timeout."""
    import threading

    from tqdm import tqdm

    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    study0 = study_factory(0)
    done0 = len([t for t in counted(study0.get_trials(deepcopy=False)) if t.state.is_finished()])
    bar = tqdm(total=budget, initial=min(done0, budget), desc="trials", unit="trial",
               disable=None if tuning.progress else True)
    lock, deadline = threading.Lock(), time.monotonic() + tuning.timeout if tuning.timeout else None
    errors: list[BaseException] = []

    def on_result(number, state, accuracy):
        with lock:
            bar.update(1)
            line = f"trial {number}: {state}" + (f", val accuracy {accuracy:.2%}" if accuracy is not None else "")
            bar.write(line) if not bar.disable else tuning.log(line)

    def work(index: int):
        study = study0 if index == 0 else study_factory(index)
        objective = make_objective(study, tuning, budget, on_result)
        try:
            while budget_left(study, budget) and (deadline is None or time.monotonic() < deadline):
                study.optimize(objective, n_trials=1)
        except OverBudget:
            pass
        except BaseException as e:       # noqa: BLE001  (handed to the main thread)
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(1, tuning.workers)]
    for t in threads:
        t.start()
    try:
        work(0)
        for t in threads:
            t.join()
    finally:
        bar.close()
    if errors:
        raise errors[0]
