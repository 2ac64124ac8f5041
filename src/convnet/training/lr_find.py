"""The learning-rate range test (Smith 2015; fastai's lr_find): train for a few hundred steps
while the learning rate grows exponentially from `start` to `end`, record the loss, stop when
it diverges, and suggest the rate where the smoothed loss falls fastest.

Nothing is saved: the model is a fresh one built for the test and thrown away, the data set is
only read, and no run directory is made."""

from __future__ import annotations

import math

import torch

from convnet.errors import ConfigError
from convnet.training.engines import make_engine
from convnet.training.hardware import resolve


class _Fixed:
    """A schedule that leaves the rate alone: the range test sets it itself each step."""

    def step(self):
        pass

    def state_dict(self):
        return {}


def find_lr(cfg, start: float = 1e-6, end: float = 10.0, steps: int = 200, beta: float = 0.98,
            progress=None) -> dict:
    """{"lr": [...], "loss": [...], "smoothed": [...], "suggested": float, "steepest_index": int,
    "stopped": why}. The loss is smoothed by a bias-corrected exponential average (beta)."""
    from convnet.tasks import task_for

    if cfg.engine != "torch":
        raise ConfigError("lr-find runs on the torch engine (the reference engine sets its own rate)")
    if not 0 < start < end:
        raise ConfigError(f"the range must grow: --start {start:g} --end {end:g}")
    task = task_for(cfg.data, cfg.data_dir, cfg.task)
    hw = resolve("cpu", "off", False) if cfg.engine == "reference" else resolve(cfg.device, cfg.amp,
                                                                                 cfg.channels_last, cfg.threads)
    torch.manual_seed(cfg.seed)
    ds = task.load_data(cfg)
    config = task.describe_run(cfg, ds)
    model = task.build_model(config).to(hw.device)
    if hasattr(task, "begin"):
        task.begin(config, ds, cfg, hw)
    engine = make_engine(cfg.engine, task, model, cfg, hw, steps)
    if hasattr(engine, "sched"):
        engine.sched = _Fixed()
    factor = (end / start) ** (1 / max(steps - 1, 1))
    lrs, losses, smoothed, avg, best, stopped = [], [], [], 0.0, math.inf, "end of the range"
    epoch = 0
    while len(lrs) < steps and stopped == "end of the range":
        for batch in task.batches(ds.train, config, cfg, hw, train=True, seed=cfg.seed * 100_003 + epoch):
            lr = start * factor ** len(lrs)
            _set_lr(engine, lr)
            try:
                loss = float(engine.step(batch)[0])
            except ConfigError:                   # the loss became NaN or infinite
                stopped = f"the loss diverged at lr {lr:.2e}"
                break
            avg = beta * avg + (1 - beta) * loss
            value = avg / (1 - beta ** (len(lrs) + 1))
            lrs.append(lr)
            losses.append(loss)
            smoothed.append(value)
            best = min(best, value)
            if progress is not None:
                progress(len(lrs), steps)
            if value > 4 * best and len(lrs) > 10:
                stopped = f"the loss diverged at lr {lr:.2e}"
                break
            if len(lrs) >= steps:
                break
        epoch += 1
    if len(lrs) < 10:
        raise ConfigError(f"the range test stopped after {len(lrs)} steps ({stopped}); lower --start")
    i = steepest(smoothed)
    return {"lr": lrs, "loss": losses, "smoothed": smoothed, "suggested": lrs[i], "steepest_index": i,
            "min_loss_lr": lrs[min(range(len(smoothed)), key=smoothed.__getitem__)], "stopped": stopped}


def steepest(smoothed: list[float]) -> int:
    """The step where the smoothed loss falls fastest against log(lr) (before its minimum):
    the largest rate at which training is still improving quickly."""
    low = min(range(len(smoothed)), key=smoothed.__getitem__)
    slopes = [smoothed[i + 1] - smoothed[i] for i in range(max(low, 1))]
    return min(range(len(slopes)), key=slopes.__getitem__) if slopes else 0


def _set_lr(engine, lr: float) -> None:
    if hasattr(engine, "opt") and hasattr(engine.opt, "param_groups"):
        for g in engine.opt.param_groups:
            g["lr"] = lr
    else:                                           # the reference engine reads its own lr
        engine.opt.lr = lr
