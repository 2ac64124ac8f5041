"""The training loop, one for every task and both engines, top to bottom:
run directory, data, model, engine, epochs, checkpoints, final evaluation.

What differs between kinds of work (data, batches, loss, metrics) comes from the task
(tasks/base.py); how a step is taken comes from the engine (engines.py). Each epoch is
seeded from (seed, epoch), so a run resumed from its last checkpoint continues exactly as
if it had never stopped. The loop draws nothing: the caller gets the final evaluation and
draws the run's plots (visualize/artifacts.py)."""

from __future__ import annotations

import copy
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from convnet.errors import ConfigError
from convnet.training.config import TrainConfig
from convnet.training.engines import check_engine, make_engine
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
    from convnet.training import distributed

    group = distributed.join(cfg.device)      # torchrun's processes, or one
    if not group.main:
        log = _quiet
    run = None
    try:
        if resume is not None:
            run = RunDir.open(resume)
            if group.main:
                run.lock()
            cfg = run.train_config(progress=cfg.progress and group.main,
                                   **({"threads": cfg.threads} if cfg.threads else {}))
            task = task or get_task(run.task)
        else:
            task = task or task_for(cfg.data, cfg.data_dir, cfg.task)
        return fit(task, cfg, run, log, on_epoch, evaluate_test, group)
    finally:
        if run is not None:
            run.release()
        distributed.leave(group)


def _quiet(*_):
    pass


def fit(task, cfg: TrainConfig, run: RunDir | None, log, on_epoch, evaluate_test: bool,
        group=None) -> TrainResult:
    from convnet.training.distributed import Group, share

    group = group or Group()
    engine_name = cfg.engine
    if group.active and engine_name != "torch":
        raise ConfigError("distributed training runs on the torch engine")
    hw = (resolve("cpu", "off", False, cfg.threads) if engine_name == "reference"
          else resolve(cfg.device, cfg.amp, cfg.channels_last, cfg.threads))
    torch.manual_seed(cfg.seed)
    ds = task.load_data(cfg, saved=run.config if run is not None else None)
    if cfg.patience and ds.val is None:
        raise ConfigError("--patience watches the validation split and this data set has none "
                          "(it will not watch the test set): add --val-fraction 0.1")
    if run is None:
        # the values used, not None for "the default" (resume and `eval` read them back)
        config = {"task": task.name, "engine": engine_name, "train": {**cfg.to_dict(), "lr": cfg.resolved_lr()},
                  **task.describe_run(cfg, ds), "hardware": hw.describe(), "environment": environment()}
        check_engine(engine_name, task, cfg, task.build_model(config))    # before any folder is made
        # process 0 claims the directory; the others learn its name and never write to it
        run = RunDir.create(cfg.out, cfg.model, cfg.data) if group.main else None
        path = share(str(run.path) if run is not None else None, group)
        run = run or RunDir(path)
        resumed = False
    else:
        config, resumed = run.config, True
    try:
        return _fit(task, cfg, run, config, ds, hw, engine_name, resumed, log, on_epoch, evaluate_test, group)
    finally:
        run.release()


