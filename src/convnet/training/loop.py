"""The training loop, one for every task and both engines, top to bottom:
run directory, data, model, engine, epochs, checkpoints, final evaluation.

What differs between kinds of work (data, batches, loss, metrics) comes from the task
(tasks/base.py); how a step is taken comes from the engine (engines.py). Each epoch is
seeded from (seed, epoch), so a run resumed from its last checkpoint continues exactly as
if it had never stopped. The loop draws nothing: the caller gets the final evaluation and
draws the run's plots (visualize/artifacts.py)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from convnet.errors import ConfigError
from convnet.training.config import TrainConfig
from convnet.training.engines import make_engine
from convnet.training.hardware import resolve
from convnet.training.runs import RunDir, environment


@dataclass
class TrainResult:
    run_dir: Path
    test: dict | None                 # final evaluation on the test split (results.json "test")
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0              # training time, evaluation excluded
    final: object = None              # the task's Evaluation of the test split (probabilities kept)
    test_split: object = None         # the split `final` measured, for the plots
    classes: list[str] = field(default_factory=list)
    task: str = "classify"


def train(cfg: TrainConfig, resume: str | Path | None = None, log=print, on_epoch=None,
          evaluate_test: bool = True, task=None) -> TrainResult:
    """Train `cfg` into a new run directory, or continue the run in `resume`.

    on_epoch(record) is called after each epoch's checkpoint; an exception it raises stops
    training there (the tuner raises optuna.TrialPruned). evaluate_test=False skips the test split
    (hyperparameter tuning must not look at it). `task`: a Task (default: the run's, or the
    one `cfg.task` names, or the one that claims `cfg.data`)."""
    from convnet.tasks import get_task, task_for

    if resume is not None:
        run = RunDir.open(resume)
        run.lock()
        cfg = run.train_config(progress=cfg.progress, **({"threads": cfg.threads} if cfg.threads else {}))
        task = task or get_task(run.task)
    else:
        run = None
        task = task or task_for(cfg.data, cfg.data_dir, cfg.task)
    try:
        return fit(task, cfg, run, log, on_epoch, evaluate_test)
    finally:
        if run is not None:
            run.release()


def fit(task, cfg: TrainConfig, run: RunDir | None, log, on_epoch, evaluate_test: bool) -> TrainResult:
    engine_name = cfg.engine
    hw = (resolve("cpu", "off", False, cfg.threads) if engine_name == "reference"
          else resolve(cfg.device, cfg.amp, cfg.channels_last, cfg.threads))
    torch.manual_seed(cfg.seed)
    ds = task.load_data(cfg, saved=run.config if run is not None else None)
    if run is None:
        # the values used, not None for "the default" (resume and `eval` read them back)
        config = {"task": task.name, "engine": engine_name, "train": {**cfg.to_dict(), "lr": cfg.resolved_lr()},
                  **task.describe_run(cfg, ds), "hardware": hw.describe(), "environment": environment()}
        run = RunDir.create(cfg.out, cfg.model, cfg.data)
        resumed = False
    else:
        config, resumed = run.config, True
    try:
        return _fit(task, cfg, run, config, ds, hw, engine_name, resumed, log, on_epoch, evaluate_test)
    finally:
        run.release()


def _fit(task, cfg, run, config, ds, hw, engine_name, resumed, log, on_epoch, evaluate_test) -> TrainResult:
    model = task.build_model(config).to(hw.device)
    if hw.channels_last:
        model = model.to(memory_format=torch.channels_last)
    config["params"] = sum(p.numel() for p in model.parameters())
    steps_per_epoch = len(task.batches(ds.train, config, cfg, hw, train=True, seed=0))
    engine = make_engine(engine_name, task, model, cfg, hw, cfg.epochs * max(1, steps_per_epoch))
    start_epoch, history, seconds = 0, [], 0.0
    if resumed:
        state = run.load_checkpoint(model)
        if state is not None:
            engine.load_state_dict(state)
            start_epoch, seconds, history = int(state["epoch"]), float(state["seconds"]), list(state["history"])
        if start_epoch >= cfg.epochs:
            log(f"{run}: all {cfg.epochs} epochs already done")
        else:
            log(f"resuming {run} at epoch {start_epoch + 1}/{cfg.epochs}")
    run.write_config(config)

    eval_name, eval_split = ("val", ds.val) if ds.val is not None else ("test", ds.test)
    how = hw.describe() if engine_name == "torch" else "cpu, float32, the NumPy reference engine"
    log(f"training {cfg.model} ({config['params']:,} parameters) on {ds.name}: "
        f"{task.summary_line(cfg, ds, config)}; {how}; run dir {run}")

    for epoch in range(start_epoch, cfg.epochs):
        torch.manual_seed(cfg.seed * 100_003 + epoch)     # dropout and friends
        batches = task.batches(ds.train, config, cfg, hw, train=True, seed=cfg.seed * 100_003 + epoch)
        t0 = time.perf_counter()
        train_loss, train_metric, seen = run_epoch(engine, batches, f"epoch {epoch + 1}/{cfg.epochs}",
                                                   cfg.progress)
        epoch_seconds = time.perf_counter() - t0
        seconds += epoch_seconds
        record = {"epoch": epoch + 1, "train_loss": train_loss}
        if train_metric is not None:
            record[f"train_{task.metric}"] = train_metric
        record.update({"lr": engine.lr, "seconds": round(seconds, 3),
                       f"{task.item}_per_second": round(seen / max(epoch_seconds, 1e-9), 1)})
        module = engine.module()
        if eval_split is not None:
            ev = task.evaluate(module, eval_split, config, hw)
            record.update({f"{eval_name}_loss": ev.loss, f"{eval_name}_{task.metric}": ev.metrics[task.metric]})
        _check_finite(module, epoch + 1)
        history.append(record)
        run.save_checkpoint(epoch + 1, seconds, module, engine.state_dict(), history)
        log(epoch_line(record, cfg.epochs, eval_name, task.metric, task.item))
        if on_epoch is not None:
            on_epoch(record)

    final, test = None, None
    if ds.test is not None and evaluate_test:
        final = task.evaluate(engine.module(), ds.test, config, hw, final=True)
        test = final.to_dict(ds.classes)
        # a folder without test/ is measured on its validation split: say so, not "test"
        split = "val" if ds.test is ds.val else "test"
        run.write_results({"test": test, "split": split, "train_seconds": seconds, "epochs": cfg.epochs,
                           "task": task.name, "engine": engine_name})
        log(f"{task.result_line(final, split)} after {seconds:.1f} s of training; saved {run}")
    return TrainResult(run_dir=run.path, test=test, history=history, seconds=seconds, final=final,
                       test_split=ds.test if evaluate_test else None, classes=list(ds.classes),
                       task=task.name)


def run_epoch(engine, batches, desc: str, progress: bool) -> tuple[float, float | None, int]:
    """One pass over `batches`: (mean loss, mean of the task's correct counts or None, items)."""
    from tqdm import tqdm

    total_loss, correct, seen, t0 = torch.zeros(()), None, 0, time.perf_counter()
    bar = tqdm(batches, desc=desc, unit="batch", leave=False, disable=None if progress else True,
               file=sys.stderr)
    for step, batch in enumerate(bar):
        loss, tally = engine.step(batch)
        # sums stay on the device: no host sync per step
        total_loss = total_loss.to(loss.device) + loss.float() * tally.n
        if tally.correct is not None:
            correct = tally.correct if correct is None else correct + tally.correct
        seen += tally.n
        if step % 10 == 0 and not bar.disable:
            shown = {"loss": f"{total_loss.item() / seen:.3f}"}
            if correct is not None:
                shown["acc"] = f"{float(correct) / seen:.1%}"
            bar.set_postfix(**shown, per_s=f"{seen / (time.perf_counter() - t0):.0f}")
    bar.close()
    n = max(seen, 1)
    return total_loss.item() / n, (float(correct) / n if correct is not None else None), seen


def _check_finite(model: torch.nn.Module, epoch: int) -> None:
    """Never checkpoint weights that are NaN or infinite: the last finite checkpoint stays."""
    for name, p in model.state_dict().items():
        if p.is_floating_point() and not torch.isfinite(p).all():
            raise ConfigError(f"weight {name} became non-finite in epoch {epoch}; the checkpoint of "
                              f"epoch {epoch - 1} is kept (lower the learning rate and train again)")


def epoch_line(r: dict, epochs: int, eval_name: str, metric: str = "accuracy", item: str = "images") -> str:
    short = {"accuracy": "acc"}.get(metric, metric)
    line = f"epoch {r['epoch']:>3}/{epochs}  loss {r['train_loss']:.4f}"
    if f"train_{metric}" in r:
        line += f"  {short} {_shown(r[f'train_{metric}'], metric)}"
    if f"{eval_name}_{metric}" in r:
        line += (f"  {eval_name}_loss {r[f'{eval_name}_loss']:.4f}"
                 f"  {eval_name}_{short} {_shown(r[f'{eval_name}_{metric}'], metric)}")
    per_s = r.get(f"{item}_per_second", 0)
    unit = {"images": "img"}.get(item, item)
    return line + f"  lr {r['lr']:.2e}  {r['seconds']:.1f}s  {per_s:.0f} {unit}/s"


def _shown(value: float, metric: str) -> str:
    return f"{value:6.2%}" if metric == "accuracy" else f"{value:.4f}"