def _fit(task, cfg, run, config, ds, hw, engine_name, resumed, log, on_epoch, evaluate_test, group) -> TrainResult:
    from convnet.training import distributed

    eval_name, eval_split = ("val", ds.val) if ds.val is not None else ("test", ds.test)
    model = task.build_model(config)
    head = _initialise(model, cfg, config, log) if cfg.init and not resumed else None
    if cfg.init and resumed:
        head = set(config.get("init", {}).get("new", [])) or None
    _freeze(model, cfg.freeze)
    model = model.to(hw.device)
    if hw.channels_last:
        model = model.to(memory_format=torch.channels_last)
    config["params"] = sum(p.numel() for p in model.parameters())
    if hasattr(task, "begin"):          # per-run state a task keeps (e.g. class weights)
        task.begin(config, ds, cfg, hw)
    if not resumed and not group.active:   # --amp auto on a CPU with native bf16: measured on this model
        from convnet.training.amp_probe import decide

        hw = decide(task, model, ds, config, cfg, hw, log)
        config["hardware"] = hw.describe()
    else:
        hw = _saved_precision(hw, config)
    steps_per_epoch = max(1, len(distributed.shard(task.batches(ds.train, config, cfg, hw, train=True, seed=0),
                                                   group)))
    if cfg.time and not resumed:       # every process trains process 0's count
        cfg.epochs = config["train"]["epochs"] = distributed.share(_epochs_for_budget(
            task, model, ds, config, cfg, hw, engine_name, steps_per_epoch, log), group)
    if group.active:
        config["distributed"] = {"processes": group.world}
    engine = make_engine(engine_name, task, model, cfg, hw, cfg.epochs * steps_per_epoch, head)
    engine.group = group
    start_epoch, history, seconds, keep = 0, [], 0.0, {"best": None, "bad_epochs": 0, "stopped_early": None}
    if resumed:
        state = run.load_checkpoint(model, repair=group.main)
        if state is not None:
            engine.load_state_dict(state)
            start_epoch, seconds, history = int(state["epoch"]), float(state["seconds"]), list(state["history"])
            keep = {k: state.get(k, v) for k, v in keep.items()}
        if keep["stopped_early"]:
            log(f"{run}: stopped early at epoch {keep['stopped_early']} (--patience); nothing to resume")
        elif start_epoch >= cfg.epochs:
            log(f"{run}: all {cfg.epochs} epochs already done")
        else:
            log(f"resuming {run} at epoch {start_epoch + 1}/{cfg.epochs}")
    if group.main:
        run.write_config(config)
    how = hw.describe() if engine_name == "torch" else "cpu, float32, the NumPy reference engine"
    if group.active:
        how += f"; {group.world} processes, {cfg.batch_size} examples a step in each"
    log(f"training {cfg.model} ({config['params']:,} parameters) on {ds.name}: "
        f"{task.summary_line(cfg, ds, config)}; {how}; run dir {run}")
    board = _board(run, cfg, start_epoch * steps_per_epoch) if group.main else None

    for epoch in range(start_epoch, cfg.epochs if not keep["stopped_early"] else start_epoch):
        torch.manual_seed(cfg.seed * 100_003 + epoch)     # dropout and friends
        batches = distributed.shard(task.batches(ds.train, config, cfg, hw, train=True,
                                                 seed=cfg.seed * 100_003 + epoch), group)
        plan = _planner(log, cfg.epochs - epoch, len(batches)) if epoch == start_epoch else None
        t0 = time.perf_counter()
        train_loss, train_metric, seen = run_epoch(engine, batches, f"epoch {epoch + 1}/{cfg.epochs}",
                                                   cfg.progress, plan, board, epoch * steps_per_epoch)
        if group.active:              # the figures of all processes, and process 0's BN statistics
            distributed.sync_buffers(engine.train_module(), group)
            sums = distributed.total([train_loss * seen, (train_metric or 0.0) * seen, seen], group)
            train_loss, seen = sums[0] / sums[2], int(sums[2])
            train_metric = sums[1] / sums[2] if train_metric is not None else None
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
        if eval_name == "val":
            _keep_best(run, module, record, keep, cfg, task.metric, write=group.main)
        last = epoch + 1 == cfg.epochs or keep["stopped_early"]
        # many short epochs (a GCN's 200 full-graph steps): a checkpoint and a line every
        # epochs/20, and the last; resume replays the epochs since, exactly
        every = max(1, cfg.epochs // 20)
        if (last or (epoch + 1) % every == 0) and group.main:
            run.save_checkpoint(epoch + 1, seconds, engine.train_module(), {**engine.state_dict(), **keep},
                                history, saved_model=module)
        if last or (epoch + 1) % every == 0 or epoch == start_epoch:
            log(epoch_line(record, cfg.epochs, eval_name, task.metric, task.item))
        if board is not None:
            board.epoch(record, epoch + 1)
        if on_epoch is not None:
            on_epoch(record)
        if keep["stopped_early"]:
            best = keep["best"]
            log(f"stopping early: no val {task.metric} gain above {cfg.min_delta:g} for {cfg.patience} epochs "
                f"(best {_shown(best['value'], task.metric).strip()} at epoch {best['epoch']})")
            break
    if board is not None:
        board.close()
    return _finish(task, cfg, run, config, ds, hw, engine, engine_name, keep, history, seconds,
                   evaluate_test and group.main, log)


def _finish(task, cfg, run, config, ds, hw, engine, engine_name, keep, history, seconds, evaluate_test,
            log) -> TrainResult:
    """The final evaluation of the test split, with the best validation epoch's weights where
    the run kept them (as eval/predict/serve use them), into results.json."""
    final, test = None, None
    if ds.test is not None and evaluate_test:
        module, best = engine.module(), keep["best"]
        which = "last"
        if best is not None and history and best["epoch"] != history[-1]["epoch"]:
            module = copy.deepcopy(module)
            run.load_weights(module, "best")
            which = "best"
        final = task.evaluate(module, ds.test, config, hw, final=True)
        test = final.to_dict(ds.classes)
        # a folder without test/ is measured on its validation split: say so, not "test"
        split = "val" if ds.test is ds.val else "test"
        run.write_results({"test": test, "split": split, "train_seconds": seconds, "epochs": cfg.epochs,
                           "epochs_trained": len(history), "weights": which,
                           "best_epoch": best["epoch"] if best else None, "task": task.name,
                           "engine": engine_name})
        chosen = f" (weights of the best val epoch, {best['epoch']})" if which == "best" else ""
        log(f"{task.result_line(final, split)}{chosen} after {seconds:.1f} s of training; saved {run}")
    return TrainResult(run_dir=run.path, test=test, history=history, seconds=seconds, final=final,
                       test_split=ds.test if evaluate_test else None, classes=list(ds.classes),
                       task=task.name)


def _saved_precision(hw, config: dict):
    """A resumed run keeps the precision it started with (amp auto measured it then)."""
    from convnet.training.hardware import Hardware

    if hw.device.type == "cpu" and "bf16" in str(config.get("hardware", "")):
        return Hardware(hw.device, torch.bfloat16, hw.channels_last)
    return hw


def _keep_best(run, module, record: dict, keep: dict, cfg, metric: str, write: bool = True) -> None:
    """best.safetensors follows the best validation epoch; --patience counts the epochs since.
    Written before the checkpoint: a kill between the two retrains the epoch, which writes
    the same file again."""
    value, loss, best = record[f"val_{metric}"], record["val_loss"], keep["best"]
    # a tie on the metric (100% of a small validation set, say) goes to the lower loss
    tie = best is not None and cfg.min_delta == 0 and value == best["value"] and loss < best.get("loss", loss)
    if best is None or value > best["value"] + cfg.min_delta or tie:
        keep["best"], keep["bad_epochs"] = {"epoch": record["epoch"], "value": value, "loss": loss}, 0
        if write:
            run.save_best(module, record["epoch"], value)
    else:
        keep["bad_epochs"] += 1
    if cfg.patience and keep["bad_epochs"] >= cfg.patience:
        keep["stopped_early"] = record["epoch"]


def _initialise(model, cfg, config: dict, log) -> set[str]:
    """--init RUN_DIR: every weight of the trained run that fits this model by name and shape;
    the rest (the head, when the classes differ) starts fresh. Returns the fresh names."""
    source = RunDir.open(cfg.init)
    theirs, own = source.build_model().state_dict(), model.state_dict()
    fits = {k: v for k, v in theirs.items() if k in own and own[k].shape == v.shape}
    if not fits:
        raise ConfigError(f"--init {cfg.init}: none of its weights fit {cfg.model} (it is a "
                          f"{source.model_config.get('name')} run)")
    model.load_state_dict(fits, strict=False)
    fresh = [k for k in own if k not in fits]
    config["init"] = {"from": str(source.path.resolve()), "model": source.model_config.get("name"),
                      "classes": source.classes, "loaded": len(fits), "new": fresh}
    log(f"starting from {cfg.init}: {len(fits)} of {len(own)} tensors loaded"
        + (f"; new: {', '.join(fresh[:4])}{' ...' if len(fresh) > 4 else ''}" if fresh else ""))
    return {k for k, _ in model.named_parameters() if k in fresh}


def _freeze(model, n: int) -> None:
    """The first n top-level blocks that hold parameters stop learning (--freeze N)."""
    blocks = [m for m in model.children() if any(True for _ in m.parameters())]
    if n > len(blocks) - 1 and n:
        raise ConfigError(f"--freeze {n}: the model has {len(blocks)} blocks with weights; "
                          f"freeze at most {len(blocks) - 1} (the head must learn)")
    for block in blocks[:n]:
        for p in block.parameters():
            p.requires_grad_(False)


def _epochs_for_budget(task, model, ds, config, cfg, hw, engine_name, steps_per_epoch, log) -> int:
    """--time SECONDS: time a few steps on a copy of the model (training itself is untouched),
    then as many whole epochs as fit in what is left of the budget (at least one)."""
    t_start = time.perf_counter()
    probe = make_engine(engine_name, task, copy.deepcopy(model), cfg, hw, 10**6)
    batches = iter(task.batches(ds.train, config, cfg, hw, train=True, seed=1))
    warm, timed = 2, min(20, max(2, steps_per_epoch - 2))
    for _ in range(warm):
        probe.step(next(batches))
    t0 = time.perf_counter()
    n = 0
    for batch in batches:
        probe.step(batch)[0].item()
        n += 1
        if n >= timed:
            break
    per_step = (time.perf_counter() - t0) / max(n, 1)
    left = cfg.time - (time.perf_counter() - t_start)
    epochs = max(1, int(left / (per_step * steps_per_epoch)))
    log(f"--time {cfg.time:g}: {per_step * 1000:.0f} ms a step ({n} steps timed) -> {epochs} epoch"
        f"{'s' if epochs > 1 else ''} of {steps_per_epoch} steps"
        + ("; one epoch is longer than the budget" if per_step * steps_per_epoch > left else ""))
    return epochs


def _planner(log, epochs_left: int, steps: int):
    """After the first steps of a run, one line: the time an epoch and the run should take."""
    at = min(max(3, steps // 10), 30, steps)
    t0 = time.perf_counter()

    def plan(step: int) -> None:
        if step == at and steps > at and (time.perf_counter() - t0) / at * steps * epochs_left >= 10:
            per = (time.perf_counter() - t0) / at
            log(f"about {per * steps:.0f} s an epoch, {per * steps * epochs_left:.0f} s for the "
                f"{epochs_left} epoch{'s' if epochs_left > 1 else ''} to go (evaluation not counted)")
    return plan


def _board(run, cfg, first_step: int):
    if cfg.log != "tensorboard":
        return None
    from convnet.training.tblog import Board

    return Board(run.path, first_step)


def run_epoch(engine, batches, desc: str, progress: bool, plan=None, board=None,
              first_step: int = 0) -> tuple[float, float | None, int]:
    """One pass over `batches`: (mean loss, mean of the task's correct counts or None, items).
    plan(step) hears each step number; board gets the loss and lr every 10 steps."""
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
        if plan is not None:
            plan(step + 1)
        if board is not None and step % 10 == 0:
            board.step(first_step + step, loss.item(), engine.lr)
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
